//! Choosing how to compile: the builder named in the manifest, or for `auto` the first
//! that works on this host (cargo, then cross, then cargo-zigbuild).
//!
//! `builder = "auto"` is decided by [`choose`], which asks a [`Host`] one [`Fact`] at a
//! time, cheapest first and only as far as the decision needs (on a host that has the
//! target installed, cross is never asked), in this order:
//!
//! 1. cargo, when the host's cc links for the target (Linux of the target's
//!    architecture) and the target's standard library is installed;
//! 2. cargo linking with rust-lld, for a musl target of another architecture whose
//!    standard library is installed: rust-lld ships with Rust and the musl target's
//!    standard library carries its own C library and start-up files, so the link needs
//!    nothing of the host's (`--config target.<triple>.linker="rust-lld"`, see
//!    [`Choice::rust_lld`]). It is the quickest way to an aarch64 binary here: about a
//!    third of cargo-zigbuild's time for a code change;
//! 3. cargo-zigbuild, for a target of another architecture: it needs no container image
//!    a target;
//! 4. cross, when it and a container engine are present;
//! 5. cargo-zigbuild;
//! 6. else an error saying what to install.
//!
//! A crate that compiles C code for a musl target needs a C compiler for that target:
//! cargo (1 and 2) is chosen only when cc-rs would find one (`musl-gcc` for the host's
//! architecture, `<arch>-linux-musl-gcc` for another); without it, cargo-zigbuild (whose
//! `zig cc` compiles C for every target) or cross, or an error naming what to install,
//! before anything compiles. A builder named in the manifest or on the command line is
//! used as is: `builder = "cargo"` runs plain cargo, with the project's own linker
//! settings. Nothing here prints.

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::exec::{Step, path_arg};
use crate::host::project::Trust;
use crate::manifest::Builder;

/// What the host can do, as far as choosing a builder goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Linux on the target's architecture: the host's cc links for it.
    pub native_linker: bool,
    /// `rustup target add <target>` was done (its standard library is in the sysroot).
    pub target_installed: bool,
    pub cross: bool,
    /// A container engine that answers (cross needs one).
    pub container_engine: bool,
    pub zigbuild: bool,
    /// The toolchain has rust-lld (`<sysroot>/lib/rustlib/<host>/bin/rust-lld`).
    pub rust_lld: bool,
    /// The crate compiles C code for the target (`cc` or `cmake` among its dependencies)
    /// and this host has no C compiler for it (see [`has_c_compiler`]). Only looked into
    /// when it matters: a musl target without its C compiler.
    pub c_compiler_missing: bool,
}

