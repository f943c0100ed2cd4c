//! A fuzz target for manifest loading (issue 6): random manifests, built from TOML's grammar
//! and this tool's keys and hostile values, and byte mutations of every example and
//! fixture, go through loading, validation, the error display and (when valid) the plan,
//! the render and the listing of every file. The project the manifests name changes as it
//! runs too (issue 16): its `[files]` trees gain and lose links (to directories, to
//! themselves, out of the project, to nothing), FIFOs and directories, and `cargo-manifest`
//! points at links, directories and host files. For a bounded time (`BKL_FUZZ_SECONDS`, default 20), with a seed printed
//! for replay (`BKL_FUZZ_SEED`). It fails on a panic, on an input that takes over one
//! second (a fuzzer's timeout, like libFuzzer's `-timeout`: a hang or a blow-up, not a speed
//! goal), or when the process's peak memory goes over 200 MB. A failing input is saved
//! under `target/fuzz-failures/`.
//!
//! It runs alone in its own test binary, so the peak memory it reads is its own.

#[path = "integration/common/mod.rs"]
mod common;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use buildkit_lite::manifest::{self, load};
use buildkit_lite::{Error, plan, render};
use camino::Utf8PathBuf;
use common::*;

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const TABLES: &[(&str, &[&str])] = &[
    (
        "app",
        &[
            "name",
            "binary",
            "target",
            "package",
            "features",
            "default-features",
            "profile",
            "cargo-manifest",
            "builder",
            "prebuilt",
            "install-path",
        ],
    ),
    (
        "image",
        &[
            "name",
            "base",
            "init",
            "packages",
            "maintainer",
            "labels",
            "env",
            "expose",
            "stop-timeout",
        ],
    ),
    ("log", &["user", "dir", "max-size", "keep"]),
];
const SERVICE_KEYS: &[&str] = &["command", "user", "env", "workdir", "log"];
const CHECK_KEYS: &[&str] = &[
    "http",
    "command",
    "script",
    "args",
    "interval",
    "subscribers",
    "standalone",
    "timeout",
    "ttl",
    "handlers",
    "occurrences",
    "refresh",
];
const NAMES: &[&str] = &[
    "web",
    "api",
    "a",
    "wtmp",
    "x.y",
    "-bad",
    "UPPER",
    "é",
    "a b",
    "",
    "shadow",
    "0",
    "a-very-long-name-that-goes-on-and-on-and-on-past-sixty-four-characters-for-sure",
];
const PIECES: &[&str] = &[
    "${PORT}",
    "$${X}",
    "${0}",
    "${",
    "}",
    "'",
    "\\\"",
    "\\\\",
    "\\n",
    "\\r\\n",
    "\\u0000",
    "\\t",
    "é",
    "$(id)",
    "`id`",
    ";",
    "&&",
    "/bin/app",
    "a",
    " ",
    "http://127.0.0.1:8080/x",
    "https://",
    "/etc/shadow",
    "../../etc/passwd",
    "checks/ok.sh",
    "app.bin",
    "Cargo.toml",
    "/proc/self/environ",
    "root",
    "syslog",
    "shadow",
    "x86_64-unknown-linux-musl",
    "x86_64-unknown-linux-gnu",
    "debian:bookworm-slim",
    "auto",
    "cross",
    "inherit",
    "runit",
    "/var/log",
    "/etc",
    "/usr/local/sbin/buildkit-lite-init",
    "/bin/sv",
    "-x",
    "\u{202e}",
];
/// `[files]` keys: fine ones, and ones on the image's own or the kernel's ground.
const FILE_KEYS: &[&str] = &[
    "/srv/site",
    "/etc/app/conf.toml",
    "/srv/p",
    "/proc/x",
    "/etc/passwd",
    "/etc",
    "/var/log/web",
    "/var/log",
    "/",
    "//x",
    "/a/../b",
    "relative",
    "/bin/demo",
    "/dev/null",
];
/// Project paths for `from` and `cargo-manifest`: the fuzzed tree, links out, loops.
const SOURCES: &[&str] = &[
    "site",
    ".",
    "site/a",
    "site/d0",
    "loop",
    "out",
    "dangling",
    "fifo",
    "Cargo.toml",
    "ws/Cargo.toml",
    "leak/Cargo.toml",
    "dir/Cargo.toml",
    "../Cargo.toml",
    "/etc/passwd",
    "/proc/self/environ",
    "",
];
const MODES: &[&str] = &["0644", "0600", "4755", "2755", "0755", "9999", "0", "07777"];
/// Where a link the tree mutation makes points.
const LINK_TARGETS: &[&str] = &[
    ".",
    "..",
    "../..",
    "/",
    "/etc",
    "/proc/self/environ",
    "a",
    "b",
    "d0",
    "nope",
    "f",
];

