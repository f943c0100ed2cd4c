//! `cargo bench`: the figures of CONTRIBUTING.md's Performance table, measured in one run on this
//! machine, whole processes, medians.
//!
//! 1. `render` of generated manifests with 50, 500 and 5,000 services (each with an http
//!    check), the growth per 10× services, and the peak memory (GNU `time`'s maximum
//!    resident set size, when `/usr/bin/time` is there).
//! 2. `build` of `examples/healthcheck-app` against the hand-written sequence it replaces
//!    (`cargo build --release --target … --bin …`, `cp` the binary into the rendered context,
//!    `docker build -t …`), run in pairs: with nothing changed (default builder, and
//!    `builder = "cargo"`), and after a code change. Needs what `build` needs (`.ci/setup`).
//! 3. The same for the gnu target, whose dynamically linked binary `build` checks in the
//!    new image (one `docker run`) before tagging it: a no-change build must be "up to
//!    date" and run no container; a code change's ratio is given with the check, and
//!    without it (the check's own `docker run`, timed alone right after, subtracted).
//! 4. What the SBOM step (`add the SBOM and provenance labels to the image`) adds to a
//!    build of `examples/healthcheck-app`: after a code change, the build's wall time and
//!    the step's own (its `--verbose` "done in"), measured in the same runs, and the ratio
//!    of the build to the build without that step; with nothing changed, whether the step
//!    ran at all (an up-to-date build runs none).
//!
//! It prints figures and ratios and asserts nothing: speed goals are read from its output,
//! never checked by timed tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{run_id, timed, wants};
use std::time::{Duration, Instant};

const TOOL: &str = env!("CARGO_BIN_EXE_buildkit-lite");
const TARGET: &str = "x86_64-unknown-linux-musl";
const GNU: &str = "x86_64-unknown-linux-gnu";

fn main() {
    // Parts: `render`, `build`, `gnu`, `platforms`, `sbom`.
    println!("buildkit-lite benchmark ({} cores)", cores());
    if wants("render") {
        render();
    }
    if wants("build") {
        build();
    }
    if wants("gnu") {
        gnu(run_id());
    }
    if wants("platforms") {
        platforms(run_id());
    }
    if wants("sbom") {
        sbom(run_id());
    }
}