/// One thing [`choose`] may ask of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fact {
    NativeLinker,
    TargetInstalled,
    RustLld,
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
            Fact::NativeLinker => self.native_linker,
            Fact::TargetInstalled => self.target_installed,
            Fact::RustLld => self.rust_lld,
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
    sysroot: std::cell::OnceCell<Option<Utf8PathBuf>>,
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
            sysroot: Default::default(),
        }
    }

    /// Runs a read-only probe command where the compile would run; its output.
    fn works(&self, program: &str, args: &[&str]) -> Result<String, Error> {
        Step::new("probe the host", program)
            .args(args.iter().copied())
            .cwd(self.trust.cwd(self.dir))
            .output()
    }

    /// The sysroot of the rustc cargo runs here, asked once.
    fn sysroot(&self) -> Option<&Utf8Path> {
        let found = self.sysroot.get_or_init(|| {
            // `rustup which rustc` names the same toolchain as `rustc --print sysroot` in a
            // fraction of the time: it does not start rustc. <sysroot>/bin/rustc.
            if rustc_is_rustup() {
                let rustc = self.works("rustup", &["which", "rustc"]).ok()?;
                let rustc = Utf8PathBuf::from(rustc.trim());
                Some(rustc.parent()?.parent()?.to_owned())
            } else {
                let sysroot = self.works("rustc", &["--print", "sysroot"]).ok()?;
                Some(Utf8PathBuf::from(sysroot.trim()))
            }
        });
        found.as_deref()
    }

    fn probe(&self, fact: Fact) -> bool {
        match fact {
            // The host's cc links for its own architecture only.
            Fact::NativeLinker => cfg!(target_os = "linux") && same_arch_as_host(self.target),
            Fact::TargetInstalled => self.sysroot().is_some_and(|sysroot| {
                let lib = sysroot.join("lib/rustlib").join(self.target).join("lib");
                lib.is_dir()
            }),
            // In the tools of the host's triple: lib/rustlib/<host>/bin/rust-lld.
            Fact::RustLld => self.sysroot().is_some_and(|sysroot| {
                let tools = std::fs::read_dir(sysroot.join("lib/rustlib"));
                tools
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|triple| triple.path().join("bin/rust-lld").is_file())
            }),
            Fact::CCompilerMissing => c_compiler_missing(
                self.target,
                &self.trust.path(self.cargo_manifest, self.dir),
                &self.trust.cwd(self.dir),
            ),
            Fact::Cross => self.works("cross", &["--version"]).is_ok(),
            Fact::ContainerEngine => self
                .works("docker", &["info", "--format", "{{.ServerVersion}}"])
                .is_ok(),
            Fact::Zigbuild => self.works("cargo", &["zigbuild", "--help"]).is_ok(),
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
    /// cargo links with rust-lld (`--config target.<triple>.linker="rust-lld"`): chosen by
    /// `auto` for a musl target of another architecture, which the host's cc cannot link.
    pub rust_lld: bool,
}

impl Choice {
    fn of(builder: Builder, reason: String) -> Choice {
        Choice {
            builder,
            reason,
            rust_lld: false,
        }
    }
}

/// Decides the builder. A builder named in the manifest is used as is (its own errors
/// say what is missing); only `auto` asks `host`, in the order of the module docs.
pub fn choose(wanted: Builder, target: &str, host: &mut dyn Host) -> Result<Choice, Error> {
    let named = |builder: Builder| {
        let reason = format!("builder = \"{}\" in the manifest", builder.name());
        Ok(Choice::of(builder, reason))
    };
    match wanted {
        Builder::Auto => auto(target, host),
        named_one => named(named_one),
    }
}

/// `auto`: the first builder that works here, in the order of the module docs.
fn auto(target: &str, host: &mut dyn Host) -> Result<Choice, Error> {
    let mut has = |fact| host.has(fact);
    let other_arch = !same_arch_as_host(target);
    let pick = |builder, why: &str| Ok(Choice::of(builder, format!("auto: {why}")));
    if has(Fact::NativeLinker) && has(Fact::TargetInstalled) && !has(Fact::CCompilerMissing) {
        let arch = std::env::consts::ARCH;
        let why = format!("this Linux {arch} host links for {target} and has its standard library");
        return pick(Builder::Cargo, &why);
    }
    if other_arch
        && target.ends_with("-musl")
        && has(Fact::TargetInstalled)
        && has(Fact::RustLld)
        && !has(Fact::CCompilerMissing)
    {
        let why = format!(
            "{target} is another architecture; cargo links it with rust-lld and the target's own musl"
        );
        return pick(Builder::Cargo, &why).map(|choice| Choice {
            rust_lld: true,
            ..choice
        });
    }
    if other_arch && has(Fact::Zigbuild) {
        let why = format!(
            "{target} is another architecture; cargo-zigbuild links for it and needs no container image"
        );
        return pick(Builder::Zigbuild, &why);
    }
    if has(Fact::Cross) && has(Fact::ContainerEngine) {
        let why =
            format!("cargo cannot build {target} here; cross and a container engine are present");
        return pick(Builder::Cross, &why);
    }
    if has(Fact::Zigbuild) {
        let why = format!(
            "cargo cannot build {target} here and cross has no container engine; cargo-zigbuild is present"
        );
        return pick(Builder::Zigbuild, &why);
    }
    let target = target.to_string();
    if has(Fact::CCompilerMissing) {
        let compiler = musl_c_compiler(&target);
        return Err(Error::NoCCompiler { target, compiler });
    }
    Err(Error::NoBuilder { target })
}

