//! `cargo bench --bench container`: the container builder against what Rust teams write by
//! hand, on `benches/axum-app` (a web service with over 100 crates), after a code change,
//! in pairs (medians of the paired ratios). Needs `.ci/setup` (the engine, the local
//! `rust:1-bookworm`, Debian's `docker-registry`), and reaches crates.io from this machine
//! (`cargo vendor`, `cargo install cargo-chef`): containers here cannot, so every way
//! compiles the same vendored crates offline.
//!
//! 1. ours (`builder = "container"`, `vendor = true`) against the cargo-chef multi-stage
//!    Dockerfile its README recommends (`chef prepare`, `chef cook`, then the build), from
//!    the same builder image with cargo-chef added; goal ≤ 1.0×;
//! 2. ours against a plain multi-stage Dockerfile (`COPY . .` and `cargo build`), which
//!    compiles every dependency again; goal ≤ 0.2×;
//! 3. a fresh engine (a second dockerd, empty store but for the two base images, which it
//!    pulls from the bench's registry as a CI runner pulls them) building with `--cache
//!    REF` after a code change, against the same engine warm (its next build after
//!    another change); goal ≤ 1.5×.
//!
//! The host builder against the physical limit (incremental cargo + a one-layer docker
//! build) is `cargo bench --bench perf -- build`. It prints figures and asserts nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{run_id, timed, wants};
use std::time::Duration;

