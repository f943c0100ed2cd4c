//! Compiling the app: which builder to use, the [`Step`] that runs it, where cargo puts the
//! binary, and the check that a binary is an ELF executable for the target.
//!
//! `builder = "auto"` is decided by the pure [`choose`] from [`HostFacts`] probed once:
//! cargo when this host can link for the target (Linux x86_64 with the target's standard
//! library installed), else cross when it and a container engine are present, else
//! cargo-zigbuild, else an error saying what to install. The binary's path comes from
//! `cargo metadata` (its `target_directory`) and cargo's layout, never from a guess about
//! where the user's shell was. Nothing here prints.

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::exec::{Step, path_arg};
use crate::manifest::Builder;
use crate::plan::AppPlan;

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
        Err(Error::Build(format!(
            "no way to compile for {target} on this host: on Linux x86_64 run `rustup target add {target}`; \
             elsewhere install cross (`cargo install cross`) and Docker, or cargo-zigbuild (`cargo install cargo-zigbuild` and `pip install ziglang`); \
             or set `prebuilt` in [app]"
        )))
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

/// `cargo metadata` for the app's Cargo.toml: where cargo puts its output.
pub fn metadata_step(app: &AppPlan) -> Step {
    Step::new("read the cargo metadata of the app", "cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(path_arg(&app.cargo_manifest))
}

/// The compile step for the chosen builder: `cargo build`, `cross build` or
/// `cargo zigbuild`, with the manifest's package, features and profile, run from the
/// manifest's directory (so that its `.cargo/config.toml` applies).
pub fn build_step(app: &AppPlan, builder: Builder, manifest_dir: &Utf8Path) -> Step {
    let (summary, program, first): (&str, &str, &[&str]) = match builder {
        Builder::Cross => ("compile the app with cross", "cross", &["build"]),
        Builder::Zigbuild => (
            "compile the app with cargo-zigbuild",
            "cargo",
            &["zigbuild"],
        ),
        Builder::Cargo | Builder::Auto => ("compile the app with cargo", "cargo", &["build"]),
    };
    let cargo_manifest = app
        .cargo_manifest
        .strip_prefix(manifest_dir)
        .unwrap_or(&app.cargo_manifest);
    let mut step = Step::new(summary, program)
        .args(first.iter().copied())
        .args(["--manifest-path".to_string(), path_arg(cargo_manifest)])
        .args([
            "--target",
            &app.target,
            "--profile",
            &app.profile,
            "--bin",
            &app.binary,
        ])
        .cwd(manifest_dir);
    if let Some(package) = &app.package {
        step = step.args(["--package", package]);
    }
    if !app.features.is_empty() {
        step = step.args(["--features".to_string(), app.features.join(",")]);
    }
    step
}

/// The directory cargo's `--profile` writes into.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    }
}

/// Where the binary lands, from `cargo metadata`'s output: `<target_directory>/<triple>/
/// <profile dir>/<binary>`. Also checks that the package has that binary target.
pub fn artifact_path(metadata_json: &str, app: &AppPlan) -> Result<Utf8PathBuf, Error> {
    let meta: serde_json::Value = serde_json::from_str(metadata_json)
        .map_err(|e| Error::Build(format!("cannot read cargo metadata output: {e}")))?;
    let target_dir = meta["target_directory"]
        .as_str()
        .ok_or_else(|| Error::Build("cargo metadata gave no target_directory".into()))?;
    let bins: Vec<&str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| app.package.as_deref().is_none_or(|want| p["name"] == want))
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str())
        .collect();
    if !bins.contains(&app.binary.as_str()) {
        return Err(Error::Build(format!(
            "{} has no binary target `{}` (app.binary); its binaries: {}",
            app.cargo_manifest,
            app.binary,
            if bins.is_empty() {
                "none".to_string()
            } else {
                bins.join(", ")
            }
        )));
    }
    Ok(Utf8PathBuf::from(target_dir)
        .join(&app.target)
        .join(profile_dir(&app.profile))
        .join(&app.binary))
}

/// The ELF machine number for a target's architecture.
fn elf_machine(target: &str) -> Option<(u16, &'static str)> {
    match target.split('-').next()? {
        "x86_64" => Some((0x3e, "x86-64")),
        "aarch64" => Some((0xb7, "AArch64")),
        _ => None,
    }
}

