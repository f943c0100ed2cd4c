//! The container builder's part of the context (`builder = "container"`): the build stage
//! the Dockerfile starts with, and the files it copies.
//!
//! The stage compiles in two steps, as cargo-chef does, so that a code change reuses the
//! compiled dependencies: first the workspace's *skeleton* (every `Cargo.toml`, the
//! `Cargo.lock`, the cargo configuration, and a stub for each target: an empty library,
//! `fn main() {}` for binaries and build scripts), whose `cargo build` compiles only the
//! dependencies; then the project itself over it, whose `cargo build` compiles the app.
//! The skeleton is made here from the manifests alone, reading them as TOML (nothing runs:
//! `cargo` may not even be installed where buildkit-lite runs), and is byte-identical
//! while no manifest or the lockfile changes, so its layers stay cached.
//!
//! In the context: `builder/skeleton/`, `builder/project/` (the directory of the
//! Cargo.toml, without `target/` and `.git/`) and, with `vendor`, `builder/vendor/`
//! (written by `build`, after `cargo vendor`).

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::{Contents, File};
use crate::error::Error;
use crate::plan::Plan;
use crate::shell;

/// Where the build stage works, and where it leaves the binaries for the runtime stage.
pub const WORKDIR: &str = "/build";
pub const OUT_DIR: &str = "/out";

/// What the Dockerfile's build stage needs.
#[derive(Debug, Serialize)]
pub struct Stage {
    pub image: String,
    pub packages: Vec<String>,
    pub vendor: bool,
    pub target: String,
    /// The `cargo build` command line, shell-quoted.
    pub cargo: String,
    /// Each binary where cargo writes it, relative to [`WORKDIR`].
    pub built: Vec<String>,
    pub out_dir: &'static str,
    pub workdir: &'static str,
}

/// The build stage of `plan`.
pub fn stage(plan: &Plan) -> Stage {
    let root = project_root(plan);
    let manifest = plan
        .app
        .cargo_manifest
        .strip_prefix(&root)
        .unwrap_or(Utf8Path::new("Cargo.toml"));
    let target = plan.app.target.as_str();
    // The stage runs on the engine's platform, taken to be linux/amd64 (the builder images
    // of these machines): a musl target of another architecture links with rust-lld, as
    // `auto` does on a host (`build/builder.rs`).
    let rust_lld = target.starts_with("aarch64-") && target.ends_with("-musl");
    let locked = plan.app.locked;
    let mut words = vec!["cargo".to_string(), "build".to_string()];
    words.extend(["--manifest-path".to_string(), manifest.to_string()]);
    let triple = crate::plan::Target {
        triple: target,
        rust_lld,
    };
    words.extend(plan.app.cargo_args(&[triple], locked));
    if plan.build.vendor {
        words.push("--offline".to_string());
        words.extend(["--config".to_string(), VENDORED.to_string()]);
        words.extend(["--config".to_string(), VENDOR_DIR.to_string()]);
    }
    let quoted: Vec<String> = words.iter().map(|w| shell::quote(w)).collect();
    let built = plan
        .app
        .binaries
        .iter()
        .map(|b| format!("target/{target}/{}/{}", plan.app.profile_dir(), b.name))
        .collect();
    Stage {
        image: plan.build.image.clone(),
        packages: plan.build.packages.clone(),
        vendor: plan.build.vendor,
        target: target.to_string(),
        cargo: quoted.join(" "),
        built,
        out_dir: OUT_DIR,
        workdir: WORKDIR,
    }
}

/// The source replacement that makes cargo read the vendored crates.
const VENDORED: &str = "source.crates-io.replace-with=\"vendored-sources\"";
const VENDOR_DIR: &str = "source.vendored-sources.directory=\"vendor\"";

/// The directory the container builder ships: the one of the Cargo.toml to build.
pub fn project_root(plan: &Plan) -> Utf8PathBuf {
    let manifest = &plan.app.cargo_manifest;
    manifest.parent().unwrap_or(&plan.manifest_dir).to_owned()
}

/// Why the container builder cannot compile `plan` as it is: with `--locked` (the
/// default), it needs the lockfile beside the Cargo.toml. (`render` shows the context
/// without one; `build` stops before staging.)
pub fn missing_lockfile(plan: &Plan) -> Option<Error> {
    let manifest = &plan.app.cargo_manifest;
    let missing = plan.app.locked && !project_root(plan).join("Cargo.lock").is_file();
    missing.then(|| {
        Error::ContainerBuild(format!(
            "the container builder compiles with --locked from the Cargo.lock beside {manifest}, and there is none: commit one (`cargo generate-lockfile`), or set app.locked = false"
        ))
    })
}

