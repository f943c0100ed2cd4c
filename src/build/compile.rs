//! Compiling the app: the [`Step`] that runs the chosen builder (see `builder.rs`), and where
//! cargo puts the binary. The binary's path comes from `cargo metadata` (its
//! `target_directory`) and cargo's layout, never from a guess about where the user's shell
//! was. Nothing here prints.

use std::collections::{BTreeMap, BTreeSet};

use camino::{Utf8Path, Utf8PathBuf};

use crate::diagnostic::suggest;
use crate::error::Error;
use crate::host::exec::{Step, path_arg};
use crate::host::project::Trust;
use crate::manifest::Builder;
use crate::plan::AppPlan;

/// `cargo metadata` for the app's Cargo.toml: where cargo puts its output. For a real
/// build it runs from the manifest's directory, as the compile does, so that the same
/// `.cargo/config.toml` (a `build.target-dir`, say) applies to both; otherwise from
/// outside the project (see [`Trust`]).
pub fn metadata_step(app: &AppPlan, manifest_dir: &Utf8Path, trust: Trust) -> Step {
    Step::new("read the cargo metadata of the app", "cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(path_arg(&trust.path(&app.cargo_manifest, manifest_dir)))
        .cwd(trust.cwd(manifest_dir))
}

pub use crate::plan::Target;

/// The compile step for the chosen builder: `cargo build`, `cross build` or
/// `cargo zigbuild`, for each of `targets` (cargo builds several targets in one run, side
/// by side), with the manifest's package, features and profile, and `--locked` when
/// asked, run from the manifest's directory (so that its `.cargo/config.toml` applies).
pub fn build_step(
    app: &AppPlan,
    builder: Builder,
    targets: &[Target],
    manifest_dir: &Utf8Path,
    locked: bool,
) -> Step {
    let (summary, program, first): (&str, &str, &[&str]) = match builder {
        Builder::Cross => ("compile the app with cross", "cross", &["build"]),
        Builder::Zigbuild => (
            "compile the app with cargo-zigbuild",
            "cargo",
            &["zigbuild"],
        ),
        // The container builder never compiles here: its build stage runs the plan's own
        // cargo arguments (`AppPlan::cargo_args`, as below); `auto` is chosen before.
        Builder::Cargo | Builder::Auto | Builder::Container => {
            ("compile the app with cargo", "cargo", &["build"])
        }
    };
    let cargo_manifest = Trust::Project.path(&app.cargo_manifest, manifest_dir);
    let step = Step::new(summary, program)
        .args(first.iter().copied())
        .args(["--manifest-path".to_string(), path_arg(&cargo_manifest)])
        .cwd(manifest_dir);
    step.args(app.cargo_args(targets, locked))
}

/// What makes a host compile's binaries the same from any checkout: the absolute paths
/// rustc would write into them (panic locations, debug info), each mapped to a fixed one
/// (`--remap-path-prefix`): the workspace to `/build`, its target directory to
/// `/build/target`, `CARGO_HOME` (the registry's sources) to `/cargo`; and the user's own
/// rustflags variables, which the flags must join (cargo reads `RUSTFLAGS` or
/// `CARGO_ENCODED_RUSTFLAGS` instead of any configured `build.rustflags`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remap {
    pub prefixes: Vec<(Utf8PathBuf, &'static str)>,
    /// `CARGO_ENCODED_RUSTFLAGS`, then `RUSTFLAGS`, as the environment has them.
    pub encoded: Option<String>,
    pub plain: Option<String>,
}

impl Remap {
    /// The prefixes of `metadata`'s workspace and this environment's `CARGO_HOME`.
    pub fn of(metadata: &Metadata) -> Remap {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let cargo_home = var("CARGO_HOME")
            .map(Utf8PathBuf::from)
            .or_else(|| var("HOME").map(|home| Utf8PathBuf::from(home).join(".cargo")));
        let mut prefixes: Vec<(Utf8PathBuf, &'static str)> = Vec::new();
        if let Some(home) = cargo_home {
            prefixes.push((home, "/cargo"));
        }
        prefixes.push((metadata.workspace_root.clone(), "/build"));
        prefixes.push((metadata.target_directory.clone(), "/build/target"));
        Remap {
            prefixes,
            encoded: var("CARGO_ENCODED_RUSTFLAGS"),
            plain: var("RUSTFLAGS"),
        }
    }

    /// `step` (a cargo build on this host) with the prefixes mapped, and
    /// `SOURCE_DATE_EPOCH` (`created`) for build scripts that stamp a time. Later flags win
    /// in rustc, so the most specific prefix (the target directory) comes last.
    pub fn apply(&self, step: Step, created: Option<i64>) -> Step {
        let flags: Vec<String> = self
            .prefixes
            .iter()
            .map(|(from, to)| format!("--remap-path-prefix={from}={to}"))
            .collect();
        let step = match created {
            Some(seconds) => step.env("SOURCE_DATE_EPOCH", seconds.to_string()),
            None => step,
        };
        if flags.is_empty() {
            return step;
        }
        let user: Option<Vec<String>> = match (&self.encoded, &self.plain) {
            (Some(encoded), _) => Some(encoded.split('\x1f').map(str::to_string).collect()),
            (None, Some(plain)) => Some(plain.split_whitespace().map(str::to_string).collect()),
            (None, None) => None,
        };
        match user {
            Some(mut all) => {
                all.extend(flags);
                step.env("CARGO_ENCODED_RUSTFLAGS", all.join("\x1f"))
            }
            None => {
                let list: Vec<String> = flags
                    .iter()
                    .map(|f| toml::Value::String(f.clone()).to_string())
                    .collect();
                step.args([
                    "--config".to_string(),
                    format!("build.rustflags=[{}]", list.join(", ")),
                ])
            }
        }
    }
}

/// `cargo vendor` of the app's workspace into `dir` (the crates only: nothing compiles),
/// by the lockfile, for the container builder to compile offline.
pub fn vendor_step(app: &AppPlan, manifest_dir: &Utf8Path, dir: &Utf8Path) -> Step {
    let cargo_manifest = Trust::Project.path(&app.cargo_manifest, manifest_dir);
    Step::new("fetch the crates with cargo vendor", "cargo")
        .args(["vendor", "--versioned-dirs", "--manifest-path"])
        .arg(path_arg(&cargo_manifest))
        .args(app.locked.then_some("--locked"))
        .arg(path_arg(dir))
        .cwd(manifest_dir)
}

/// What `cargo metadata` says of the app's cargo package or workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Where cargo writes (`target_directory`).
    pub target_directory: Utf8PathBuf,
    /// The bin targets (of `app.package` when set).
    pub bins: Vec<String>,
    /// The workspace's root directory, where its `Cargo.lock` is.
    pub workspace_root: Utf8PathBuf,
    /// The bin targets whose `required-features` the app's features (`[app] features`,
    /// and the defaults unless `default-features = false`) leave off, with those
    /// features: cargo refuses to build them.
    pub unmet_features: BTreeMap<String, Vec<String>>,
}

impl Metadata {
    /// Whether the workspace has a `Cargo.lock` (`cargo metadata --no-deps` writes none).
    pub fn has_lockfile(&self) -> bool {
        self.workspace_root.join("Cargo.lock").is_file()
    }
}

/// Runs `cargo metadata` (read-only: it compiles nothing) and reads it.
pub fn metadata(app: &AppPlan, manifest_dir: &Utf8Path, trust: Trust) -> Result<Metadata, Error> {
    if trust == Trust::Nothing && crate::host::project::absolute(&app.cargo_manifest).is_relative()
    {
        return Err(Error::Usage(
            "the current directory's path is not UTF-8, so cargo cannot be told where the Cargo.toml is: run buildkit-lite from a directory whose path is UTF-8".into(),
        ));
    }
    parse_metadata(&metadata_step(app, manifest_dir, trust).output()?, app)
}

/// Reads `cargo metadata`'s output.
pub fn parse_metadata(json: &str, app: &AppPlan) -> Result<Metadata, Error> {
    let meta: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Error::CargoMetadata(format!("cannot read cargo metadata output: {e}")))?;
    let target_directory = meta["target_directory"]
        .as_str()
        .ok_or_else(|| Error::CargoMetadata("cargo metadata gave no target_directory".into()))?;
    let workspace_root = meta["workspace_root"]
        .as_str()
        .ok_or_else(|| Error::CargoMetadata("cargo metadata gave no workspace_root".into()))?;
    Ok(Metadata {
        target_directory: target_directory.into(),
        bins: bin_targets(&meta, app.package.as_deref()),
        workspace_root: workspace_root.into(),
        unmet_features: unmet_features(&meta, app),
    })
}