/// Refuses a file that is not a 64-bit little-endian ELF executable for the target's
/// architecture: a macOS binary, a script, a binary for another CPU, an object file, or a
/// shared library (which would pass for a program and crash-loop in the container).
/// `bytes` are the file's contents; `path` names it in the message.
pub fn check_binary(path: &Utf8Path, bytes: &[u8], target: &str) -> Result<(), Error> {
    let refuse = |what: String| {
        Err(Error::Build(format!(
            "{path} is {what}, not an ELF executable for {target}: refusing to put it in a linux image"
        )))
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        let kind = match bytes.get(..4).unwrap_or(bytes) {
            [0xcf, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe] => "a Mach-O (macOS) binary",
            [b'M', b'Z', ..] => "a Windows (PE) binary",
            [b'#', b'!', ..] => "a script",
            [0x7f, b'E', b'L', b'F'] => "a truncated ELF file",
            _ => "not an ELF file",
        };
        return refuse(kind.to_string());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return refuse("a 32-bit or big-endian ELF file".into());
    }
    if let Err(what) = elf_executable(bytes) {
        return refuse(what);
    }
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    match elf_machine(target) {
        Some((want, _)) if machine == want => Ok(()),
        Some((_, name)) => refuse(format!(
            "an ELF executable for machine {machine:#x}, not {name}"
        )),
        None => refuse("for an architecture buildkit-lite does not know".into()),
    }
}

/// Whether a 64-bit little-endian ELF file is a program: `ET_EXEC`, or `ET_DYN` with an
/// interpreter (a dynamically linked PIE) or with the PIE flag (a static PIE, as Rust
/// builds for musl). A shared library is `ET_DYN` with neither. Reads only inside `bytes`.
fn elf_executable(bytes: &[u8]) -> Result<(), String> {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_FLAGS_1: u64 = 0x6fff_fffb;
    const DF_1_PIE: u64 = 0x0800_0000;
    let u16_at = |at: usize| field(bytes, at).map(u16::from_le_bytes);
    let u32_at = |at: usize| field(bytes, at).map(u32::from_le_bytes);
    let u64_at = |at: usize| field(bytes, at).map(u64::from_le_bytes);
    match u16_at(16) {
        Some(2) => return Ok(()),
        Some(3) => {}
        Some(1) => return Err("an ELF object file (type REL), not a linked program".into()),
        Some(4) => return Err("an ELF core dump".into()),
        other => return Err(format!("an ELF file of type {}", other.unwrap_or(0))),
    }
    let truncated = || "a truncated ELF file".to_string();
    let phoff = u64_at(32).ok_or_else(truncated)? as usize;
    let phentsize = u16_at(54).ok_or_else(truncated)? as usize;
    let phnum = u16_at(56).ok_or_else(truncated)? as usize;
    let mut dynamic = None;
    for i in 0..phnum {
        let at = phoff.saturating_add(i.saturating_mul(phentsize));
        match u32_at(at).ok_or_else(truncated)? {
            PT_INTERP => return Ok(()),
            PT_DYNAMIC => {
                let offset = u64_at(at.saturating_add(8)).ok_or_else(truncated)? as usize;
                let size = u64_at(at.saturating_add(32)).ok_or_else(truncated)? as usize;
                dynamic = Some((offset, size));
            }
            _ => {}
        }
    }
    let (offset, size) = dynamic.unwrap_or((0, 0));
    for entry in (0..size / 16).map(|i| offset.saturating_add(i * 16)) {
        match (u64_at(entry), u64_at(entry.saturating_add(8))) {
            (Some(0), _) | (None, _) => break,
            (Some(DT_FLAGS_1), Some(flags)) if flags & DF_1_PIE != 0 => return Ok(()),
            _ => {}
        }
    }
    Err("a shared library (ELF type DYN with neither an interpreter nor the PIE flag)".into())
}