/// Whether `target`'s architecture (its triple's first part) is this host's.
pub fn same_arch_as_host(target: &str) -> bool {
    target.split('-').next() == Some(std::env::consts::ARCH)
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
/// targets; for musl ones on PATH, `musl-gcc` (Debian's musl-tools) for the host's
/// architecture, `<arch>-linux-musl-gcc` for another.
pub fn has_c_compiler(target: &str) -> bool {
    if !target.ends_with("-musl") {
        return true;
    }
    crate::host::exec::find_program(&musl_c_compiler(target)).is_some()
}

/// The C compiler cc-rs looks for to build C code for the musl `target`.
pub fn musl_c_compiler(target: &str) -> String {
    if same_arch_as_host(target) {
        "musl-gcc".to_string()
    } else {
        let arch = target.split('-').next().unwrap_or_default();
        format!("{arch}-linux-musl-gcc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_cargo_then_cross_then_zigbuild() {
        let t = "x86_64-unknown-linux-musl";
        let all = HostFacts {
            native_linker: true,
            target_installed: true,
            cross: true,
            container_engine: true,
            zigbuild: true,
            rust_lld: true,
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
    fn another_architecture_s_musl_goes_to_cargo_with_rust_lld_then_zigbuild_then_cross() {
        let t = "aarch64-unknown-linux-musl";
        let host = HostFacts {
            native_linker: false,
            target_installed: true,
            rust_lld: true,
            cross: true,
            container_engine: true,
            zigbuild: true,
            c_compiler_missing: false,
        };
        let choice = choose(Builder::Auto, t, &mut host.clone()).unwrap();
        assert_eq!(choice.builder, Builder::Cargo, "{}", choice.reason);
        assert!(choice.rust_lld, "{}", choice.reason);
        assert!(choice.reason.contains("rust-lld"), "{}", choice.reason);
        // C code without an aarch64 musl C compiler, no rust-lld, or no aarch64 std:
        // cargo-zigbuild, whose zig cc compiles C for the target.
        for without in [
            HostFacts {
                c_compiler_missing: true,
                ..host.clone()
            },
            HostFacts {
                rust_lld: false,
                ..host.clone()
            },
            HostFacts {
                target_installed: false,
                ..host.clone()
            },
        ] {
            let choice = choose(Builder::Auto, t, &mut without.clone()).unwrap();
            assert_eq!(choice.builder, Builder::Zigbuild, "{without:?}");
            assert!(!choice.rust_lld);
        }
        let no_zig = HostFacts {
            zigbuild: false,
            target_installed: false,
            ..host.clone()
        };
        let choice = choose(Builder::Auto, t, &mut no_zig.clone()).unwrap();
        assert_eq!(choice.builder, Builder::Cross);
        // A gnu target of another architecture needs the target's glibc: not rust-lld.
        let gnu = choose(
            Builder::Auto,
            "aarch64-unknown-linux-gnu",
            &mut host.clone(),
        );
        assert_eq!(gnu.unwrap().builder, Builder::Zigbuild);
        // A builder the manifest names runs as it is.
        let named = choose(Builder::Cargo, t, &mut host.clone()).unwrap();
        assert!(!named.rust_lld);
    }

    #[test]
    fn the_c_compiler_for_musl_is_the_one_cc_rs_looks_for() {
        assert_eq!(musl_c_compiler("x86_64-unknown-linux-musl"), "musl-gcc");
        assert_eq!(
            musl_c_compiler("aarch64-unknown-linux-musl"),
            "aarch64-linux-musl-gcc"
        );
    }

    #[test]
    fn auto_asks_only_what_the_decision_needs() {
        let mut host = Asked(Vec::new());
        let choice = choose(Builder::Auto, "x86_64-unknown-linux-gnu", &mut host).unwrap();
        assert_eq!(choice.builder, Builder::Cargo);
        assert_eq!(
            host.0,
            [
                Fact::NativeLinker,
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
            native_linker: true,
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