const SCALARS: &[&str] = &[
    "0",
    "1",
    "-1",
    "60",
    "65535",
    "65536",
    "9223372036854775807",
    "-9223372036854775808",
    "1e400",
    "nan",
    "inf",
    "0x10",
    "true",
    "false",
    "1979-05-27T07:32:00Z",
    "1.5",
];

fn string(rng: &mut Rng) -> String {
    let n = rng.below(6);
    let body: String = (0..n).map(|_| rng.pick(PIECES)).collect();
    match rng.below(10) {
        0 => format!("'{}'", body.replace(['\'', '\\', '\n'], "")),
        1 => format!("\"\"\"\n{body}\n\"\"\""),
        2 => format!("'''{}'''", body.replace("'''", "")),
        _ => format!(
            "\"{}\"",
            body.replace('"', "\\\"").replace("\\\\\"", "\\\"")
        ),
    }
}

fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 6 } else { 9 }) {
        0..=2 => string(rng),
        3 | 4 => rng.pick(SCALARS).to_string(),
        5 => "nonsense".to_string(),
        6 | 7 => {
            let items: Vec<String> = (0..rng.below(5)).map(|_| value(rng, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let items: Vec<String> = (0..rng.below(4))
                .map(|_| format!("{} = {}", key(rng, SERVICE_KEYS), value(rng, depth + 1)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A key of `known`, a typo of one, or a stranger, bare or quoted.
fn key(rng: &mut Rng, known: &[&str]) -> String {
    let k = match rng.below(10) {
        0 => format!("{}x", rng.pick(known)),
        1 => rng.pick(NAMES).to_string(),
        _ => rng.pick(known).to_string(),
    };
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if bare { k } else { format!("{k:?}") }
}

fn table(rng: &mut Rng, header: &str, keys: &[&str], out: &mut String) {
    out.push_str(&format!("[{header}]\n"));
    for _ in 0..rng.below(keys.len() + 2) {
        out.push_str(&format!("{} = {}\n", key(rng, keys), value(rng, 0)));
    }
    out.push('\n');
}

/// A manifest from the grammar: real tables and keys, typos, strangers and hostile values.
fn manifest_text(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.percent(50) {
        out.push_str("#:schema ./schema/service.schema.json\n\n");
    }
    for (name, keys) in TABLES {
        if rng.percent(85) {
            table(rng, name, keys, &mut out);
        }
    }
    for _ in 0..rng.below(4) {
        let header = format!("services.{}", key(rng, NAMES));
        table(rng, &header, SERVICE_KEYS, &mut out);
    }
    for _ in 0..rng.below(4) {
        let header = format!("checks.{}", key(rng, NAMES));
        table(rng, &header, CHECK_KEYS, &mut out);
    }
    if rng.percent(5) {
        table(rng, "unknown", CHECK_KEYS, &mut out);
    }
    if rng.percent(40) {
        files_table(rng, &mut out);
    }
    if rng.percent(20) && out.contains("[app]\n") {
        let line = format!("[app]\ncargo-manifest = {:?}\n", rng.pick(SOURCES));
        out = out.replacen("[app]\n", &line, 1);
    }
    out
}

/// A `[files]` table: keys from [`FILE_KEYS`], sources from [`SOURCES`], in the string and
/// the table form, with owners and modes.
fn files_table(rng: &mut Rng, out: &mut String) {
    out.push_str("[files]\n");
    for _ in 0..rng.below(4) {
        let key = rng.pick(FILE_KEYS);
        let from = rng.pick(SOURCES);
        let value = match rng.below(3) {
            0 => format!("{from:?}"),
            1 => format!(
                "{{ from = {from:?}, owner = {:?}, mode = {:?}{} }}",
                rng.pick(NAMES),
                rng.pick(MODES),
                if rng.percent(30) {
                    ", allow-setid = true"
                } else {
                    ""
                }
            ),
            _ => format!("{{ owner = \"web\", mode = {:?} }}", rng.pick(MODES)),
        };
        out.push_str(&format!("{key:?} = {value}\n"));
    }
    out.push('\n');
}

/// The fuzzed project's tree: `site/` with files, directories, a FIFO and links that
/// point into it, at it, out of it and nowhere; `loop` and `out` links at the top; a
/// workspace `ws/`, a `leak/Cargo.toml` link to a host file and a `dir/Cargo.toml`
/// directory, for `cargo-manifest`.
fn make_tree(dir: &camino::Utf8Path) {
    use std::os::unix::fs::symlink;
    make_site(dir);
    symlink(".", dir.join("loop")).unwrap();
    symlink("/etc", dir.join("out")).unwrap();
    symlink("nope", dir.join("dangling")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status()
        .unwrap();
    assert!(fifo.success());
    std::fs::create_dir_all(dir.join("ws")).unwrap();
    std::fs::write(dir.join("ws/Cargo.toml"), "[workspace]\n").unwrap();
    std::fs::create_dir_all(dir.join("leak")).unwrap();
    symlink("/proc/self/environ", dir.join("leak/Cargo.toml")).unwrap();
    std::fs::create_dir_all(dir.join("dir/Cargo.toml")).unwrap();
}

/// `site/`, clean: files, directories, and a link to a file.
fn make_site(dir: &camino::Utf8Path) {
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("d0/d1")).unwrap();
    std::fs::write(site.join("f"), "file\n").unwrap();
    std::fs::write(site.join("d0/d1/g"), "deep\n").unwrap();
    std::os::unix::fs::symlink("f", site.join("a")).unwrap();
}

/// One change to `site/`: a new link (to a target of [`LINK_TARGETS`]), file, directory or
/// FIFO at a random place, or an entry removed. Small: past 40 entries it only removes.
fn mutate_tree(rng: &mut Rng, dir: &camino::Utf8Path) {
    let site = dir.join("site");
    let mut entries: Vec<camino::Utf8PathBuf> = Vec::new();
    let mut stack = vec![site.clone()];
    while let Some(d) = stack.pop() {
        entries.push(d.clone());
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in read.flatten() {
            let path = camino::Utf8PathBuf::from_path_buf(e.path()).unwrap();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                _ => entries.push(path),
            }
        }
    }
    let place = entries[rng.below(entries.len())].clone();
    let parent = if place.is_dir() && !place.is_symlink() {
        place.clone()
    } else {
        place.parent().unwrap().to_owned()
    };
    let name = parent.join(rng.pick(&["a", "b", "c", "d0", "l", "x"]));
    if entries.len() > 40 || rng.percent(25) {
        if place != site {
            let _ = std::fs::remove_file(&place).or_else(|_| std::fs::remove_dir_all(&place));
        }
        return;
    }
    let _ = match rng.below(4) {
        0 | 1 => std::os::unix::fs::symlink(rng.pick(LINK_TARGETS), &name),
        2 => std::fs::create_dir(&name),
        _ => std::fs::write(&name, "x"),
    };
}

/// Blow-ups: many keys, many problems, long lines, deep nesting, thousands of services
/// (each well under 1 MiB; `limits.rs` runs the 20,000-key and 1 MiB cases as processes).
fn pathological(rng: &mut Rng) -> String {
    let n = 1 + rng.below(10_000);
    let head = "[app]\nname = \"demo\"\nbinary = \"demo\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n";
    match rng.below(7) {
        0 => format!(
            "{head}\n[services.a]\ncommand = [{}]\n",
            vec!["\"${0}\""; n].join(", ")
        ),
        1 => format!(
            "{head}{}\n[services.a]\n",
            (0..n).map(|i| format!("k{i} = 1\n")).collect::<String>()
        ),
        2 => format!(
            "{head}{}",
            (0..n / 4)
                .map(|i| format!("[services.s{i}]\nuser = \"{}\"\n", rng.pick(NAMES)))
                .collect::<String>()
        ),
        3 => format!(
            "{head}\n[services.a]\ncommand = [\"{}\"]\n",
            "é".repeat(n * 10)
        ),
        4 => format!(
            "{head}\n[services.a]\nenv = {}\n",
            "[".repeat(n % 5000) + &"]".repeat(n % 5000)
        ),
        5 => format!(
            "{head}{}",
            (0..n / 4)
                .map(|i| format!("[checks.c{i}]\nhttp = \"http://x/{i}\"\nttl = 1\n"))
                .collect::<String>()
        ),
        // Valid: thousands of services and checks, through the plan and the render.
        _ => format!(
            "{head}{}{}",
            (0..n / 4)
                .map(|i| format!("[services.s{i}]\nuser = \"u{i}\"\nenv = {{ PORT = \"{i}\" }}\n"))
                .collect::<String>(),
            (0..n / 8)
                .map(|i| format!(
                    "[checks.c{i}]\nhttp = \"http://127.0.0.1:{}/\"\n",
                    1 + i % 65535
                ))
                .collect::<String>()
        ),
    }
}

/// Byte mutations of a real manifest: flips, inserts (invalid UTF-8, CR, NUL), cuts, repeats.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            1 => {
                let b = [0xff, 0xc3, b'\r', 0, b'"', b'[', b'\n', b'$', b'\''][rng.below(9)];
                bytes.insert(at, b);
            }
            2 => bytes.truncate(at),
            3 if at < bytes.len() => {
                let end = (at + rng.below(64)).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
            _ => {
                let piece = rng.pick(PIECES).as_bytes().to_vec();
                bytes.splice(at..at, piece);
            }
        }
    }
    bytes
}

/// What `main` would do with the input: load it, and either show the problems or plan and
/// render it. Returns whether it was a valid manifest.
fn exercise(bytes: &[u8], dir: &camino::Utf8Path) -> bool {
    match load::parse_bytes(bytes, dir) {
        Err(problems) => {
            let shown = Error::Invalid {
                path: "service.toml".into(),
                problems,
            }
            .to_string();
            assert!(shown.len() < 1 << 20, "{} bytes of problems", shown.len());
            false
        }
        Ok(m) => {
            let loaded = manifest::Loaded {
                manifest: m,
                path: dir.join("service.toml"),
                dir: dir.to_owned(),
                text: String::new(),
            };
            if let Ok(tree) = render::render(&plan::resolve(&loaded)) {
                let _ = render::listing(&tree);
            }
            true
        }
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn manifest_loading_survives_random_and_mutated_input() {
    let seconds: u64 = std::env::var("BKL_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("BKL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("fuzz: seed {seed} (replay with BKL_FUZZ_SEED={seed}), {seconds} s");
    let mut rng = Rng(seed);

    // A project for the inputs to name files in.
    let tmp = tempfile::tempdir().unwrap();
    let dir = Utf8PathBuf::from_path_buf(tmp.path().to_owned()).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "").unwrap();
    std::fs::write(dir.join("app.bin"), "").unwrap();
    std::fs::create_dir(dir.join("checks")).unwrap();
    std::fs::write(dir.join("checks/ok.sh"), "#!/bin/sh\n").unwrap();
    make_tree(&dir);
    let mut seeds: Vec<Vec<u8>> = examples()
        .iter()
        .map(|n| std::fs::read(root().join(example_manifest(n))).unwrap())
        .collect();
    seeds.extend(fixtures().iter().map(|p| std::fs::read(p).unwrap()));
    // A valid manifest that ships the fuzzed tree, for the mutations to start from.
    let files_seed =
        b"[app]\nname = \"demo\"\nbinary = \"demo\"\ntarget = \"x86_64-unknown-linux-musl\"\ncargo-manifest = \"Cargo.toml\"\n\n[services.web]\n\n[files]\n\"/srv/site\" = \"site\"\n\"/srv/d\" = { from = \"site/d0\", owner = \"web\", mode = \"0750\" }\n\"/etc/app/f\" = \"site/a\"\n"
            .to_vec();
    seeds.push(files_seed.clone());

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut valid, mut slowest) = (0u64, 0u64, Duration::ZERO);
    // Valid inputs that shipped files from the fuzzed tree.
    let mut valid_with_files = 0u64;
    let failures = root().join("target/fuzz-failures");
    while Instant::now() < deadline {
        let input: Vec<u8> = match rng.below(10) {
            0..=3 => manifest_text(&mut rng).into_bytes(),
            4 => {
                let text = manifest_text(&mut rng).replace('\n', "\r\n");
                text.into_bytes()
            }
            5 => pathological(&mut rng).into_bytes(),
            // The manifest that ships the tree, mutated or as it is.
            6 if rng.percent(30) => files_seed.clone(),
            6 => mutate(&mut rng, &files_seed),
            _ => {
                let seed = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, &seed)
            }
        };
        if runs % 100 == 0 {
            // Back to the clean tree now and then, so that valid manifests ship it too.
            std::fs::remove_dir_all(dir.join("site")).unwrap();
            make_site(&dir);
        } else if rng.percent(10) {
            mutate_tree(&mut rng, &dir);
        }
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| exercise(&input, &dir)));
        let took = start.elapsed();
        let save = |why: &str| {
            std::fs::create_dir_all(&failures).unwrap();
            let file = failures.join(format!("{seed}-{runs}.toml"));
            std::fs::write(&file, &input).unwrap();
            panic!("{why}: input saved as {}", file.display());
        };
        match outcome {
            Err(_) => save("a panic"),
            Ok(true) => {
                valid += 1;
                valid_with_files += u64::from(input.windows(8).any(|w| w == b"[files]\n"));
            }
            Ok(false) => {}
        }
        if took > Duration::from_secs(1) {
            save(&format!("an input took {took:?}"));
        }
        slowest = slowest.max(took);
        runs += 1;
    }
    let peak_mb = peak_rss_kib() / 1024;
    eprintln!(
        "fuzz: {runs} inputs ({valid} valid, planned and rendered; {valid_with_files} of them with [files]), slowest {slowest:?}, peak memory {peak_mb} MB"
    );
    assert!(runs > 100, "only {runs} inputs in {seconds} s");
    assert!(
        valid > 0,
        "no input was a valid manifest: the generator lost its way"
    );
    assert!(
        valid_with_files > 0,
        "no valid input shipped files: the tree or its seed lost its way"
    );
    assert!(peak_mb <= 200, "peak memory {peak_mb} MB");
}