const TOOL: &str = env!("CARGO_BIN_EXE_buildkit-lite");
const TARGET: &str = "x86_64-unknown-linux-musl";
/// Pairs per comparison: 5, or `BENCH_PAIRS` (fewer for a quick look; the figures quoted
/// in CONTRIBUTING.md are of 5).
fn pairs() -> usize {
    std::env::var("BENCH_PAIRS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
}

fn main() {
    // Parts: `chef`, `plain`, `cache`.
    let run = run_id();
    let ours = project("axum-ours");
    let hand = hand_project();
    println!(
        "container builder on benches/axum-app ({} crates in Cargo.lock)",
        crates(&ours)
    );
    if wants("chef") {
        let chef = chef_image();
        compare(
            &ours,
            &hand,
            run,
            "Dockerfile.chef",
            &chef,
            "cargo-chef Dockerfile (README's)",
        );
    }
    if wants("plain") {
        compare(
            &ours,
            &hand,
            run + 1,
            "Dockerfile.plain",
            "rust:1-bookworm",
            "plain multi-stage Dockerfile",
        );
    }
    if wants("cache") {
        fresh_engine_with_cache(&ours, run + 2);
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn crates(dir: &Path) -> usize {
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    lock.matches("\nname = ").count()
}

/// A copy of benches/axum-app under target/bench/NAME (kept between runs).
fn project(name: &str) -> PathBuf {
    let dir = root().join("target/bench").join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "service.toml", "src/main.rs"] {
        std::fs::copy(root().join("benches/axum-app").join(file), dir.join(file)).unwrap();
    }
    let manifest = dir.join("service.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace("name = \"axum-app\"", &format!("name = \"{name}\""));
    std::fs::write(manifest, text.replace("../../schema", "../../../schema")).unwrap();
    dir
}

/// The project for the hand-written Dockerfiles: the crate, its vendored crates with the
/// source replacement that makes cargo read them, and the two Dockerfiles.
fn hand_project() -> PathBuf {
    let dir = project("axum-hand");
    timed(Command::new("cargo").current_dir(&dir).args([
        "vendor",
        "--versioned-dirs",
        "--locked",
        "vendor",
    ]));
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    let replace = "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"vendor\"\n";
    std::fs::write(dir.join(".cargo/config.toml"), replace).unwrap();
    std::fs::write(dir.join(".dockerignore"), "target\n").unwrap();
    let runtime = format!(
        "FROM debian:bookworm-slim AS runtime\nCOPY --from=builder /app/target/{TARGET}/release/axum-app /usr/local/bin/axum-app\nENTRYPOINT [\"/usr/local/bin/axum-app\"]\n"
    );
    let chef = format!(
        "FROM bench-chef:1 AS chef\nWORKDIR /app\n\nFROM chef AS planner\nCOPY . .\nRUN cargo chef prepare --recipe-path recipe.json\n\nFROM chef AS builder\nCOPY --from=planner /app/recipe.json recipe.json\nCOPY vendor vendor\nCOPY .cargo .cargo\nRUN cargo chef cook --release --target {TARGET} --recipe-path recipe.json\nCOPY . .\nRUN cargo build --release --target {TARGET} --bin axum-app\n\n{runtime}"
    );
    let plain = format!(
        "FROM rust:1-bookworm AS builder\nWORKDIR /app\nCOPY . .\nRUN cargo build --release --target {TARGET} --bin axum-app\n\n{runtime}"
    );
    std::fs::write(dir.join("Dockerfile.chef"), chef).unwrap();
    std::fs::write(dir.join("Dockerfile.plain"), plain).unwrap();
    dir
}

/// `bench-chef:1`: the local `rust:1-bookworm` with cargo-chef, installed here once.
fn chef_image() -> String {
    let dir = root().join("target/bench/chef");
    let binary = dir.join("bin/cargo-chef");
    if !binary.is_file() {
        timed(
            Command::new("cargo")
                .args(["install", "cargo-chef", "--locked", "--root"])
                .arg(&dir),
        );
    }
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy(&binary, context.join("cargo-chef")).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM rust:1-bookworm\nCOPY cargo-chef /usr/local/rust/bin/cargo-chef\n",
    )
    .unwrap();
    timed(
        Command::new("docker")
            .args(["build", "-q", "-t", "bench-chef:1"])
            .arg(&context),
    );
    "bench-chef:1".to_string()
}

/// A code change no engine has seen: a new line in main.rs of each of `dirs`.
fn code_change(dirs: &[&Path], mark: String) {
    for dir in dirs {
        let main = dir.join("src/main.rs");
        let original =
            std::fs::read_to_string(root().join("benches/axum-app/src/main.rs")).unwrap();
        std::fs::write(main, format!("{original}\n// change {mark}\n")).unwrap();
    }
}

fn ours(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Duration {
    timed(
        Command::new(TOOL)
            .current_dir(dir)
            .envs(env.iter().copied())
            .args(["build", "v1"])
            .args(extra),
    )
}

fn by_hand(dir: &Path, dockerfile: &str) -> Duration {
    timed(Command::new("docker").current_dir(dir).args([
        "build",
        "-f",
        dockerfile,
        "-t",
        "axum-hand:v1",
        ".",
    ]))
}

/// Ours against a hand-written Dockerfile, warm, then after a code change, in pairs.
fn compare(ours_dir: &Path, hand: &Path, run: u128, dockerfile: &str, image: &str, what: &str) {
    println!("\nours against the {what} (from {image}), after a code change");
    code_change(&[ours_dir, hand], format!("{run}-warm"));
    let cold_ours = ours(ours_dir, &[], &[]);
    let cold_hand = by_hand(hand, dockerfile);
    println!(
        "  first builds: ours {:.1} s, theirs {:.1} s",
        secs(cold_ours),
        secs(cold_hand)
    );
    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs() {
        code_change(&[ours_dir], format!("{run}-{i}-ours"));
        let o = ours(ours_dir, &[], &[]);
        code_change(&[hand], format!("{run}-{i}-hand"));
        let h = by_hand(hand, dockerfile);
        println!(
            "  pair {}: ours {:.2} s, theirs {:.2} s",
            i + 1,
            secs(o),
            secs(h)
        );
        ratios.push(secs(o) / secs(h));
        a.push(secs(o));
        b.push(secs(h));
    }
    println!(
        "  code change: ours {:.2} s, theirs {:.2} s: {:.2}x (median of {} paired ratios)",
        median(a),
        median(b),
        median(ratios),
        pairs()
    );
}

/// A registry on 127.0.0.1 (Debian's `docker-registry`), stopped when dropped.
/// The registry process, its port, and its storage (kept while it runs).
struct Registry(
    std::process::Child,
    u16,
    #[allow(dead_code)] tempfile::TempDir,
);

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry");
        std::thread::sleep(Duration::from_secs(2));
        Registry(child, port, dir)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A second dockerd with an empty store and a bridge of its own (as the tests make one);
/// stopped, with its bridge, when dropped.
/// The dockerd process, its bridge, its directories (kept while it runs), its DOCKER_HOST.
struct Engine(
    std::process::Child,
    String,
    #[allow(dead_code)] tempfile::TempDir,
    String,
);

impl Engine {
    fn start() -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let bridge = format!("bklb{}", std::process::id() % 100_000);
        for args in [
            vec!["link", "add", &bridge, "type", "bridge"],
            vec!["addr", "add", "10.213.78.1/24", "dev", &bridge],
            vec!["link", "set", &bridge, "up"],
        ] {
            timed(Command::new("ip").args(&args));
        }
        let path = |n: &str| dir.path().join(n).display().to_string();
        let host = format!("unix://{}", path("docker.sock"));
        let child = Command::new("dockerd")
            .args(["--data-root", &path("data"), "--exec-root", &path("exec")])
            .args([
                "--pidfile",
                &path("pid"),
                "--host",
                &host,
                "--iptables=false",
                "--bridge",
                &bridge,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dockerd");
        let engine = Engine(child, bridge, dir, host);
        for _ in 0..120 {
            let up = Command::new("docker")
                .env("DOCKER_HOST", &engine.3)
                .args(["info"])
                .output();
            if up.is_ok_and(|o| o.status.success()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        engine
    }

    /// The base images, pulled from `registry` as a CI runner pulls them: an engine that
    /// got them from `docker load` knows none of their registry digests, so each pull of
    /// the cache would download the 1.7 GB toolchain image again to find it has it.
    fn with_bases(self, registry: u16) -> Engine {
        for base in BASES {
            let mirrored = format!("127.0.0.1:{registry}/bases/{base}");
            for args in [vec!["pull", "-q", &mirrored], vec!["tag", &mirrored, base]] {
                timed(
                    Command::new("docker")
                        .env("DOCKER_HOST", &self.3)
                        .args(args),
                );
            }
        }
        self
    }
}

/// The images a fresh engine starts with, the runtime's base and the builder's.
const BASES: [&str; 2] = ["debian:bookworm-slim", "rust:1-bookworm"];

/// The base images of this machine's engine, pushed to `registry` for fresh engines.
fn mirror_bases(registry: u16) {
    for base in BASES {
        let mirrored = format!("127.0.0.1:{registry}/bases/{base}");
        timed(Command::new("docker").args(["tag", base, &mirrored]));
        timed(Command::new("docker").args(["push", "-q", &mirrored]));
        timed(Command::new("docker").args(["rmi", &mirrored]));
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
        let _ = Command::new("ip").args(["link", "del", &self.1]).status();
    }
}

/// A fresh engine with the registry cache, after a code change, against its next build.
fn fresh_engine_with_cache(dir: &Path, run: u128) {
    let registry = Registry::start();
    let cache = format!("127.0.0.1:{}/axum-cache:buildcache", registry.1);
    let image = format!("127.0.0.1:{}/axum-ours", registry.1);
    let manifest = dir.join("service.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("[image]\n", &format!("[image]\nname = \"{image}\"\n"), 1),
    )
    .unwrap();
    println!("\na fresh engine with --cache against the same engine warm, after a code change");
    code_change(&[dir], format!("{run}-fill"));
    let fill = ours(dir, &[], &["--cache", &cache, "--push"]);
    println!(
        "  the cache filled and pushed by this machine's engine: {:.1} s",
        secs(fill)
    );
    mirror_bases(registry.1);
    let (mut fresh, mut warm, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs() {
        let engine = Engine::start().with_bases(registry.1);
        let env = [("DOCKER_HOST", engine.3.as_str())];
        code_change(&[dir], format!("{run}-{i}-fresh"));
        let f = ours(dir, &env, &["--cache", &cache]);
        code_change(&[dir], format!("{run}-{i}-warm"));
        let w = ours(dir, &env, &["--cache", &cache]);
        println!(
            "  pair {}: fresh {:.2} s, warm {:.2} s",
            i + 1,
            secs(f),
            secs(w)
        );
        ratios.push(secs(f) / secs(w));
        fresh.push(secs(f));
        warm.push(secs(w));
    }
    std::fs::write(&manifest, text).unwrap();
    println!(
        "  code change: fresh {:.2} s, warm {:.2} s: {:.2}x (median of {} paired ratios)",
        median(fresh),
        median(warm),
        median(ratios),
        pairs()
    );
}