/// Part 4: the SBOM step's share of a build.
fn sbom(run: u128) {
    let dir = project(TARGET);
    prepare_project(&dir, TARGET);
    let main = dir.join("src/main.rs");
    let original = std::fs::read_to_string(&main).unwrap();
    // One build with its `--verbose` log: the wall time, and the SBOM step's "done in".
    let build = || {
        let start = Instant::now();
        let o = Command::new(TOOL)
            .current_dir(&dir)
            .args(["build", "v1", "--verbose"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        let step = log
            .split("==> add the SBOM and provenance labels to the image")
            .nth(1)
            .and_then(|rest| rest.split("done in ").nth(1))
            .and_then(|rest| rest.split('s').next())
            .and_then(|s| s.trim().parse::<f64>().ok());
        (start.elapsed(), step)
    };
    let (mut totals, mut steps) = (Vec::new(), Vec::new());
    for i in 0..9 {
        code_change(&main, &original, run, i);
        let (total, step) = build();
        totals.push(total);
        steps.push(Duration::from_secs_f64(step.unwrap_or(0.0)));
    }
    std::fs::write(&main, &original).unwrap();
    let (total, step) = (median(totals), median(steps));
    let ratio = secs(total) / (secs(total) - secs(step));
    println!(
        "
the SBOM step in a build of examples/healthcheck-app (medians of 9)"
    );
    println!(
        "code change: build {:.3}s, of which the SBOM step {:.3}s: {ratio:.2}x the build without it",
        secs(total),
        secs(step)
    );
    // The first build makes the restored code's image; the next has nothing to do.
    build();
    let (_, again) = build();
    println!(
        "no change: the SBOM step {}",
        match again {
            None => "did not run (up to date): 1.00x".to_string(),
            Some(s) => format!("ran, {s:.2}s"),
        }
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A manifest with `n` services, each with an http check that follows it.
fn manifest(n: usize) -> String {
    let mut text = String::from(
        "[app]\nname = \"big\"\nbinary = \"big\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[services.svc{i}]\ncommand = [\"/bin/big\", \"--port\", \"${{PORT}}\"]\nuser = \"app\"\nenv = {{ PORT = \"{}\" }}\n\n[checks.check{i}]\nhttp = \"http://127.0.0.1:${{PORT}}/ping\"\nservice = \"svc{i}\"\ninterval = 10\n",
            8000 + i % 1000
        ));
    }
    text
}

fn render() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.bin"), b"").unwrap();
    let sizes = [50, 500, 5000];
    let paths: Vec<PathBuf> = sizes
        .iter()
        .map(|n| {
            let path = dir.path().join(format!("big{n}.toml"));
            std::fs::write(&path, manifest(*n)).unwrap();
            path
        })
        .collect();
    let run = |path: &PathBuf| timed(Command::new(TOOL).arg("render").arg("-f").arg(path));
    // Rounds over every size, so that the machine's drift touches each size alike.
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sizes.len()];
    for path in &paths {
        run(path); // warm-up
    }
    for _ in 0..15 {
        for (i, path) in paths.iter().enumerate() {
            times[i].push(run(path));
        }
    }
    println!("\nrender to stdout (whole process, median of 15; --out would add the file writes)");
    println!(
        "{:>9}  {:>10}  {:>12}  {:>12}",
        "services", "time", "growth/10x", "peak memory"
    );
    let mut last: Option<f64> = None;
    for ((n, path), runs) in sizes.iter().zip(&paths).zip(times) {
        let t = secs(median(runs));
        let growth = last.map_or("".to_string(), |l| format!("{:.1}x", t / l));
        println!(
            "{n:>9}  {:>9.4}s  {growth:>12}  {:>12}",
            t,
            peak_memory(path)
        );
        last = Some(t);
    }
}

/// The maximum resident set size of one `render`, from GNU time.
fn peak_memory(manifest: &Path) -> String {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(TOOL)
        .arg("render")
        .arg("-f")
        .arg(manifest)
        .stdout(Stdio::null())
        .output();
    let kib = out.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stderr)
            .trim()
            .lines()
            .last()?
            .parse::<u64>()
            .ok()
    });
    kib.map_or("n/a".to_string(), |k| {
        format!("{:.1} MB", k as f64 / 1024.0)
    })
}

/// A copy of examples/healthcheck-app under target/bench, for `target` (kept between runs,
/// so cargo's own cache makes the first build quick the next time).
fn project(target: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root
        .join("target/bench")
        .join(format!("healthcheck-app-{target}"));
    copy_example(&root.join("examples/healthcheck-app"), &dir);
    let manifest = dir.join("service.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace(TARGET, target)).unwrap();
    dir
}

/// Copies the files of an example crate with a script check (healthcheck-app's shape).
fn copy_example(from: &Path, dir: &Path) {
    for rel in [
        "Cargo.toml",
        "service.toml",
        "src/main.rs",
        "checks/sv-running.sh",
    ] {
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from.join(rel), &to).unwrap();
    }
}

/// The hand-written sequence: compile, copy the binary into the rendered context, build.
fn by_hand(dir: &Path, target: &str) -> Duration {
    let start = Instant::now();
    timed(Command::new("cargo").current_dir(dir).args([
        "build",
        "--release",
        "--target",
        target,
        "--bin",
        "healthcheckapp",
    ]));
    let binary = dir.join(format!("target/{target}/release/healthcheckapp"));
    let context = dir.join("target/hand/context");
    std::fs::copy(binary, context.join("root/bin/healthcheckapp")).unwrap();
    timed(
        Command::new("docker")
            .args(["build", "-t", "healthcheck-app-by-hand:v1"])
            .arg(&context),
    );
    start.elapsed()
}

fn ours(dir: &Path, builder: &str) -> Duration {
    timed(
        Command::new(TOOL)
            .current_dir(dir)
            .args(["build", "v1", "--builder", builder]),
    )
}

