//! Choosing how to compile: the builder named in the manifest, or for `auto` the first
//! that works on this host (cargo, then cross, then cargo-zigbuild).
//!
//! `builder = "auto"` is decided by [`choose`], which asks a [`Host`] one [`Fact`] at a
//! time, cheapest first and only as far as the decision needs (on a host that has the
//! target installed, cross is never asked): cargo when this host can link for the target
//! (Linux x86_64 with the target's standard library installed), else cross when it and a
//! container engine are present, else cargo-zigbuild, else an error saying what to
//! install. For a target of another architecture (aarch64), cargo-zigbuild comes before
//! cross: it needs no container image a target. A crate that compiles C code for a musl target needs a C compiler for musl:
//! cargo is chosen only with `musl-gcc`; without it, cross or cargo-zigbuild, or an error
//! naming what to install, before anything compiles. Nothing here prints.

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::exec::{Step, path_arg};
use crate::host::project::Trust;
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

/// One thing [`choose`] may ask of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fact {
    LinuxX86_64,
    TargetInstalled,
    CCompilerMissing,
    Cross,
    ContainerEngine,
    Zigbuild,
}

/// Answers [`Fact`]s: the real host probes on demand ([`ThisHost`]); tests answer from a
/// [`HostFacts`].
pub trait Host {
    fn has(&mut self, fact: Fact) -> bool;
}

impl Host for HostFacts {
    fn has(&mut self, fact: Fact) -> bool {
        match fact {
            Fact::LinuxX86_64 => self.linux_x86_64,
            Fact::TargetInstalled => self.target_installed,
            Fact::CCompilerMissing => self.c_compiler_missing,
            Fact::Cross => self.cross,
            Fact::ContainerEngine => self.container_engine,
            Fact::Zigbuild => self.zigbuild,
        }
    }
}

/// This host, probed with quick read-only commands, each at most once and only when asked.
/// For a real build they run from the manifest's directory, as the compile does, so that a
/// `rust-toolchain.toml` there picks the toolchain they ask about; for a dry run, from
/// outside the project, so that it chooses nothing that runs (see [`Trust`]).
pub struct ThisHost<'a> {
    pub target: &'a str,
    pub cargo_manifest: &'a Utf8Path,
    pub dir: &'a Utf8Path,
    pub trust: Trust,
    known: std::collections::BTreeMap<Fact, bool>,
}

impl<'a> ThisHost<'a> {
    pub fn new(
        target: &'a str,
        cargo_manifest: &'a Utf8Path,
        dir: &'a Utf8Path,
        trust: Trust,
    ) -> Self {
        ThisHost {
            target,
            cargo_manifest,
            dir,
            trust,
            known: Default::default(),
        }
    }

    fn probe(&self, fact: Fact) -> bool {
        let works = |program: &str, args: &[&str]| {
            Step::new("probe the host", program)
                .args(args.iter().copied())
                .cwd(self.trust.cwd(self.dir))
                .output()
        };
        match fact {
            // The host's cc links for x86_64 targets only.
            Fact::LinuxX86_64 => {
                cfg!(all(target_os = "linux", target_arch = "x86_64"))
                    && self.target.starts_with("x86_64-")
            }
            Fact::TargetInstalled => {
                // `rustup which rustc` names the same toolchain as `rustc --print sysroot`
                // in a fraction of the time: it does not start rustc. <sysroot>/bin/rustc.
                let sysroot = if rustc_is_rustup() {
                    works("rustup", &["which", "rustc"]).map(|rustc| {
                        let rustc = Utf8PathBuf::from(rustc.trim());
                        rustc
                            .parent()
                            .and_then(Utf8Path::parent)
                            .map(Utf8Path::to_owned)
                    })
                } else {
                    works("rustc", &["--print", "sysroot"])
                        .map(|sysroot| Some(Utf8PathBuf::from(sysroot.trim())))
                };
                sysroot.ok().flatten().is_some_and(|sysroot| {
                    let lib = sysroot.join("lib/rustlib").join(self.target).join("lib");
                    lib.is_dir()
                })
            }
            Fact::CCompilerMissing => c_compiler_missing(
                self.target,
                &self.trust.path(self.cargo_manifest, self.dir),
                &self.trust.cwd(self.dir),
            ),
            Fact::Cross => works("cross", &["--version"]).is_ok(),
            Fact::ContainerEngine => {
                works("docker", &["info", "--format", "{{.ServerVersion}}"]).is_ok()
            }
            Fact::Zigbuild => works("cargo", &["zigbuild", "--help"]).is_ok(),
        }
    }
}

impl Host for ThisHost<'_> {
    fn has(&mut self, fact: Fact) -> bool {
        if let Some(known) = self.known.get(&fact) {
            return *known;
        }
        let answer = self.probe(fact);
        self.known.insert(fact, answer);
        answer
    }
}

/// The builder chosen, and why (for `auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub builder: Builder,
    pub reason: String,
}

