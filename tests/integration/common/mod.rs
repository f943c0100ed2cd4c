//! Helpers shared by the integration tests: running the built binary, finding examples and
//! fixtures, requiring external linters (a missing tool fails the test: run `.ci/setup`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command running the built `buildkit-lite`, from the repository root.
pub fn cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_buildkit-lite"));
    c.current_dir(root());
    c
}

/// Runs `buildkit-lite ARGS` from the repository root.
pub fn run(args: &[&str]) -> Output {
    cmd().args(args).output().expect("run buildkit-lite")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `buildkit-lite ARGS` from `dir`, with at most `mib` MiB of address space and 30 s of
/// CPU: the kernel, not a timing, kills a run that holds too much or never ends.
pub fn run_bounded(dir: &Path, mib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -v {} && ulimit -t 30 && exec \"$@\"", mib * 1024),
            "sh",
            env!("CARGO_BIN_EXE_buildkit-lite"),
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The example names (directories of `examples/` holding a service.toml), sorted.
pub fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("service.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `examples/NAME/service.toml`, relative to the root.
pub fn example_manifest(name: &str) -> String {
    format!("examples/{name}/service.toml")
}

/// The broken manifests of `tests/fixtures/*.toml`, sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
}

/// `path` relative to the repository root, as the tests pass it on command lines.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// The lines `# <tag>: VALUE` at the top of a fixture.
pub fn directives(path: &Path, tag: &str) -> Vec<String> {
    let prefix = format!("# {tag}:");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
        .collect()
}

/// Fails the test when an external tool is missing: CI installs them all (`.ci/setup`), so
/// a missing linter is a broken set-up, never a reason to skip.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: run `.ci/setup` (it installs every tool the tests use)"
    );
}

/// Runs shellcheck on one script: no finding at any level.
pub fn shellcheck(path: &Path) {
    require_tool("shellcheck");
    let o = Command::new("shellcheck").arg(path).output().unwrap();
    assert!(
        o.status.success() && o.stdout.is_empty(),
        "shellcheck {}:\n{}",
        path.display(),
        stdout(&o)
    );
}

/// Runs hadolint on a Dockerfile: nothing at warning level or above but DL3008.
pub fn hadolint(path: &Path) {
    require_tool("hadolint");
    let o = Command::new("hadolint")
        .args([
            "--no-color",
            "--ignore",
            "DL3008",
            "--failure-threshold",
            "warning",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "hadolint {}:\n{}{}",
        path.display(),
        stdout(&o),
        stderr(&o)
    );
}

/// Renders an example into a fresh temporary directory and returns it.
pub fn render_example(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ctx");
    let o = run(&[
        "render",
        "-f",
        &example_manifest(name),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "render {name} failed: {}", stderr(&o));
    dir
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}
#[macro_use]
pub mod docker;

/// Polls `poll` every 200 ms until it gives `Ok`, and returns that; after `limit`, fails the
/// test naming `what` and the last `Err` (what was seen instead).
pub fn eventually<T>(
    limit: Duration,
    what: &str,
    mut poll: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match poll() {
            Ok(value) => return value,
            Err(seen) if start.elapsed() >= limit => {
                panic!("{what}: not within {limit:?}; last seen:\n{seen}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `Ok` when the process `command` ran and exited 0, else what it printed.
pub fn succeeded(o: &Output) -> Result<(), String> {
    if o.status.success() {
        return Ok(());
    }
    Err(format!("{}{}{}", o.status, stdout(o), stderr(o)))
}