/// Alternately ours and by hand, `pairs` times, after `prepare` each time; returns the
/// medians and the median of the paired ratios.
fn paired(
    pairs: usize,
    dir: &Path,
    builder: &str,
    prepare: &mut dyn FnMut(usize),
) -> (Duration, Duration, f64) {
    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs {
        prepare(2 * i);
        let o = ours(dir, builder);
        prepare(2 * i + 1);
        let h = by_hand(dir, TARGET);
        ratios.push(secs(o) / secs(h));
        a.push(o);
        b.push(h);
    }
    ratios.sort_by(f64::total_cmp);
    (median(a), median(b), ratios[ratios.len() / 2])
}

/// Renders `dir`'s context for the hand-written sequence, and warms up both ways.
fn prepare_project(dir: &Path, target: &str) {
    let context = dir.join("target/hand/context");
    let _ = std::fs::remove_dir_all(&context);
    timed(
        Command::new(TOOL)
            .current_dir(dir)
            .arg("render")
            .arg("--out")
            .arg(&context),
    );
    std::fs::create_dir_all(context.join("root/bin")).unwrap();
    // Warm up both: compiled, built, every layer in docker's cache.
    ours(dir, "auto");
    by_hand(dir, target);
}

/// A code change new to docker too: with the same text as an earlier run, the binary
/// would be byte for byte one docker already has a layer for, and its COPY would be taken
/// from the cache instead of being rebuilt.
fn code_change(main: &Path, original: &str, run: u128, i: usize) {
    let code = original.replace("ready (stdout)", &format!("ready (stdout) {run}-{i}"));
    std::fs::write(main, code).unwrap();
}

fn build() {
    let dir = project(TARGET);
    prepare_project(&dir, TARGET);

    println!(
        "\nbuild of examples/healthcheck-app against the hand-written sequence (paired runs, medians)"
    );
    println!(
        "{:<34}  {:>9}  {:>9}  {:>6}",
        "", "ours", "by hand", "ratio"
    );
    let show = |what: &str, (o, h, r): (Duration, Duration, f64)| {
        println!(
            "{what:<34}  {:>8.3}s  {:>8.3}s  {r:>5.2}x",
            secs(o),
            secs(h)
        );
    };
    show(
        "no change, default builder (auto)",
        paired(11, &dir, "auto", &mut |_| {}),
    );
    show(
        "no change, builder = cargo",
        paired(11, &dir, "cargo", &mut |_| {}),
    );
    let main = dir.join("src/main.rs");
    let original = std::fs::read_to_string(&main).unwrap();
    let run = run_id();
    show(
        "code change, default builder",
        paired(15, &dir, "auto", &mut |i| {
            code_change(&main, &original, run, i)
        }),
    );
    std::fs::write(&main, &original).unwrap();
}

/// Part 3: the gnu target, with the run-time check.
fn gnu(run: u128) {
    let dir = project(GNU);
    prepare_project(&dir, GNU);
    let quiet = Command::new(TOOL)
        .current_dir(&dir)
        .args(["build", "v1"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&quiet.stderr);
    let up_to_date = said.contains("up to date") && !said.contains("check that the image");
    println!(
        "\ngnu target ({GNU}): `build` checks the binary's libraries and glibc in the new image"
    );
    println!(
        "no change: {}",
        if up_to_date {
            "up to date, no container run"
        } else {
            "NOT up to date, or it ran the check"
        }
    );
    println!(
        "{:<34}  {:>9}  {:>9}  {:>6}",
        "", "ours", "by hand", "ratio"
    );
    let main = dir.join("src/main.rs");
    let original = std::fs::read_to_string(&main).unwrap();
    // The check's own cost: the very `docker run` the build makes, timed alone.
    let step = buildkit_lite::build::runtime::check_step(
        "healthcheck-app:v1",
        &[buildkit_lite::build::runtime::Dynamic {
            install_path: "/bin/healthcheckapp".into(),
            interpreter: "/lib64/ld-linux-x86-64.so.2".into(),
        }],
    );
    let check = || timed(Command::new(&step.program).args(&step.args));
    // In each pair: our build (with the check), the check alone, the hand-written one.
    let (mut with, mut without, mut hand) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ours_with, mut ours_without) = (Vec::new(), Vec::new());
    for i in 0..11 {
        code_change(&main, &original, run, 1000 + 2 * i);
        let o = ours(&dir, "auto");
        let c = check();
        code_change(&main, &original, run, 1001 + 2 * i);
        let h = by_hand(&dir, GNU);
        with.push(secs(o) / secs(h));
        without.push(secs(o.saturating_sub(c)) / secs(h));
        ours_with.push(o);
        ours_without.push(o.saturating_sub(c));
        hand.push(h);
    }
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let hand = secs(median(hand));
    for (what, ratios) in [
        ("code change, with the check", with),
        ("code change, without it", without),
    ] {
        let r = mid(ratios);
        println!("{what:<34}  {:>8.3}s  {hand:>8.3}s  {r:>5.2}x", r * hand);
    }
    std::fs::write(&main, original).unwrap();
}