/// Decides the builder. A builder named in the manifest is used as is (its own errors
/// say what is missing); only `auto` asks `host`, in the order of the module docs.
pub fn choose(wanted: Builder, target: &str, host: &mut dyn Host) -> Result<Choice, Error> {
    let choice = |builder, reason: &str| {
        Ok(Choice {
            builder,
            reason: reason.to_string(),
        })
    };
    match wanted {
        Builder::Cargo => return choice(Builder::Cargo, "builder = \"cargo\" in the manifest"),
        Builder::Cross => return choice(Builder::Cross, "builder = \"cross\" in the manifest"),
        Builder::Zigbuild => {
            return choice(Builder::Zigbuild, "builder = \"zigbuild\" in the manifest");
        }
        Builder::Auto => {}
    }
    let mut has = |fact| host.has(fact);
    if has(Fact::LinuxX86_64) && has(Fact::TargetInstalled) && !has(Fact::CCompilerMissing) {
        choice(
            Builder::Cargo,
            &format!(
                "auto: this Linux x86_64 host links for {target} and has its standard library"
            ),
        )
    } else if !target.starts_with("x86_64-") && has(Fact::Zigbuild) {
        choice(
            Builder::Zigbuild,
            &format!(
                "auto: {target} is another architecture; cargo-zigbuild links for it and needs no container image"
            ),
        )
    } else if has(Fact::Cross) && has(Fact::ContainerEngine) {
        choice(
            Builder::Cross,
            &format!(
                "auto: cargo cannot build {target} here; cross and a container engine are present"
            ),
        )
    } else if has(Fact::Zigbuild) {
        choice(
            Builder::Zigbuild,
            &format!(
                "auto: cargo cannot build {target} here and cross has no container engine; cargo-zigbuild is present"
            ),
        )
    } else if has(Fact::CCompilerMissing) {
        Err(Error::NoCCompiler {
            target: target.to_string(),
        })
    } else {
        Err(Error::NoBuilder {
            target: target.to_string(),
        })
    }
}

/// Whether this host lacks a C compiler for `target`, as far as cargo's default can
/// find one, and the crate needs one: for musl, `musl-gcc` is missing and the dependency
/// graph for the target (`cargo metadata --filter-platform`) has `cc` or `cmake`.
fn c_compiler_missing(target: &str, cargo_manifest: &Utf8Path, dir: &Utf8Path) -> bool {
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
        .cwd(dir)
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

/// Whether the `rustc` cargo runs is rustup's proxy (the first `rustc` on PATH is the
/// `rustup` binary under another name, and `RUSTC` names none), so that `rustup which
/// rustc` answers for it.
fn rustc_is_rustup() -> bool {
    if std::env::var_os("RUSTC").is_some() {
        return false;
    }
    let first = |name: &str| std::fs::canonicalize(crate::host::exec::find_program(name)?).ok();
    match (first("rustc"), first("rustup")) {
        (Some(rustc), Some(rustup)) => rustc == rustup,
        _ => false,
    }
}

/// Whether cc-rs finds a C compiler that builds for `target` here: the host's for gnu
/// targets, `musl-gcc` (Debian's musl-tools) on PATH for musl ones.
pub fn has_c_compiler(target: &str) -> bool {
    if !target.ends_with("-musl") {
        return true;
    }
    crate::host::exec::find_program("musl-gcc").is_some()
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
            choose(Builder::Auto, t, &mut all.clone()).unwrap().builder,
            Builder::Cargo
        );
        let no_target = HostFacts {
            target_installed: false,
            ..all.clone()
        };
        assert_eq!(
            choose(Builder::Auto, t, &mut no_target.clone())
                .unwrap()
                .builder,
            Builder::Cross
        );
        let no_engine = HostFacts {
            container_engine: false,
            ..no_target.clone()
        };
        assert_eq!(
            choose(Builder::Auto, t, &mut no_engine.clone())
                .unwrap()
                .builder,
            Builder::Zigbuild
        );
        let nothing = HostFacts::default();
        let err = choose(Builder::Auto, t, &mut nothing.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rustup target add x86_64-unknown-linux-musl"),
            "{err}"
        );
        assert_eq!(
            choose(Builder::Cross, t, &mut nothing.clone())
                .unwrap()
                .builder,
            Builder::Cross
        );
    }

    /// Answers every fact yes, and writes down what was asked.
    struct Asked(Vec<Fact>);

    impl Host for Asked {
        fn has(&mut self, fact: Fact) -> bool {
            self.0.push(fact);
            fact != Fact::CCompilerMissing
        }
    }

    #[test]
    fn auto_prefers_zigbuild_to_cross_for_another_architecture() {
        let t = "aarch64-unknown-linux-musl";
        let host = HostFacts {
            linux_x86_64: false,
            target_installed: true,
            cross: true,
            container_engine: true,
            zigbuild: true,
            c_compiler_missing: false,
        };
        let choice = choose(Builder::Auto, t, &mut host.clone()).unwrap();
        assert_eq!(choice.builder, Builder::Zigbuild, "{}", choice.reason);
        let no_zig = HostFacts {
            zigbuild: false,
            ..host
        };
        let choice = choose(Builder::Auto, t, &mut no_zig.clone()).unwrap();
        assert_eq!(choice.builder, Builder::Cross);
    }

    #[test]
    fn auto_asks_only_what_the_decision_needs() {
        let mut host = Asked(Vec::new());
        let choice = choose(Builder::Auto, "x86_64-unknown-linux-gnu", &mut host).unwrap();
        assert_eq!(choice.builder, Builder::Cargo);
        assert_eq!(
            host.0,
            [
                Fact::LinuxX86_64,
                Fact::TargetInstalled,
                Fact::CCompilerMissing
            ]
        );
        let mut host = Asked(Vec::new());
        choose(Builder::Cargo, "x86_64-unknown-linux-gnu", &mut host).unwrap();
        assert_eq!(host.0, []);
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
            choose(Builder::Auto, t, &mut needs_c.clone())
                .unwrap()
                .builder,
            Builder::Zigbuild
        );
        let nothing = HostFacts {
            zigbuild: false,
            ..needs_c.clone()
        };
        let err = choose(Builder::Auto, t, &mut nothing.clone())
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