/// Each bin target (of `app.package` when set) whose `required-features` the app's
/// features leave off, with those features.
fn unmet_features(meta: &serde_json::Value, app: &AppPlan) -> BTreeMap<String, Vec<String>> {
    let packages = meta["packages"].as_array().into_iter().flatten();
    let mut unmet = BTreeMap::new();
    for package in packages.filter(|p| app.package.as_ref().is_none_or(|want| p["name"] == *want)) {
        let mut start: Vec<&str> = app.features.iter().map(String::as_str).collect();
        if app.default_features {
            start.push("default");
        }
        let on = features_on(&package["features"], &start);
        for target in package["targets"].as_array().into_iter().flatten() {
            let off = unmet_required(target, &on);
            if let (Some(name), false) = (target["name"].as_str(), off.is_empty()) {
                unmet.insert(name.to_string(), off);
            }
        }
    }
    unmet
}

/// The `required-features` of a target (of `cargo metadata`) that are not `on`.
pub fn unmet_required(target: &serde_json::Value, on: &BTreeSet<String>) -> Vec<String> {
    let required = target["required-features"].as_array().into_iter().flatten();
    required
        .filter_map(|f| f.as_str())
        .filter(|f| !on.contains(*f))
        .map(str::to_string)
        .collect()
}

/// The features `start` turns on in a package's feature table (`cargo metadata`'s
/// `features`), transitively, with the names of `start` themselves: its own features, and
/// the optional dependencies they enable (`dep:x`, `x/feature`, or a name that is no
/// feature). Names of another package's features (`x/f` in `start`) turn on `x`.
pub fn features_on(features: &serde_json::Value, start: &[&str]) -> BTreeSet<String> {
    let table: BTreeMap<&str, Vec<&str>> = features
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let values = v.as_array().into_iter().flatten();
            (k.as_str(), values.filter_map(|x| x.as_str()).collect())
        })
        .collect();
    let mut on = BTreeSet::new();
    let mut todo: Vec<&str> = start.to_vec();
    while let Some(value) = todo.pop() {
        // `dep:x` and `x/f` turn on the dependency x (`x?/f` only a feature of it).
        let name = match value.split_once('/') {
            Some((dep, _)) if dep.ends_with('?') => continue,
            Some((dep, _)) => dep,
            None => value.strip_prefix("dep:").unwrap_or(value),
        };
        if on.insert(name.to_string()) {
            todo.extend(table.get(name).into_iter().flatten());
        }
    }
    on
}

