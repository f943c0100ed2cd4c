//! The container builder (issue 26): `builder = "container"` compiles in a build stage of
//! the image's own Dockerfile, from `[build] image` (here the local `rust:1-bookworm` that
//! `.ci/setup` makes from this machine's toolchain). Nothing but docker runs where the tool
//! runs (shims of cargo, rustc, rustup, cross and cargo-zigbuild prove it), a code change
//! reuses the compiled dependencies, and vendored crates compile offline (containers here
//! cannot reach crates.io).

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::docker::*;
use common::*;

/// `cargo generate-lockfile` in `dir` (the test's own cargo, not the tool's).
fn lockfile(dir: &Path) {
    let o = Command::new("cargo")
        .args(["generate-lockfile", "--quiet"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A directory of programs named like every compiler tool, each of which writes its name
/// to `marker` and fails.
fn shims(dir: &Path, marker: &Path) -> String {
    let bin = dir.join("shims");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["cargo", "rustc", "rustup", "cross", "cargo-zigbuild"] {
        let path = bin.join(name);
        let script = format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit 1\n",
            marker.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// The build log of `out`, without the colour codes the legacy builder puts around each
/// chunk of a step's stderr (they can fall in the middle of a line).
fn log_of(out: &std::process::Output) -> String {
    (stdout(out) + &stderr(out))
        .replace("\u{1b}[0m", "")
        .replace("\u{1b}[91m", "")
}

/// A line of new text at the end of `source`, new every run: an engine keeps the layers
/// of earlier runs (BuildKit's cache is keyed by content), and a text it has seen would
/// take the project's copy, and its compile, from that cache.
fn a_code_change(source: &Path) {
    let code = std::fs::read_to_string(source).unwrap();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(source, format!("{code}\n// a change: {nonce}\n")).unwrap();
}

/// A copy of `example` that the container builder compiles, with its lockfile.
fn in_container(example: &str, build: &str) -> Project {
    let p = Project::copy_of(example);
    p.edit_manifest(|m| {
        let m = m.replacen("\ntarget = ", "\nbuilder = \"container\"\ntarget = ", 1);
        format!("{m}\n[build]\n{build}")
    });
    lockfile(&p.dir);
    p
}

#[test]
fn the_container_builder_compiles_in_the_engine_and_runs_no_compiler_here() {
    require_docker!();
    let p = in_container("minimal", "");
    let marker = p.tmp.path().join("ran");
    let path = shims(p.tmp.path(), &marker);
    let dry = cmd()
        .current_dir(&p.dir)
        .env("PATH", &path)
        .args(["build", "v1", "-f", "service.toml", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr(&dry));
    let said = stdout(&dry) + &stderr(&dry);
    assert!(
        said.contains(
            "builder: container (compiles in the image's build stage, from rust:1-bookworm)"
        ),
        "{said}"
    );
    assert!(!said.contains("cargo build"), "{said}");
    let (image, out) = build_image_with_env(&p, "minimal", &[("PATH", &path)]);
    assert!(
        !marker.exists(),
        "ran on this machine: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
    // The build stage compiled it (or the engine's cache had it: the log says which),
    // and the image runs it.
    let log = log_of(&out);
    assert!(log.contains("FROM rust:1-bookworm AS builder"), "{log}");
    let steps = steps_cached(&log);
    let compiled = steps
        .iter()
        .find(|(s, _)| s.starts_with("RUN find . -path ./target"));
    let (_, cached) = compiled.unwrap_or_else(|| panic!("no compile step: {steps:?}"));
    assert!(
        *cached || log.contains("Compiling minimal v0.1.0 (/build)"),
        "{log}"
    );
    assert!(
        log.contains("COPY --from=builder /out/minimal /bin/minimal"),
        "{log}"
    );
    assert_proven(&p, &image, &["minimal"], &[]);
    // What it ships of the project: the sources, never target/ or the manifest.
    let context = p.context("minimal");
    assert!(context.join("builder/project/src/main.rs").is_file());
    assert!(context.join("builder/skeleton/Cargo.lock").is_file());
    assert!(!context.join("builder/project/service.toml").exists());
    assert!(!context.join("builder/project/target").exists());
}

#[test]
fn vendored_crates_compile_offline_and_a_code_change_reuses_the_dependencies() {
    require_docker!();
    // A workspace whose `api` compiles SQLite's C code: musl-gcc comes from [build] packages.
    let p = in_container("workspace", "vendor = true\npackages = [\"musl-tools\"]\n");
    let (image, out) = build_image(&p, "workspace");
    let log = log_of(&out);
    assert!(log.contains("fetch the crates with cargo vendor"), "{log}");
    assert!(p.context("workspace").join("builder/vendor").is_dir());
    assert_proven(&p, &image, &["api", "worker"], &["api_ping"]);
    // Vendored, the crates are read where cargo vendor ran: the SBOM lists them.
    let sbom = std::fs::read_to_string(p.context("workspace").with_file_name("sbom.cdx.json"));
    let sbom: serde_json::Value = serde_json::from_str(&sbom.unwrap()).unwrap();
    let rusqlite = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rusqlite")
        .unwrap_or_else(|| panic!("no rusqlite in {sbom}"));
    assert_eq!(rusqlite["scope"], "required", "{rusqlite}");

    // A code change: the dependency stage is reused; only the workspace's crates compile.
    a_code_change(&p.dir.join("api/src/main.rs"));
    let (image, out) = build_image(&p, "workspace");
    let log = log_of(&out);
    assert!(log.contains("Compiling api v0.1.0 (/build/api)"), "{log}");
    assert!(!log.contains("Compiling libsqlite3-sys"), "{log}");
    assert!(!log.contains("Compiling rusqlite"), "{log}");
    let steps = steps_cached(&log);
    let deps = steps
        .iter()
        .find(|(step, _)| step.starts_with("RUN cargo build"))
        .unwrap_or_else(|| panic!("no dependency step in {steps:?}"));
    assert!(deps.1, "the dependency step was not cached: {steps:?}");
    assert_proven(&p, &image, &["api", "worker"], &["api_ping"]);
}

/// A PATH whose `docker` is Debian's docker.io CLI (20.10, which `.ci/setup` installs):
/// it builds with the engine's own BuildKit under `DOCKER_BUILDKIT=1`, where a newer CLI
/// wants the buildx plugin, which these machines lack.
fn buildkit_path(dir: &Path) -> String {
    let cli = Path::new("/usr/bin/docker");
    let o = Command::new(cli)
        .args(["version", "--format", "{{.Client.Version}}"])
        .output()
        .expect("Debian's docker CLI at /usr/bin/docker (.ci/setup installs docker.io)");
    assert!(stdout(&o).starts_with("20.10"), "{}", stdout(&o));
    let bin = dir.join("buildkit-cli");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(cli, bin.join("docker")).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// The Dockerfile needs no BuildKit syntax, and BuildKit builds it too: the workspace (C
/// code, two binaries) with a registry cache, whose dependency step a code change reuses.
#[test]
fn buildkit_builds_the_container_builders_dockerfile_and_reuses_the_dependencies() {
    require_docker!();
    let registry = Registry::start(None);
    let repository = format!("127.0.0.1:{}/{}", registry.port, unique("buildkit"));
    let build = format!(
        "vendor = true\npackages = [\"musl-tools\"]\ncache = \"{repository}:buildcache\"\n"
    );
    let p = in_container("workspace", &build);
    p.set_image_name(&repository);
    let _images: Vec<Image> = ["v1", "v2", "buildcache", "buildcache-runtime"]
        .iter()
        .map(|t| Image(format!("{repository}:{t}")))
        .collect();
    let path = buildkit_path(p.tmp.path());
    let env = [("PATH", path.as_str()), ("DOCKER_BUILDKIT", "1")];
    let first = p.build_with_env("v1", &["--push", "--verbose"], &env);
    let log = log_of(&first);
    assert!(first.status.success(), "{log}");
    assert!(log.contains("[builder "), "not built by BuildKit: {log}");
    assert!(
        log.contains(&format!("==> push {repository}:buildcache\n")),
        "{log}"
    );
    let proven = p.prove("v1", &[]);
    assert!(proven.status.success(), "{}", stdout(&proven));

    a_code_change(&p.dir.join("api/src/main.rs"));
    let out = p.build_with_env("v2", &["--verbose"], &env);
    let log = log_of(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Compiling api v0.1.0 (/build/api)"), "{log}");
    assert!(!log.contains("Compiling libsqlite3-sys"), "{log}");
    // BuildKit numbers each step (`#9 [builder 7/9] RUN cargo build …`) and says `#9 CACHED`.
    let deps = log
        .lines()
        .find(|l| l.contains("[builder ") && l.contains("] RUN cargo build"))
        .unwrap_or_else(|| panic!("no dependency step in {log}"));
    let number = deps.split(' ').next().unwrap();
    assert!(
        log.contains(&format!("\n{number} CACHED\n")),
        "the dependency step was not cached: {log}"
    );
    let proven = p.prove("v2", &[]);
    assert!(proven.status.success(), "{}", stdout(&proven));
}

/// A crate without dependencies vendors nothing (`cargo vendor` makes no directory): the
/// build goes on, with an empty `builder/vendor/` but for a hidden file cargo skips.
#[test]
fn a_crate_without_dependencies_builds_with_vendor() {
    require_docker!();
    let p = in_container("minimal", "vendor = true\n");
    let name = unique("novendor");
    p.set_image_name(&name);
    let _image = Image(format!("{name}:v1"));
    let out = p.build("v1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let vendor = p.context("minimal").join("builder/vendor");
    let files: Vec<_> = std::fs::read_dir(&vendor)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, [".buildkit-lite-empty"]);
}

#[test]
fn without_a_lockfile_the_container_build_stops_before_staging() {
    let p = in_container("minimal", "");
    std::fs::remove_file(p.dir.join("Cargo.lock")).unwrap();
    let o = p.build("v1", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("compiles with --locked from the Cargo.lock beside"),
        "{err}"
    );
    assert!(!p.context("minimal").exists());
    // --vendor is the container builder's.
    let p = Project::copy_of("minimal");
    let o = p.build("v1", &["--vendor", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--vendor is for the container builder"));
}

/// The container builder through a remote engine, reached with `env` at `host`: the build
/// stage runs there, and `test` finds the published port at that host.
fn compiles_there_and_test_reaches_its_port_at(env: &[(&str, &str)], host: &str) {
    let p = in_container("healthcheck-app", "");
    let (image, out) = build_image_with_env(&p, "healthcheck-app", env);
    let log = log_of(&out);
    assert!(log.contains("FROM rust:1-bookworm AS builder"), "{log}");
    let o = cmd()
        .current_dir(&p.dir)
        .envs(env.iter().copied())
        .args(["test", image.tag(), "-f", "service.toml"])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let port = out
        .lines()
        .find(|l| l.starts_with("ok   port 8080 "))
        .unwrap_or_else(|| panic!("no port line in {out}"));
    assert!(
        port.contains(&format!("answers from outside ({host}:")),
        "{port}"
    );
}

#[test]
fn a_remote_engine_compiles_and_test_reaches_its_ports_at_its_host() {
    require_docker!();
    // The engine reached over TCP at 127.0.0.2 (not 127.0.0.1), as a remote one would be.
    let engine = engine_proxy("127.0.0.2", false);
    compiles_there_and_test_reaches_its_port_at(&[("DOCKER_HOST", &engine)], "127.0.0.2");
}

/// The engine reached over ssh (`DOCKER_HOST=ssh://…`): the context goes there and the
/// compile runs there, and `test` reaches the published ports at the ssh host.
#[test]
fn an_engine_over_ssh_compiles_and_test_reaches_its_ports_at_its_host() {
    require_docker!();
    let engine = SshEngine::start();
    let env = [
        ("DOCKER_HOST", engine.host.as_str()),
        ("PATH", &engine.path),
    ];
    compiles_there_and_test_reaches_its_port_at(&env, "127.0.0.3");
}

/// A fresh engine (a second dockerd with an empty store, as a new CI runner) rebuilds after
/// a code change without compiling the dependencies: they come from the registry cache
/// the first engine pushed (`[build] cache`, `build --push`).
#[test]
fn a_fresh_engine_reuses_the_dependencies_from_the_registry_cache() {
    require_docker!();
    let registry = Registry::start(None);
    let name = unique("cached");
    let repository = format!("127.0.0.1:{}/{name}", registry.port);
    let p = in_container("workspace", "vendor = true\npackages = [\"musl-tools\"]\n");
    p.set_image_name(&repository);
    let _images: Vec<Image> = ["v0", "v1", "buildcache", "buildcache-runtime"]
        .iter()
        .map(|t| Image(format!("{repository}:{t}")))
        .collect();
    // Built once without the cache, then with it: the registry has none yet, and the
    // build takes the dependencies from this engine's own cache instead of compiling them.
    let without = p.build("v0", &[]);
    assert!(without.status.success(), "{}", stderr(&without));
    p.edit_manifest(|m| format!("{m}cache = \"{repository}:buildcache\"\n"));
    let first = p.build("v1", &["--push", "--verbose"]);
    let log = log_of(&first);
    assert!(first.status.success(), "{log}");
    assert!(
        log.contains(&format!("no cache to read at {repository}:buildcache")),
        "{log}"
    );
    assert!(
        log.contains(&format!("==> push {repository}:buildcache\n")),
        "{log}"
    );
    assert!(!log.contains("Compiling libsqlite3-sys"), "{log}");
    assert!(!log.contains("--cache-from"), "{log}");

    let engine = SecondEngine::start();
    engine.load(&["debian:bookworm-slim", "rust:1-bookworm"]);
    a_code_change(&p.dir.join("api/src/main.rs"));
    let out = p.build_with_env("v2", &["--verbose"], &[("DOCKER_HOST", &engine.host)]);
    let log = log_of(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("docker pull --quiet {repository}:buildcache")),
        "{log}"
    );
    let steps = steps_cached(&log);
    let deps = steps
        .iter()
        .find(|(step, _)| step.starts_with("RUN cargo build"))
        .unwrap_or_else(|| panic!("no dependency step in {steps:?}"));
    assert!(
        deps.1,
        "the dependency step was not taken from the cache: {steps:?}"
    );
    assert!(log.contains("Compiling api v0.1.0 (/build/api)"), "{log}");
    assert!(!log.contains("Compiling libsqlite3-sys"), "{log}");
    let images = engine.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("{repository}:v2"),
    ]);
    assert!(images.status.success(), "the image is on the second engine");
}

/// Two targets from one builder image: its stage runs on the engine's platform and
/// cross-compiles (aarch64 musl linked with rust-lld, whose standard library the builder
/// image has), and each image is of its base's platform.
#[test]
fn the_container_builder_builds_every_platform_from_a_base_a_platform() {
    require_docker!();
    let p = in_container("multi-platform", "");
    let _images: Vec<Image> = ["v1", "v1-amd64", "v1-arm64"]
        .iter()
        .map(|t| Image(format!("multi-platform:{t}")))
        .collect();
    let dry = p.build("v1", &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(!stdout(&dry).contains("--platform"), "{}", stdout(&dry));
    let built = p.build("v1", &[]);
    assert!(built.status.success(), "{}", stderr(&built));
    for (arch, machine) in [("amd64", 0x3e), ("arm64", 0xb7)] {
        let reference = format!("multi-platform:v1-{arch}");
        let o = docker(&["image", "inspect", "-f", "{{.Architecture}}", &reference]);
        assert_eq!(stdout(&o).trim(), arch);
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker run --rm --entrypoint cat {reference} /bin/healthcheckapp | od -An -tu2 -j18 -N2"
            ))
            .output()
            .unwrap();
        assert_eq!(
            stdout(&o).trim(),
            machine.to_string(),
            "{arch}: {}",
            stderr(&o)
        );
    }
    let tested = p.prove("v1", &["--platform", "linux/arm64"]);
    assert!(
        tested.status.success(),
        "{}{}",
        stdout(&tested),
        stderr(&tested)
    );
    // One base for both platforms cannot be built so: check says what to write.
    p.edit_manifest(|m| {
        let start = m.find("base = {").unwrap();
        let end = start + m[start..].find('\n').unwrap();
        format!(
            "{}base = \"debian:bookworm-slim\"{}",
            &m[..start],
            &m[end..]
        )
    });
    p.assert_refused(
        "image.base",
        "the container builder builds several platforms from a base a platform",
    );
}

/// `check` says when this machine has no way to compile for a target, and that the
/// container builder would (here: a PATH with cargo, rustc and rustup alone, and a
/// CARGO_HOME without cargo-zigbuild, for a target whose standard library is not here).
#[test]
fn check_points_to_the_container_builder_when_nothing_here_compiles_for_the_target() {
    let p = Project::copy_of("minimal");
    p.edit_manifest(|m| {
        m.replace(
            "target = \"x86_64-unknown-linux-musl\"",
            "target = \"aarch64-unknown-linux-gnu\"",
        )
    });
    let bin = p.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["cargo", "rustc", "rustup"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        std::os::unix::fs::symlink(stdout(&found).trim(), bin.join(tool)).unwrap();
    }
    let cargo_home = p.tmp.path().join("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    let check = || {
        cmd()
            .current_dir(&p.dir)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("CARGO_HOME", &cargo_home)
            .args(["check", "-f", "service.toml", "--deny-warnings"])
            .output()
            .unwrap()
    };
    let o = check();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "app.target: this machine has no way to compile for aarch64-unknown-linux-gnu"
        ),
        "{err}"
    );
    assert!(
        err.contains("builder = \"container\" compiles in the Docker engine instead"),
        "{err}"
    );
    // With the container builder, nothing here needs to compile it.
    p.edit_manifest(|m| m.replacen("\ntarget = ", "\nbuilder = \"container\"\ntarget = ", 1));
    let o = check();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// A build script that finds no C compiler in the build stage is told what to add to
/// `[build] packages` (the workspace's SQLite is C code; the builder image has no musl-gcc).
#[test]
fn a_missing_c_compiler_in_the_build_stage_is_named_with_its_package() {
    require_docker!();
    let p = in_container("workspace", "vendor = true\n");
    let o = p.build(&unique("noc"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ran `x86_64-linux-musl-gcc`, which is not in the builder image rust:1-bookworm (Debian package: musl-tools)\nways out:\n  1. add packages = [\"musl-tools\"] to [build]: the build stage installs it"),
        "{err}"
    );
}
