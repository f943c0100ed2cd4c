//! Compiling the app: which builder to use, the [`Step`] that runs it, where cargo puts the
//! binary, and the check that a binary is an ELF executable for the target.
//!
//! `builder = "auto"` is decided by the pure [`choose`] from [`HostFacts`] probed once:
//! cargo when this host can link for the target (Linux x86_64 with the target's standard
//! library installed), else cross when it and a container engine are present, else
//! cargo-zigbuild, else an error saying what to install. The binary's path comes from
//! `cargo metadata` (its `target_directory`) and cargo's layout, never from a guess about
//! where the user's shell was. Nothing here prints.

use std::io::Read;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::exec::Step;
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
        .arg(app.cargo_manifest.as_str())
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
        .args(["--manifest-path", cargo_manifest.as_str()])
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
/// architecture (a macOS binary, a script, a binary for another CPU, an object file).
pub fn check_binary(path: &Utf8Path, target: &str) -> Result<(), Error> {
    let mut header = [0u8; 20];
    let mut file = std::fs::File::open(path).map_err(|source| Error::Input {
        path: path.to_owned(),
        source,
    })?;
    let n = file.read(&mut header).unwrap_or(0);
    let refuse = |what: String| {
        Err(Error::Build(format!(
            "{path} is {what}, not an ELF executable for {target}: refusing to put it in a linux image"
        )))
    };
    if n < header.len() || &header[..4] != b"\x7fELF" {
        let kind = match &header[..4] {
            [0xcf, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe] => {
                "a Mach-O (macOS) binary".to_string()
            }
            [b'M', b'Z', ..] => "a Windows (PE) binary".to_string(),
            [b'#', b'!', ..] => "a script".to_string(),
            _ => "not an ELF file".to_string(),
        };
        return refuse(kind);
    }
    if header[4] != 2 || header[5] != 1 {
        return refuse("a 32-bit or big-endian ELF file".into());
    }
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    if e_type != 2 && e_type != 3 {
        return refuse(format!("an ELF file of type {e_type} (not an executable)"));
    }
    let machine = u16::from_le_bytes([header[18], header[19]]);
    match elf_machine(target) {
        Some((want, _)) if machine == want => Ok(()),
        Some((_, name)) => refuse(format!(
            "an ELF executable for machine {machine:#x}, not {name}"
        )),
        None => refuse("for an architecture buildkit-lite does not know".into()),
    }
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

    #[test]
    fn binaries_of_the_wrong_kind_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = Utf8PathBuf::from_path_buf(dir.path().join(name)).unwrap();
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let mut elf = vec![
            0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0,
        ];
        let good = write("good", &elf);
        assert!(check_binary(&good, "x86_64-unknown-linux-gnu").is_ok());
        elf[18] = 0xb7;
        let arm = write("arm", &elf);
        let err = check_binary(&arm, "x86_64-unknown-linux-gnu")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not x86-64"), "{err}");
        let macho = write(
            "macho",
            &[
                0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        );
        assert!(
            check_binary(&macho, "x86_64-unknown-linux-gnu")
                .unwrap_err()
                .to_string()
                .contains("Mach-O")
        );
        let script = write("script", b"#!/bin/sh\necho hi\n");
        assert!(
            check_binary(&script, "x86_64-unknown-linux-gnu")
                .unwrap_err()
                .to_string()
                .contains("a script")
        );
    }
}