/// A package of a `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// The SHA-256 of a registry crate.
    pub checksum: Option<String>,
}

/// The packages of the lockfile `lock`: none when it is missing, larger than 16 MiB (no
/// real one is) or does not parse.
pub fn locked_packages(lock: &Utf8Path) -> Vec<Locked> {
    const LIMIT: u64 = 16 << 20;
    let Ok(file) = std::fs::File::open(lock) else {
        return Vec::new();
    };
    let mut text = String::new();
    if std::io::Read::read_to_string(&mut std::io::Read::take(file, LIMIT), &mut text).is_err() {
        return Vec::new();
    }
    let Ok(table) = toml::from_str::<toml::Table>(&text) else {
        return Vec::new();
    };
    let packages = table.get("package").and_then(toml::Value::as_array);
    (packages.into_iter().flatten())
        .filter_map(|p| {
            let get = |k: &str| Some(p.get(k)?.as_str()?.to_string());
            Some(Locked {
                name: get("name")?,
                version: get("version")?,
                checksum: get("checksum"),
            })
        })
        .collect()
}

/// The bin targets in `cargo metadata` output: of the package named `package` when
/// given, else of every package.
pub fn bin_targets(meta: &serde_json::Value, package: Option<&str>) -> Vec<String> {
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| package.is_none_or(|want| p["name"] == want))
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

