//! What the benchmark binaries share: running a command timed, and a mark of this run.

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