/// The `N` bytes at `at`, if the file has them.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppPlan {
        AppPlan {
            name: "demo".into(),
            binary: "demo".into(),
            target: "x86_64-unknown-linux-musl".into(),
            package: Some("demo-pkg".into()),
            features: vec!["tls".into(), "metrics".into()],
            profile: "release".into(),
            cargo_manifest: "examples/demo/Cargo.toml".into(),
            builder: Builder::Auto,
            prebuilt: None,
            install_path: "/bin/demo".into(),
            context_path: "root/bin/demo".into(),
        }
    }

    #[test]
    fn cargo_step_carries_target_profile_package_and_features() {
        let dir = Utf8Path::new("examples/demo");
        let step = build_step(&app(), Builder::Cargo, dir);
        assert_eq!(
            step.to_string(),
            "cd examples/demo && cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl \
             --profile release --bin demo --package demo-pkg --features tls,metrics"
        );
        assert_eq!(build_step(&app(), Builder::Cross, dir).program, "cross");
        assert_eq!(
            build_step(&app(), Builder::Zigbuild, dir).args[0],
            "zigbuild"
        );
    }

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

    #[test]
    fn the_artifact_path_comes_from_metadata() {
        let meta = r#"{"target_directory": "/w/target", "packages": [{"name": "demo-pkg",
            "targets": [{"name": "demo", "kind": ["bin"]}, {"name": "demo", "kind": ["lib"]}]}]}"#;
        assert_eq!(
            artifact_path(meta, &app()).unwrap(),
            "/w/target/x86_64-unknown-linux-musl/release/demo"
        );
        let mut other = app();
        other.binary = "nope".into();
        assert!(
            artifact_path(meta, &other)
                .unwrap_err()
                .to_string()
                .contains("its binaries: demo")
        );
        other.binary = "demo".into();
        other.profile = "dev".into();
        assert!(
            artifact_path(meta, &other)
                .unwrap()
                .as_str()
                .ends_with("/debug/demo")
        );
    }

    /// A minimal 64-bit ELF header of `e_type`, with program headers `phdrs` (type,
    /// offset, size) and the file padded with `tail`.
    fn elf(e_type: u16, phdrs: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&0x3eu16.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (p_type, offset, size) in phdrs {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[32..40].copy_from_slice(&size.to_le_bytes());
            b.extend(ph);
        }
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn binaries_of_the_wrong_kind_are_refused() {
        let check = |bytes: &[u8]| {
            check_binary(Utf8Path::new("f"), bytes, "x86_64-unknown-linux-gnu")
                .map_err(|e| e.to_string())
        };
        assert!(check(&elf(2, &[], &[])).is_ok(), "ET_EXEC");
        assert!(
            check(&elf(3, &[(3, 0, 0)], &[])).is_ok(),
            "PIE with PT_INTERP"
        );
        // A static PIE: PT_DYNAMIC holding DT_FLAGS_1 with DF_1_PIE.
        let dynamic_at = 64 + 56;
        let mut dynamic = Vec::new();
        dynamic.extend(0x6fff_fffbu64.to_le_bytes());
        dynamic.extend(0x0800_0000u64.to_le_bytes());
        dynamic.extend([0u8; 16]);
        let static_pie = elf(3, &[(2, dynamic_at, 32)], &dynamic);
        assert!(check(&static_pie).is_ok(), "static PIE");
        // A shared library: ET_DYN, a dynamic section without the PIE flag, no interpreter.
        let mut lib_dynamic = dynamic.clone();
        lib_dynamic[8..16].copy_from_slice(&0u64.to_le_bytes());
        let err = check(&elf(3, &[(2, dynamic_at, 32)], &lib_dynamic)).unwrap_err();
        assert!(err.contains("f is a shared library (ELF type DYN"), "{err}");
        assert!(
            check(&elf(1, &[], &[]))
                .unwrap_err()
                .contains("object file")
        );
        // Program headers pointing past the end: refused, no panic.
        let mut broken = elf(3, &[(2, 1 << 40, 1 << 40)], &[]);
        assert!(check(&broken).is_err());
        broken[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check(&broken).unwrap_err().contains("truncated"));
        let mut arm = elf(2, &[], &[]);
        arm[18] = 0xb7;
        assert!(check(&arm).unwrap_err().contains("not x86-64"));
        let macho = [
            0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(check(&macho).unwrap_err().contains("Mach-O"));
        assert!(
            check(b"#!/bin/sh\necho hi\n")
                .unwrap_err()
                .contains("a script")
        );
    }
}