/// A copy of examples/multi-platform under target/bench: with both targets, or (`single`)
/// with its x86_64 target only.
fn platform_project(single: bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = if single {
        "one-platform"
    } else {
        "two-platforms"
    };
    let dir = root.join("target/bench").join(name);
    copy_example(&root.join("examples/multi-platform"), &dir);
    let manifest = dir.join("service.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text = text.replace("name = \"multi-platform\"", &format!("name = \"{name}\""));
    if single {
        text = text
            .replace(", \"aarch64-unknown-linux-musl\"]", "]")
            .replace(", \"linux/arm64\" = \"local/debian-arm64:bookworm\"", "");
    }
    std::fs::write(&manifest, text).unwrap();
    dir
}

/// `build v1` of a project, with `extra` arguments.
fn build_project(dir: &Path, extra: &[&str]) -> Duration {
    timed(
        Command::new(TOOL)
            .current_dir(dir)
            .args(["build", "v1"])
            .args(extra),
    )
}

/// Part 4: several platforms. The two-platform example against the same app for linux/amd64
/// only: cold (no cargo output, `--no-cache`), then after a code change, in pairs.
fn platforms(run: u128) {
    let one = platform_project(true);
    let two = platform_project(false);
    println!("\nbuild of examples/multi-platform: two platforms against one (amd64)");
    println!("{:<34}  {:>9}  {:>9}  {:>6}", "", "two", "one", "ratio");
    let show = |what: &str, two: Duration, one: Duration| {
        let ratio = secs(two) / secs(one);
        println!(
            "{what:<34}  {:>8.3}s  {:>8.3}s  {ratio:>5.2}x",
            secs(two),
            secs(one)
        );
    };
    for dir in [&one, &two] {
        let _ = std::fs::remove_dir_all(dir.join("target"));
    }
    let cold_one = build_project(&one, &["--no-cache"]);
    let cold_two = build_project(&two, &["--no-cache"]);
    show("cold (nothing compiled or cached)", cold_two, cold_one);
    let (mut ones, mut twos, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let originals: Vec<String> = [&one, &two]
        .iter()
        .map(|d| std::fs::read_to_string(d.join("src/main.rs")).unwrap())
        .collect();
    for i in 0..5 {
        code_change(&one.join("src/main.rs"), &originals[0], run, i);
        code_change(&two.join("src/main.rs"), &originals[1], run, i);
        let o = build_project(&one, &[]);
        let t = build_project(&two, &[]);
        ratios.push(secs(t) / secs(o));
        ones.push(o);
        twos.push(t);
    }
    ratios.sort_by(f64::total_cmp);
    let (o, t) = (median(ones), median(twos));
    println!(
        "{:<34}  {:>8.3}s  {:>8.3}s  {:>5.2}x (median of 5 paired ratios)",
        "code change",
        secs(t),
        secs(o),
        ratios[ratios.len() / 2]
    );
    for (dir, original) in [&one, &two].iter().zip(&originals) {
        std::fs::write(dir.join("src/main.rs"), original).unwrap();
    }
}
