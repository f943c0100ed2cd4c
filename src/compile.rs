//! Compiling the app: the [`Step`] that runs the chosen builder (see `builder.rs`), and where
//! cargo puts the binary. The binary's path comes from `cargo metadata` (its
//! `target_directory`) and cargo's layout, never from a guess about where the user's shell
//! was. Nothing here prints.

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::exec::{Step, path_arg};
use crate::manifest::Builder;
use crate::plan::AppPlan;

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
/// `cargo zigbuild`, with the manifest's package, features and profile, and `--locked`
/// when asked, run from the manifest's directory (so that its `.cargo/config.toml` applies).
pub fn build_step(app: &AppPlan, builder: Builder, manifest_dir: &Utf8Path, locked: bool) -> Step {
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
    if locked {
        step = step.arg("--locked");
    }
    step
}

/// Whether the cargo workspace of the app has a `Cargo.lock` (asked of `cargo
/// locate-project --workspace`, read-only).
pub fn has_lockfile(app: &AppPlan) -> bool {
    let root = Step::new("find the cargo workspace of the app", "cargo")
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .arg("--manifest-path")
        .arg(path_arg(&app.cargo_manifest))
        .output();
    root.ok()
        .map(|manifest| Utf8PathBuf::from(manifest.trim()).with_file_name("Cargo.lock"))
        .is_some_and(|lock| lock.is_file())
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
        .map_err(|e| Error::CargoMetadata(format!("cannot read cargo metadata output: {e}")))?;
    let target_dir = meta["target_directory"]
        .as_str()
        .ok_or_else(|| Error::CargoMetadata("cargo metadata gave no target_directory".into()))?;
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
        return Err(Error::NoSuchBin {
            cargo_manifest: app.cargo_manifest.clone(),
            binary: app.binary.clone(),
            bins: bins.iter().map(|b| b.to_string()).collect(),
        });
    }
    Ok(Utf8PathBuf::from(target_dir)
        .join(&app.target)
        .join(profile_dir(&app.profile))
        .join(&app.binary))
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
            locked: true,
        }
    }

    #[test]
    fn cargo_step_carries_target_profile_package_and_features() {
        let dir = Utf8Path::new("examples/demo");
        let step = build_step(&app(), Builder::Cargo, dir, false);
        assert_eq!(
            step.to_string(),
            "cd examples/demo && cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl \
             --profile release --bin demo --package demo-pkg --features tls,metrics"
        );
        assert_eq!(
            build_step(&app(), Builder::Cross, dir, false).program,
            "cross"
        );
        assert_eq!(
            build_step(&app(), Builder::Zigbuild, dir, false).args[0],
            "zigbuild"
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
}
