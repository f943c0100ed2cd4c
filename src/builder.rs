//! Choosing how to compile: the builder named in the manifest, or for `auto` the first
//! that works on this host (cargo, then cross, then cargo-zigbuild).
//!
//! `builder = "auto"` is decided by the pure [`choose`] from [`HostFacts`], probed once and
//! only when needed: cargo when this host can link for the target (Linux x86_64 with the
//! target's standard library installed), else cross when it and a container engine are
//! present, else cargo-zigbuild, else an error saying what to install. A crate that
//! compiles C code for a musl target needs a C compiler for musl: cargo is chosen only with
//! `musl-gcc`; without it, cross or cargo-zigbuild, or an error naming what to install,
//! before anything compiles. Nothing here prints.

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::exec::{Step, path_arg};
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
    /// The crate compiles C code for the target (`cc` or `cmake` among its dependencies)
    /// and this host has no C compiler for it (for musl: no `musl-gcc`). Only looked into
    /// when it matters: a musl target without `musl-gcc`.
    pub c_compiler_missing: bool,
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
    if host.linux_x86_64 && host.target_installed && !host.c_compiler_missing {
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
    } else if host.c_compiler_missing {
        Err(Error::NoCCompiler {
            target: target.to_string(),
        })
    } else {
        Err(Error::NoBuilder {
            target: target.to_string(),
        })
    }
}

/// Probes the host for [`choose`]. Each probe is a quick, read-only command.
pub fn probe_host(target: &str, cargo_manifest: &Utf8Path) -> HostFacts {
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
        c_compiler_missing: c_compiler_missing(target, cargo_manifest),
    }
}

/// Whether this host lacks a C compiler for `target`, as far as cargo's default can
/// find one, and the crate needs one: for musl, `musl-gcc` is missing and the dependency
/// graph for the target (`cargo metadata --filter-platform`) has `cc` or `cmake`.
fn c_compiler_missing(target: &str, cargo_manifest: &Utf8Path) -> bool {
    if has_c_compiler(target) {
        return false;
    }
    let metadata = Step::new("probe the host", "cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            target,
        ])
        .arg("--manifest-path")
        .arg(path_arg(cargo_manifest))
        .output();
    let Ok(json) = metadata else {
        return false; // the compile will say what is wrong
    };
    let meta: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let packages = meta["packages"].as_array().into_iter().flatten();
    packages
        .filter_map(|p| p["name"].as_str())
        .any(|name| name == "cc" || name == "cmake")
}

/// Whether cc-rs finds a C compiler that builds for `target` here: the host's for gnu
/// targets, `musl-gcc` (Debian's musl-tools) on PATH for musl ones.
pub fn has_c_compiler(target: &str) -> bool {
    if !target.ends_with("-musl") {
        return true;
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("musl-gcc").is_file()))
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
            c_compiler_missing: false,
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

    #[test]
    fn c_code_for_musl_without_musl_gcc_goes_to_cross_or_zigbuild_or_says_what_to_install() {
        let t = "x86_64-unknown-linux-musl";
        let needs_c = HostFacts {
            linux_x86_64: true,
            target_installed: true,
            c_compiler_missing: true,
            zigbuild: true,
            ..HostFacts::default()
        };
        assert_eq!(
            choose(Builder::Auto, t, || needs_c.clone())
                .unwrap()
                .builder,
            Builder::Zigbuild
        );
        let nothing = HostFacts {
            zigbuild: false,
            ..needs_c.clone()
        };
        let err = choose(Builder::Auto, t, || nothing.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the app compiles C code for x86_64-unknown-linux-musl"),
            "{err}"
        );
        assert!(err.contains("install musl-tools"), "{err}");
        assert!(err.contains("builder = \"zigbuild\""), "{err}");
    }
}
