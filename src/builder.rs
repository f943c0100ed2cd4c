//! Choosing how to compile: the builder named in the manifest, or for `auto` the first
//! that works on this host (cargo, then cross, then cargo-zigbuild).
//!
//! `builder = "auto"` is decided by the pure [`choose`] from [`HostFacts`], probed once and
//! only when needed: cargo when this host can link for the target (Linux x86_64 with the
//! target's standard library installed), else cross when it and a container engine are
//! present, else cargo-zigbuild, else an error saying what to install. Nothing here prints.

use camino::Utf8PathBuf;

use crate::error::Error;
use crate::exec::Step;
use crate::manifest::Builder;

/// What the host can do, as far as choosing a builder goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Linux on x86_64: linking for linux/amd64 targets with the host's cc works.
    pub linux_x86_64: bool,
    /// `rustup target add <target>` was done (its standard library is in the sysroot).
    pub target_installed: bool,
    pub cross: bool,
    /// A container engine that answers (cross needs one).
    pub container_engine: bool,
    pub zigbuild: bool,
}

/// The builder chosen, and why (for `auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub builder: Builder,
    pub reason: String,
}

/// Decides the builder. A builder named in the manifest is used as is (its own errors
/// say what is missing); only `auto` asks `probe` about the host, and follows the rule of
/// the module docs.
pub fn choose(
    wanted: Builder,
    target: &str,
    probe: impl FnOnce() -> HostFacts,
) -> Result<Choice, Error> {
    let choice = |builder, reason: &str| {
        Ok(Choice {
            builder,
            reason: reason.to_string(),
        })
    };
    let host = match wanted {
        Builder::Cargo => return choice(Builder::Cargo, "builder = \"cargo\" in the manifest"),
        Builder::Cross => return choice(Builder::Cross, "builder = \"cross\" in the manifest"),
        Builder::Zigbuild => {
            return choice(Builder::Zigbuild, "builder = \"zigbuild\" in the manifest");
        }
        Builder::Auto => probe(),
    };
    if host.linux_x86_64 && host.target_installed {
        choice(
            Builder::Cargo,
            &format!(
                "auto: this Linux x86_64 host links for {target} and has its standard library"
            ),
        )
    } else if host.cross && host.container_engine {
        choice(
            Builder::Cross,
            &format!(
                "auto: cargo cannot build {target} here; cross and a container engine are present"
            ),
        )
    } else if host.zigbuild {
        choice(
            Builder::Zigbuild,
            &format!(
                "auto: cargo cannot build {target} here and cross has no container engine; cargo-zigbuild is present"
            ),
        )
    } else {
        Err(Error::NoBuilder {
            target: target.to_string(),
        })
    }
}

/// Probes the host for [`choose`]. Each probe is a quick, read-only command.
pub fn probe_host(target: &str) -> HostFacts {
    let works = |program: &str, args: &[&str]| {
        Step::new("probe the host", program)
            .args(args.iter().copied())
            .output()
    };
    let target_installed = works("rustc", &["--print", "sysroot"])
        .map(|sysroot| {
            Utf8PathBuf::from(sysroot.trim())
                .join("lib/rustlib")
                .join(target)
                .join("lib")
                .is_dir()
        })
        .unwrap_or(false);
    HostFacts {
        linux_x86_64: cfg!(all(target_os = "linux", target_arch = "x86_64")),
        target_installed,
        cross: works("cross", &["--version"]).is_ok(),
        container_engine: works("docker", &["info", "--format", "{{.ServerVersion}}"]).is_ok(),
        zigbuild: works("cargo", &["zigbuild", "--help"]).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_cargo_then_cross_then_zigbuild() {
        let t = "x86_64-unknown-linux-musl";
        let all = HostFacts {
            linux_x86_64: true,
            target_installed: true,
            cross: true,
            container_engine: true,
            zigbuild: true,
        };
        assert_eq!(
            choose(Builder::Auto, t, || all.clone()).unwrap().builder,
            Builder::Cargo
        );
        let no_target = HostFacts {
            target_installed: false,
            ..all.clone()
        };
        assert_eq!(
            choose(Builder::Auto, t, || no_target.clone())
                .unwrap()
                .builder,
            Builder::Cross
        );
        let no_engine = HostFacts {
            container_engine: false,
            ..no_target.clone()
        };
        assert_eq!(
            choose(Builder::Auto, t, || no_engine.clone())
                .unwrap()
                .builder,
            Builder::Zigbuild
        );
        let nothing = HostFacts::default();
        let err = choose(Builder::Auto, t, || nothing.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rustup target add x86_64-unknown-linux-musl"),
            "{err}"
        );
        assert_eq!(
            choose(Builder::Cross, t, || nothing.clone())
                .unwrap()
                .builder,
            Builder::Cross
        );
    }
}