/// Where each binary lands, in the order of `app.binaries`: `<target_directory>/<triple>/
/// <profile dir>/<name>`. A name that is not a bin target is refused, with the closest
/// real one.
pub fn artifacts(meta: &Metadata, app: &AppPlan) -> Result<Vec<Utf8PathBuf>, Error> {
    let dir = meta
        .target_directory
        .join(&app.target)
        .join(app.profile_dir());
    app.binaries
        .iter()
        .map(|binary| {
            if !meta.bins.contains(&binary.name) {
                let known: Vec<&str> = meta.bins.iter().map(String::as_str).collect();
                return Err(Error::NoSuchBin {
                    cargo_manifest: app.cargo_manifest.clone(),
                    binary: binary.name.clone(),
                    suggestion: suggest::did_you_mean(&binary.name, &known).map(str::to_string),
                    bins: meta.bins.clone(),
                });
            }
            Ok(dir.join(&binary.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::BinaryPlan;

    fn app() -> AppPlan {
        AppPlan {
            name: "demo".into(),
            binaries: vec![BinaryPlan {
                name: "demo".into(),
                install_path: "/bin/demo".into(),
                context_path: "root/bin/demo".into(),
            }],
            target: "x86_64-unknown-linux-musl".into(),
            package: Some("demo-pkg".into()),
            features: vec!["tls".into(), "metrics".into()],
            profile: "release".into(),
            cargo_manifest: "examples/demo/Cargo.toml".into(),
            builder: Builder::Auto,
            prebuilt: None,
            locked: true,
            default_features: true,
        }
    }

    fn one(app: &AppPlan) -> [Target<'_>; 1] {
        [Target {
            triple: &app.target,
            rust_lld: false,
        }]
    }

    #[test]
    fn a_host_compile_maps_its_paths_and_joins_the_users_rustflags() {
        let remap = Remap {
            prefixes: vec![
                ("/home/u/.cargo".into(), "/cargo"),
                ("/src/my app".into(), "/build"),
            ],
            encoded: None,
            plain: None,
        };
        let step = remap.apply(Step::new("compile", "cargo").arg("build"), Some(5));
        assert_eq!(
            step.command_line(),
            "SOURCE_DATE_EPOCH=5 cargo build --config 'build.rustflags=[\"--remap-path-prefix=/home/u/.cargo=/cargo\", \"--remap-path-prefix=/src/my app=/build\"]'"
        );
        // RUSTFLAGS would make cargo ignore build.rustflags: the flags join it instead.
        let user = Remap {
            plain: Some("-C target-cpu=native".into()),
            ..remap
        };
        let step = user.apply(Step::new("compile", "cargo"), None);
        let (name, value) = &step.env[0];
        assert_eq!(name, "CARGO_ENCODED_RUSTFLAGS");
        assert_eq!(
            value.split('\x1f').collect::<Vec<_>>(),
            [
                "-C",
                "target-cpu=native",
                "--remap-path-prefix=/home/u/.cargo=/cargo",
                "--remap-path-prefix=/src/my app=/build"
            ]
        );
    }

    #[test]
    fn features_follow_the_table_and_optional_dependencies() {
        let features = serde_json::json!({
            "default": ["server", "dep:tokio"],
            "server": ["hyper/http1", "metrics"],
            "metrics": [],
            "tls": ["openssl"],
            "quiet": ["log?/max_level_off"],
            "windows-service": [],
        });
        let on = features_on(&features, &["default"]);
        let on: Vec<&str> = on.iter().map(String::as_str).collect();
        assert_eq!(on, ["default", "hyper", "metrics", "server", "tokio"]);
        let on = features_on(&features, &["tls", "quiet"]);
        let on: Vec<&str> = on.iter().map(String::as_str).collect();
        assert_eq!(on, ["openssl", "quiet", "tls"]);
    }

    #[test]
    fn cargo_step_carries_target_profile_package_and_features() {
        let dir = Utf8Path::new("examples/demo");
        let app = app();
        let step = build_step(&app, Builder::Cargo, &one(&app), dir, false);
        assert_eq!(
            step.to_string(),
            "cd examples/demo && cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl \
             --profile release --bin demo --package demo-pkg --features tls,metrics"
        );
        assert_eq!(
            build_step(&app, Builder::Cross, &one(&app), dir, false).program,
            "cross"
        );
        assert_eq!(
            build_step(&app, Builder::Zigbuild, &one(&app), dir, false).args[0],
            "zigbuild"
        );
    }

    #[test]
    fn one_cargo_run_builds_several_targets_each_linked_its_own_way() {
        let dir = Utf8Path::new("examples/demo");
        let targets = [
            Target {
                triple: "x86_64-unknown-linux-musl",
                rust_lld: false,
            },
            Target {
                triple: "aarch64-unknown-linux-musl",
                rust_lld: true,
            },
        ];
        let step = build_step(&app(), Builder::Cargo, &targets, dir, true);
        assert_eq!(
            step.to_string(),
            "cd examples/demo && cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl \
             --target aarch64-unknown-linux-musl --config 'target.aarch64-unknown-linux-musl.linker=\"rust-lld\"' \
             --profile release --bin demo --package demo-pkg --features tls,metrics --locked"
        );
    }

    #[test]
    fn artifact_paths_come_from_metadata() {
        let json = r#"{"target_directory": "/w/target", "workspace_root": "/w", "packages": [{"name": "demo-pkg",
            "targets": [{"name": "demo", "kind": ["bin"]}, {"name": "demo", "kind": ["lib"]},
            {"name": "demo-worker", "kind": ["bin"]}]}]}"#;
        let meta = parse_metadata(json, &app()).unwrap();
        assert_eq!(meta.bins, ["demo", "demo-worker"]);
        assert_eq!(
            artifacts(&meta, &app()).unwrap(),
            ["/w/target/x86_64-unknown-linux-musl/release/demo"]
        );
        let mut other = app();
        other.binaries[0].name = "demo_worker".into();
        let err = artifacts(&meta, &other).unwrap_err().to_string();
        assert!(err.contains("no binary target `demo_worker`"), "{err}");
        assert!(err.contains("did you mean `demo-worker`?"), "{err}");
        assert!(err.contains("its binaries: demo, demo-worker"), "{err}");
        other.binaries[0].name = "demo".into();
        other.profile = "dev".into();
        assert!(
            artifacts(&meta, &other).unwrap()[0]
                .as_str()
                .ends_with("/debug/demo")
        );
    }
}