/// Every file of the build stage: the skeleton and the project, at their context paths.
pub fn files(plan: &Plan) -> Result<Vec<(Utf8PathBuf, File)>, Error> {
    let root = project_root(plan);
    let mut out = Vec::new();
    for (rel, bytes) in skeleton(&plan.manifest_dir, &root)? {
        let contents = Contents::Bytes(bytes);
        out.push((
            Utf8PathBuf::from("builder/skeleton").join(rel),
            File {
                contents,
                mode: 0o644,
            },
        ));
    }
    let walked = crate::host::project::walk_tree(&plan.manifest_dir, &root, "project source")
        .map_err(Error::ContainerBuild)?;
    // Not git's store (it changes with every commit), nor the manifest (a change to it
    // that is no change to the code rebuilds no binary).
    let manifest = plan.manifest_path.canonicalize_utf8().ok();
    for found in walked {
        let git = found.rel.as_str() == ".git" || found.rel.starts_with(".git/");
        if git || found.path.canonicalize_utf8().ok() == manifest {
            continue;
        }
        let mode = if found.executable { 0o755 } else { 0o644 };
        let path = Utf8PathBuf::from("builder/project").join(&found.rel);
        out.push((path, File::from_project(&plan.manifest_dir, found, mode)));
    }
    Ok(out)
}

/// The skeleton of the workspace at `root`: (path below `root`, contents).
pub fn skeleton(dir: &Utf8Path, root: &Utf8Path) -> Result<Vec<(Utf8PathBuf, Vec<u8>)>, Error> {
    let mut files = Vec::new();
    for name in [
        "Cargo.lock",
        ".cargo/config.toml",
        ".cargo/config",
        "rust-toolchain.toml",
        "rust-toolchain",
    ] {
        if root.join(name).is_file() {
            let bytes = crate::host::project::read(dir, &root.join(name), "cargo file")?;
            files.push((Utf8PathBuf::from(name), bytes));
        }
    }
    let mut packages = BTreeSet::from([Utf8PathBuf::new()]);
    let mut todo = vec![Utf8PathBuf::new()];
    while let Some(package) = todo.pop() {
        let manifest_path = root.join(&package).join("Cargo.toml");
        let bytes = crate::host::project::read(dir, &manifest_path, "Cargo.toml")?;
        let text = String::from_utf8_lossy(&bytes);
        let manifest: toml::Table = toml::from_str(&text).map_err(|e| {
            Error::ContainerBuild(format!(
                "{manifest_path} is not valid TOML: {}",
                e.message()
            ))
        })?;
        for next in related(root, &package, &manifest) {
            if packages.insert(next.clone()) {
                todo.push(next);
            }
        }
        for stub in stubs(&root.join(&package), &manifest) {
            let body: &[u8] = if stub.1 { b"fn main() {}\n" } else { b"" };
            files.push((package.join(&stub.0), body.to_vec()));
        }
        files.push((package.join("Cargo.toml"), bytes));
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(files)
}

/// The packages `manifest` (of `package`, below `root`) brings in: workspace members
/// (`dir/*` globs too) and path dependencies, each a directory with a Cargo.toml inside
/// `root`, relative to it.
fn related(root: &Utf8Path, package: &Utf8Path, manifest: &toml::Table) -> Vec<Utf8PathBuf> {
    let mut dirs = Vec::new();
    let workspace = manifest.get("workspace").and_then(|w| w.as_table());
    let members = workspace
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array());
    for member in members.into_iter().flatten().filter_map(|m| m.as_str()) {
        match member.strip_suffix("/*") {
            Some(parent) => {
                let listed = std::fs::read_dir(root.join(package).join(parent));
                let mut names: Vec<String> = (listed.into_iter().flatten().flatten())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                names.sort();
                dirs.extend(names.into_iter().map(|n| package.join(parent).join(n)));
            }
            None => dirs.push(package.join(member)),
        }
    }
    let tables = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut dependency_tables: Vec<&toml::Table> = tables
        .iter()
        .filter_map(|t| manifest.get(*t).and_then(|d| d.as_table()))
        .collect();
    let by_target = manifest.get("target").and_then(|t| t.as_table());
    for cfg in by_target.into_iter().flat_map(|t| t.values()) {
        let cfg = cfg.as_table();
        dependency_tables.extend(tables.iter().filter_map(|t| cfg?.get(*t)?.as_table()));
    }
    if let Some(deps) = workspace
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
    {
        dependency_tables.push(deps);
    }
    for deps in dependency_tables {
        let paths = deps.values().filter_map(|d| d.get("path")?.as_str());
        dirs.extend(paths.map(|p| package.join(p)));
    }
    dirs.into_iter()
        .filter_map(|d| normalized(&d))
        .filter(|d| root.join(d).join("Cargo.toml").is_file())
        .collect()
}

