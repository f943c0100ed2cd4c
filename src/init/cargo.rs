//! What `init` reads of the cargo project: the package or workspace (`cargo metadata
//! --no-deps`), each bin target with what tells whether it is a long-running service, and
//! the dependency closure of the package `init` writes for, with its default features
//! (`cargo tree`), for the C libraries it links. Runs cargo read-only and reads the bins'
//! source files; nothing here prints.

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::exec::{Step, path_arg};
use crate::host::project::Trust;

/// What `init` needs of the cargo project in a directory.
pub struct Cargo {
    /// The app's name (not yet made valid): the package's, or the workspace directory's.
    pub name: String,
    /// The bin targets: the package's own for a workspace member, else every one.
    pub bins: Vec<Bin>,
    /// The workspace's root directory (where `Cargo.lock` is).
    pub root: Utf8PathBuf,
    /// The package, for a member of a workspace rooted elsewhere (`app.package`).
    pub package: Option<String>,
}

/// A bin target, as `init` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    pub name: String,
    /// Its package's name.
    pub package: String,
    /// Features it needs (`required-features`) that the package's default features do
    /// not enable: such a bin is not built by default.
    pub unmet_features: Vec<String>,
    /// Its main source file, as `cargo metadata` names it.
    pub src_path: Utf8PathBuf,
}

/// Reads the cargo project of `cargo_toml` (in `dir`) with `cargo metadata --no-deps`.
pub fn read(cargo_toml: &Utf8Path, dir: &Utf8Path) -> Result<Cargo, Error> {
    let json = Step::new("read the cargo metadata of the project", "cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .arg("--manifest-path")
        .arg(path_arg(&Trust::Nothing.path(cargo_toml, dir)))
        .cwd(Trust::Nothing.cwd(dir))
        .output()?;
    let meta: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| Error::CargoMetadata(format!("cannot read cargo metadata output: {e}")))?;
    let root = Utf8Path::new(meta["workspace_root"].as_str().unwrap_or(dir.as_str()));
    let own_path = cargo_toml.canonicalize_utf8().ok();
    let packages = meta["packages"].as_array().map_or(&[][..], Vec::as_slice);
    let own = packages
        .iter()
        .find(|p| p["manifest_path"].as_str().map(Utf8Path::new) == own_path.as_deref())
        .and_then(|p| p["name"].as_str());
    let is_member = own_path.as_deref() != Some(&root.join("Cargo.toml"));
    let (name, package) = match own {
        Some(own) if is_member => (own.to_string(), Some(own.to_string())),
        Some(own) => (own.to_string(), None),
        None => (root.file_name().unwrap_or("app").to_string(), None),
    };
    let bins: Vec<Bin> = packages
        .iter()
        .filter(|p| package.as_deref().is_none_or(|want| p["name"] == want))
        .flat_map(bins_of)
        .collect();
    if bins.is_empty() {
        return Err(Error::Usage(format!(
            "{cargo_toml} has no binary target: buildkit-lite packages a program (add src/main.rs or a [[bin]])"
        )));
    }
    Ok(Cargo {
        name,
        bins,
        root: root.to_owned(),
        package,
    })
}

/// The bin targets of one package of `cargo metadata`.
fn bins_of(package: &serde_json::Value) -> Vec<Bin> {
    let name = package["name"].as_str().unwrap_or_default();
    let on = crate::build::compile::features_on(&package["features"], &["default"]);
    let targets = package["targets"].as_array().into_iter().flatten();
    targets
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| {
            Some(Bin {
                name: t["name"].as_str()?.to_string(),
                package: name.to_string(),
                unmet_features: crate::build::compile::unmet_required(t, &on),
                src_path: t["src_path"].as_str().unwrap_or_default().into(),
            })
        })
        .collect()
}

/// The crates the package (`package`, else every member) depends on for a Linux target,
/// with default features: `cargo tree` of normal and build dependencies, by the lockfile.
/// `None` when there is no `Cargo.lock`, or cargo could not tell (offline, say).
pub fn dependency_closure(
    cargo_toml: &Utf8Path,
    dir: &Utf8Path,
    root: &Utf8Path,
    package: Option<&str>,
) -> Option<BTreeSet<String>> {
    if !root.join("Cargo.lock").is_file() {
        return None;
    }
    let which = match package {
        Some(package) => vec!["--package".to_string(), package.to_string()],
        None => vec!["--workspace".to_string()],
    };
    let out = Step::new("read the dependencies of the project", "cargo")
        .args(["tree", "--locked", "--edges", "normal,build"])
        .args(["--target", "x86_64-unknown-linux-gnu", "--prefix", "none"])
        .args(["--format", "{p}", "--manifest-path"])
        .arg(path_arg(&Trust::Nothing.path(cargo_toml, dir)))
        .args(which)
        .cwd(Trust::Nothing.cwd(dir))
        .output()
        .ok()?;
    let names = out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string);
    Some(names.collect())
}

/// Words in a bin's own source that show a long-running program: a listener, a server,
/// an endless loop, a wait for a signal.
const LONG_RUNNING: &[&str] = &[
    "TcpListener",
    "UdpSocket",
    "UnixListener",
    ".bind(",
    "serve(",
    "Server::",
    "HttpServer",
    ".listen(",
    "loop {",
    "ctrl_c",
    "signal(",
    "run_forever",
];

/// Words in a bin's `//!` documentation that say it is a client.
const CLIENT_DOCS: &[&str] = &["client", "command-line", "command line", "cli ", "cli."];

/// Why a bin that is not its package's own should get no live service, if so: its own
/// documentation says it is a client (and not a server, daemon or service), or nothing in
/// its main file looks long-running.
pub fn in_doubt(bin: &Bin, root: &Utf8Path) -> Option<String> {
    if bin.name == bin.package {
        return None;
    }
    let shown = bin.src_path.strip_prefix(root).unwrap_or(&bin.src_path);
    let Some(source) = read_bounded(&bin.src_path) else {
        return Some(format!("{shown} could not be read to tell"));
    };
    let docs: String = source
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let serves = ["server", "daemon", "service"]
        .iter()
        .any(|w| docs.contains(w));
    if let Some(word) = CLIENT_DOCS.iter().find(|w| !serves && docs.contains(**w)) {
        return Some(format!(
            "{shown} documents it as a client (\"{}\")",
            word.trim_end_matches([' ', '.'])
        ));
    }
    match LONG_RUNNING.iter().any(|w| source.contains(w)) {
        true => None,
        false => Some(format!(
            "nothing in {shown} looks long-running (no listener, server, endless loop or signal wait)"
        )),
    }
}

/// A source file, at most 1 MiB of it.
fn read_bounded(path: &Utf8Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 1 << 20), &mut text).ok()?;
    Some(text)
}
