//! Subprocesses as data: a [`Step`] says what it is for and what it runs; it prints itself
//! for `--dry-run` and runs in one place, with its output streamed through or captured.
//!
//! Interrupts: [`interrupt`] (called from the SIGINT/SIGTERM handler `main` installs) kills
//! every running child (steps may run side by side on threads) and makes every later step
//! fail with [`Error::Interrupted`], so that the build stops without leaving orphans or a
//! half-written context. Nothing here prints.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::shell;

/// One command the tool runs, with the reason it runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the step is for, as the end of "could not …": "compile the app with cargo".
    pub summary: String,
    pub program: String,
    pub args: Vec<String>,
    /// Extra environment variables for the child (the rest is inherited).
    pub env: Vec<(String, String)>,
    /// The directory it runs in; the tool's own when `None`.
    pub cwd: Option<Utf8PathBuf>,
    /// How long it may run: past that its process group is killed and it fails as not
    /// answering ([`Step::within`]). Unbounded when `None`.
    pub limit: Option<Duration>,
}

impl Step {
    pub fn new(summary: impl Into<String>, program: impl Into<String>) -> Self {
        Step {
            summary: summary.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            limit: None,
        }
    }

    /// Bounds the step to `limit`: for a question to a Docker engine, which may never
    /// answer (a listener that accepts and says nothing).
    pub fn within(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<Utf8PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The command line alone, shell-quoted, with its environment (no directory).
    pub fn command_line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell::quote(v)))
            .collect();
        words.push(shell::quote(&self.program));
        words.extend(self.args.iter().map(|a| shell::quote(a)));
        words.join(" ")
    }

    fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(&self.program, &self.args);
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            e = e.dir(dir.as_std_path());
        }
        // Its own process group, so that an interrupt stops the child and all it started
        // (cargo's rustc and build scripts), not just the child.
        e.before_spawn(|cmd| {
            std::os::unix::process::CommandExt::process_group(cmd, 0);
            Ok(())
        })
    }

    /// Runs the step with its output streamed through to the tool's stderr, both streams:
    /// a child's output is progress, and the tool's stdout is kept for its own results
    /// (`--json` documents stay parseable).
    pub fn run(&self) -> Result<(), Error> {
        self.run_expression(self.expression().stdout_to_stderr().unchecked())
            .map(|_| ())
    }

    /// Runs the step with both streams captured, not shown: a failure's error carries all
    /// of its output (what a user needs to see then, and only then).
    pub fn run_quietly(&self) -> Result<(), Error> {
        let expression = self
            .expression()
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked();
        let output = self.finish(expression)?;
        if output.status.success() {
            return Ok(());
        }
        let all = String::from_utf8_lossy(&output.stdout);
        Err(self.failure(output.status.code(), all.trim_end().to_string()))
    }

    /// Runs the step and returns its stdout; its stderr is kept for the error message.
    pub fn output(&self) -> Result<String, Error> {
        let out = self.run_expression(
            self.expression()
                .stdout_capture()
                .stderr_capture()
                .unchecked(),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the step and returns what it did, whatever its exit status: fails only when it
    /// cannot start or is interrupted. For commands whose failure is an answer (a check).
    pub fn attempt(&self) -> Result<Attempt, Error> {
        let expression = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        let output = self.finish(expression)?;
        Ok(Attempt {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs the step with both streams merged and captured, keeping at most `keep` bytes
    /// of them (the rest is read and dropped, so the child never blocks on a full pipe),
    /// and kills its process group once `limit` has passed. For commands a project wrote
    /// that may print without end (`yes`) or never exit (`sleep infinity`): a check.
    pub fn attempt_bounded(&self, limit: Duration, keep: usize) -> Result<Bounded, Error> {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let spawn_error = |source| Error::Spawn {
            summary: self.summary.clone(),
            command: self.command_line(),
            source,
        };
        let reader = self
            .expression()
            .stderr_to_stdout()
            .unchecked()
            .reader()
            .map_err(spawn_error)?;
        let reader = Arc::new(reader);
        let running = Arc::new(Running::Reader(reader.clone()));
        self::running().push(running.clone());
        let started = Instant::now();
        let (output, timed_out) = std::thread::scope(|side| {
            let reading = side.spawn(|| read_capped(&*reader, keep));
            let mut timed_out = false;
            while !matches!(reader.try_wait(), Ok(Some(_))) {
                if started.elapsed() >= limit {
                    timed_out = true;
                    kill_groups(&running.pids(), "-KILL");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (reading.join().unwrap_or_default(), timed_out)
        });
        let status = reader.try_wait().ok().flatten().map(|o| o.status);
        self::running().retain(|r| !Arc::ptr_eq(r, &running));
        if interrupted() {
            return Err(Error::Interrupted);
        }
        Ok(Bounded {
            code: status.and_then(|s| s.code()).filter(|_| !timed_out),
            output: String::from_utf8_lossy(&output).into_owned(),
            timed_out,
        })
    }

    /// Runs the step even after an interrupt, quietly, and ignores how it ends: for
    /// cleaning up (removing a throwaway container) on the way out. Its bound
    /// ([`Step::within`]) holds, and a signal stops it like any other step.
    pub fn cleanup(&self) {
        let Ok(handle) = self
            .expression()
            .stdout_null()
            .stderr_null()
            .unchecked()
            .start()
        else {
            return;
        };
        let _ = self.wait(Arc::new(handle));
    }

    fn run_expression(&self, expression: duct::Expression) -> Result<std::process::Output, Error> {
        let output = self.finish(expression)?;
        if output.status.success() {
            return Ok(output);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(self.failure(output.status.code(), tail(&stderr, 20)))
    }

    /// The error of this step when it ran as `attempt` and failed: what it was for, its
    /// command line, its status and the end of its stderr.
    pub fn failed(&self, attempt: &Attempt) -> Error {
        self.failure(attempt.code, tail(&attempt.stderr, 20))
    }

    /// The error of this step when it exited with `code` (none: a signal), showing `output`.
    fn failure(&self, code: Option<i32>, output: String) -> Error {
        let status = match code {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        self.failure_status(status, output)
    }

    /// The error of this step, ended as `status` says ("exited with status 3").
    fn failure_status(&self, status: String, output: String) -> Error {
        Error::StepFailed {
            summary: self.summary.clone(),
            command: self.command_line(),
            status,
            output,
        }
    }

    /// Starts the expression, waits for it (an interrupt kills it), and returns its output
    /// whatever its status.
    fn finish(&self, expression: duct::Expression) -> Result<std::process::Output, Error> {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let handle = expression.start().map_err(|source| Error::Spawn {
            summary: self.summary.clone(),
            command: self.command_line(),
            source,
        })?;
        let (result, timed_out) = self.wait(Arc::new(handle));
        if interrupted() {
            return Err(Error::Interrupted);
        }
        if timed_out {
            let seconds = self.limit.unwrap_or_default().as_secs();
            return Err(self.failure_status(
                format!("did not answer within {seconds} s and was stopped"),
                String::new(),
            ));
        }
        result.map_err(|source| Error::Spawn {
            summary: self.summary.clone(),
            command: self.command_line(),
            source,
        })
    }

    /// Waits for a started child, where an interrupt can stop it, and within the step's
    /// limit: past it, a watchdog kills the child's process group. Returns how it ended,
    /// and whether the limit ended it.
    fn wait(&self, handle: Arc<duct::Handle>) -> (std::io::Result<std::process::Output>, bool) {
        let running = Arc::new(Running::Handle(handle.clone()));
        self::running().push(running.clone());
        let (done, watched) = std::sync::mpsc::channel::<()>();
        let result = std::thread::scope(|side| {
            let watchdog = self.limit.map(|limit| {
                let pids = handle.pids();
                side.spawn(move || {
                    let expired = watched
                        .recv_timeout(limit)
                        .is_err_and(|e| e == std::sync::mpsc::RecvTimeoutError::Timeout);
                    if expired {
                        kill_groups(&pids, "-KILL");
                    }
                    expired
                })
            });
            let result = handle.wait().cloned();
            drop(done);
            let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
            (result, timed_out)
        });
        self::running().retain(|r| !Arc::ptr_eq(r, &running));
        result
    }
}

/// What a bounded step did ([`Step::attempt_bounded`]): its exit code (none when a signal
/// killed it, or the limit did), the start of its merged output, and whether the limit
/// killed it.
#[derive(Debug, Clone)]
pub struct Bounded {
    pub code: Option<i32>,
    pub output: String,
    pub timed_out: bool,
}

/// Reads `reader` to its end, keeping the first `keep` bytes.
fn read_capped(mut reader: impl std::io::Read, keep: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = keep.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// What a step did: its exit code (none when a signal killed it) and its output.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Attempt {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Step {
    /// `[in DIR: ]COMMAND`, as `--dry-run` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dir) = &self.cwd {
            write!(f, "cd {} && ", shell::quote(&path_arg(dir)))?;
        }
        f.write_str(&self.command_line())
    }
}

/// The first file named `name` in a directory of `PATH`, as a shell would find the
/// program.
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let candidate = dir.join(name);
        candidate.is_file().then_some(candidate)
    })
}

/// A path as a command-line argument: one that starts with `-` (a project in `-x/`) gets
/// `./` in front, so that no program (docker, cargo, git, `cd`) reads it as an option.
pub fn path_arg(path: &Utf8Path) -> String {
    if path.as_str().starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The children running now: more than one while probes run side by side.
static RUNNING: Mutex<Vec<Arc<Running>>> = Mutex::new(Vec::new());

/// A running child, as duct hands it out: waited for, or read from.
enum Running {
    Handle(Arc<duct::Handle>),
    Reader(Arc<duct::ReaderHandle>),
}

impl Running {
    fn pids(&self) -> Vec<u32> {
        match self {
            Running::Handle(h) => h.pids(),
            Running::Reader(r) => r.pids(),
        }
    }

    fn done(&self) -> bool {
        match self {
            Running::Handle(h) => matches!(h.try_wait(), Ok(Some(_))),
            Running::Reader(r) => matches!(r.try_wait(), Ok(Some(_))),
        }
    }

    fn kill(&self) {
        let _ = match self {
            Running::Handle(h) => h.kill(),
            Running::Reader(r) => r.kill(),
        };
    }
}

fn running() -> std::sync::MutexGuard<'static, Vec<Arc<Running>>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `signal` (`-TERM`, `-KILL`) to the process group of each of `pids`.
fn kill_groups(pids: &[u32], signal: &str) {
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args([signal, "--", &format!("-{pid}")])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Stops every running child and its process group (SIGTERM, then SIGKILL after two
/// seconds), and makes every later step fail as interrupted. Called from the signal
/// handler's thread.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let children = running().clone();
    let pids: Vec<u32> = children.iter().flat_map(|c| c.pids()).collect();
    kill_groups(&pids, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !children.iter().all(|c| c.done()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_groups(&pids, "-KILL");
    for child in &children {
        child.kill();
    }
}

/// Whether an interrupt arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_print_as_shell_command_lines() {
        let s = Step::new("say hello", "echo")
            .args(["hello world", "it's"])
            .env("A", "b c")
            .cwd("/tmp/x y");
        assert_eq!(
            s.to_string(),
            r#"cd '/tmp/x y' && A='b c' echo 'hello world' 'it'"'"'s'"#
        );
    }

    #[test]
    fn a_path_that_looks_like_an_option_is_not_one() {
        assert_eq!(path_arg(Utf8Path::new("-x/ctx")), "./-x/ctx");
        assert_eq!(path_arg(Utf8Path::new("x/-ctx")), "x/-ctx");
        assert_eq!(path_arg(Utf8Path::new("/abs")), "/abs");
        assert_eq!(
            Step::new("s", "true").cwd("-x").to_string(),
            "cd ./-x && true"
        );
    }

    #[test]
    fn a_failed_step_names_its_purpose_command_and_status() {
        let err = Step::new("fail on purpose", "sh")
            .args(["-c", "echo oops >&2; exit 3"])
            .output()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("could not fail on purpose: `sh -c"),
            "{msg}"
        );
        assert!(msg.contains("exited with status 3"), "{msg}");
        assert!(msg.contains("oops"), "{msg}");
    }

    #[test]
    fn a_missing_program_names_the_program() {
        let err = Step::new("run a ghost", "no-such-program-here")
            .output()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot run `no-such-program-here`"),
            "{err}"
        );
    }
}