/// `path` without `.` and `..` components, if it stays inside (none when it leaves).
fn normalized(path: &Utf8Path) -> Option<Utf8PathBuf> {
    let mut out = Utf8PathBuf::new();
    for part in path.components() {
        match part.as_str() {
            "." => {}
            ".." => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// The target source files of a package (at `dir`, read from its `manifest`) that cargo
/// needs to exist, each with whether it is a program (`fn main`) or a library (empty).
fn stubs(dir: &Utf8Path, manifest: &toml::Table) -> Vec<(Utf8PathBuf, bool)> {
    let mut stubs = Vec::new();
    let package = manifest.get("package").and_then(|p| p.as_table());
    if package.is_none() {
        return stubs;
    }
    let lib_path = manifest.get("lib").and_then(|l| l.get("path")?.as_str());
    match lib_path {
        Some(path) => stubs.push((Utf8PathBuf::from(path), false)),
        None if dir.join("src/lib.rs").is_file() => stubs.push(("src/lib.rs".into(), false)),
        None => {}
    }
    let build = package.and_then(|p| p.get("build"));
    match build.and_then(|b| b.as_str()) {
        Some(path) => stubs.push((Utf8PathBuf::from(path), true)),
        None if build.and_then(|b| b.as_bool()) != Some(false)
            && dir.join("build.rs").is_file() =>
        {
            stubs.push(("build.rs".into(), true))
        }
        None => {}
    }
    if dir.join("src/main.rs").is_file() {
        stubs.push(("src/main.rs".into(), true));
    }
    for file in files_below(&dir.join("src/bin")) {
        stubs.push((Utf8PathBuf::from("src/bin").join(file), true));
    }
    for kind in ["bin", "example", "test", "bench"] {
        let declared = manifest.get(kind).and_then(|t| t.as_array());
        let paths = declared
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("path")?.as_str());
        stubs.extend(paths.map(|p| (Utf8PathBuf::from(p), true)));
    }
    stubs
}

/// The `.rs` files cargo discovers as binaries in `src/bin`: `x.rs` and `x/main.rs`.
fn files_below(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = dir.read_dir_utf8() else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.ends_with(".rs") && entry.path().is_file() {
            found.push(Utf8PathBuf::from(name));
        } else if entry.path().join("main.rs").is_file() {
            found.push(Utf8PathBuf::from(name).join("main.rs"));
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Utf8Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_skeleton_has_every_manifest_and_a_stub_for_each_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(tmp.path()).unwrap();
        write(
            root,
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*\", \"tool\"]\n",
        );
        write(root, "Cargo.lock", "# lock\n");
        write(
            root,
            "crates/api/Cargo.toml",
            "[package]\nname = \"api\"\n[dependencies]\ncore = { path = \"../../libs/core\" }\n",
        );
        write(root, "crates/api/src/main.rs", "real code");
        write(root, "crates/api/build.rs", "real build");
        write(root, "crates/api/src/bin/admin.rs", "real");
        write(
            root,
            "libs/core/Cargo.toml",
            "[package]\nname = \"core\"\n[lib]\npath = \"lib.rs\"\n",
        );
        write(root, "libs/core/lib.rs", "real");
        write(
            root,
            "tool/Cargo.toml",
            "[package]\nname = \"tool\"\n[[bin]]\nname = \"t\"\npath = \"main.rs\"\n[[example]]\nname = \"e\"\npath = \"ex/e.rs\"\n",
        );
        write(root, "tool/main.rs", "real");
        let files = skeleton(root, root).unwrap();
        let listed: Vec<(String, String)> = files
            .iter()
            .map(|(p, b)| (p.to_string(), String::from_utf8_lossy(b).into_owned()))
            .collect();
        let main = "fn main() {}\n".to_string();
        let expected = [
            ("Cargo.lock", "# lock\n".to_string()),
            (
                "Cargo.toml",
                std::fs::read_to_string(root.join("Cargo.toml")).unwrap(),
            ),
            (
                "crates/api/Cargo.toml",
                std::fs::read_to_string(root.join("crates/api/Cargo.toml")).unwrap(),
            ),
            ("crates/api/build.rs", main.clone()),
            ("crates/api/src/bin/admin.rs", main.clone()),
            ("crates/api/src/main.rs", main.clone()),
            (
                "libs/core/Cargo.toml",
                std::fs::read_to_string(root.join("libs/core/Cargo.toml")).unwrap(),
            ),
            ("libs/core/lib.rs", String::new()),
            (
                "tool/Cargo.toml",
                std::fs::read_to_string(root.join("tool/Cargo.toml")).unwrap(),
            ),
            ("tool/ex/e.rs", main.clone()),
            ("tool/main.rs", main),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(p, b)| (p.to_string(), b))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn paths_that_leave_the_root_are_not_followed() {
        assert_eq!(normalized(Utf8Path::new("a/../b/./c")), Some("b/c".into()));
        assert_eq!(normalized(Utf8Path::new("../outside")), None);
    }
}
