//! What the benchmark binaries share: the parts asked for, running a command timed, and a
//! mark of this run.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `command`, which must succeed (else its output is shown), and returns how long it
/// took.
pub fn timed(command: &mut Command) -> Duration {
    let start = Instant::now();
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// This run's own mark, for code changes docker has never seen.
pub fn run_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Whether the command line asks for `part`: `cargo bench` passes `--bench`; any other
/// argument picks a part, and none means every part.
pub fn wants(part: &str) -> bool {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    parts.is_empty() || parts.iter().any(|p| p == part)
}
