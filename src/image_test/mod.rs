//! `test TAG`: proves a built image in a throwaway container. Every service and log
//! service must come up and stay up, every check's command must pass inside the container,
//! and `docker stop` must end it with exit 0 within the image's stop-timeout.
//!
//! The container is always removed: on success, on failure, on an error and on Ctrl-C
//! (the interrupt stops the running docker command; the [`Throwaway`] guard's drop then
//! removes the container). One deadline (`--timeout`, default 60 s) covers waiting for the
//! services and retrying the checks; the stop has the image's own stop-timeout. Nothing here
//! prints: each result goes to the caller as it is known, and the whole [`Report`] at the end.

pub mod ports;
pub mod settings;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;
use crate::host::docker;
use crate::host::exec::{Attempt, Bounded};
use crate::layout::SERVICE_DIR;
use crate::plan::{CheckPlan, Plan, ServicePlan};
use crate::shell;

/// A service that restarted this often while the test waited is crash-looping...
const CRASH_LOOP_RESTARTS: usize = 3;
/// ...and so is one seen down (exited, runit to restart it) at every look for this long:
/// a process that dies at once is rarely seen running.
const DOWN_FOR: Duration = Duration::from_secs(3);
/// How many of a crash-looping service's last log lines its result shows.
const LAST_LINES: usize = 10;

/// How long `docker exec` of a check may outlive the check's own limit inside the
/// container before the tool kills it.
const EXEC_GRACE: Duration = Duration::from_secs(3);
/// How often the services' state and a failing check are asked again.
const POLL: Duration = Duration::from_millis(250);
/// How long a service must run as one process, with its log service, to count as up.
const STEADY: Duration = Duration::from_secs(1);
/// What is kept of a check's output (the rest is read and dropped)...
const OUTPUT_KEPT: usize = 64 * 1024;
/// ...and the most of its first line a result shows.
const LINE_SHOWN: usize = 200;
/// How long a check may run once the deadline has passed (it still runs once), unless its
/// own `timeout` is shorter.
const LAST_TRY: Duration = Duration::from_secs(crate::plan::HTTP_TIMEOUT);

pub struct Options {
    pub tag: String,
    /// `--platform`: the platform's image (`<name>:<TAG>-<arch>`) of several; the default
    /// is `<name>:<TAG>`, the host's platform's.
    pub platform: Option<String>,
    /// For the services to come up and the checks to pass, together.
    pub timeout: Duration,
    /// `--env`, `--env-file`, `--network`, `--volume`: over the manifest's `[test]`.
    pub settings: settings::Flags,
}

/// What a result is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A service and its log service: up, and staying up.
    Service,
    /// A check's command, run inside the container.
    Check,
    /// An exposed port, reached from outside the container.
    Port,
    /// A start-up task that did not finish in time.
    Task,
    /// The container itself, when it exited on its own (a failed start-up task).
    Container,
    /// `docker stop`: exit 0 within the stop-timeout.
    Stop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Check => "check",
            Kind::Port => "port",
            Kind::Task => "task",
            Kind::Container => "container",
            Kind::Stop => "stop",
        }
    }
}

/// One result of the test.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: Kind,
    /// The service's or the check's name (the image's, for the container and the stop).
    pub name: String,
    pub passed: bool,
    /// Seconds from the container's start (services, checks) or of the stop.
    pub seconds: f64,
    /// What was seen: the check's output line, the service's status, the exit status.
    pub detail: String,
}

/// The whole test.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `<repository>:<tag>`.
    pub image: String,
    pub passed: bool,
    /// Whether a check ran or a port was reached: a pass without either proves only that
    /// the services stayed up, and says so.
    pub probed: bool,
    /// The `docker run` options the container was hardened with (`--hardened`,
    /// `--read-only`); none for a plain run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hardening: Vec<String>,
    pub seconds: f64,
    pub results: Vec<Outcome>,
}

impl Report {
    /// `kind name` of each failed result, for the error message.
    pub fn failures(&self) -> Vec<String> {
        let failed = self.results.iter().filter(|o| !o.passed);
        failed
            .map(|o| format!("{} {}", o.kind.name(), o.name))
            .collect()
    }
}

/// The image `test` runs: `<repository>:<tag>`, or with `--platform` of several,
/// `<repository>:<tag>-<arch>`. A platform the manifest does not build is a usage error.
fn image_of(plan: &Plan, opts: &Options) -> Result<String, Error> {
    let repository = &plan.image.repository;
    let Some(wanted) = &opts.platform else {
        return Ok(format!("{repository}:{}", opts.tag));
    };
    let Some(platform) = plan.platforms.iter().find(|p| &p.name == wanted) else {
        let built: Vec<&str> = plan.platforms.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::Argument(format!(
            "--platform {wanted}: the manifest builds {}",
            built.join(" and ")
        )));
    };
    Ok(if plan.several_platforms() {
        platform.reference(repository, &opts.tag)
    } else {
        format!("{repository}:{}", opts.tag)
    })
}

/// Runs the test of `<image.repository>:<tag>`; calls `report` with each result as it is
/// known. Errors are for what keeps the test from running (no engine, no such image); a
/// failing service or check is a report that did not pass.
pub fn test(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(&Outcome),
) -> Result<Report, Error> {
    docker::engine_step(opts.timeout)
        .output()
        .map_err(docker::unreachable)?;
    let image = image_of(plan, opts)?;
    let settings = settings::merge(&plan.test, &opts.settings, &plan.manifest_dir, &plan.image)?;
    docker::image_id_step(&image).output()?;
    remove_leftovers(&image)?;
    let host = docker::engine_host();
    let publish_on = match host.parse::<std::net::IpAddr>() {
        Ok(address) => address.to_string(),
        Err(_) => "0.0.0.0".to_string(),
    };
    let run_as = docker::RunAs {
        ports: &plan.image.expose,
        address: &publish_on,
        settings: &settings,
    };
    let container = Throwaway::start(&image, &plan.app.name, &run_as)?;
    let started = Instant::now();
    let mut run = Run {
        engine_host: &host,
        container: &container.name,
        image: &image,
        started,
        deadline: started + opts.timeout,
        results: Vec::new(),
        report,
    };
    let pids = run.wait_for_services(&plan.services, &plan.tasks)?;
    if run.results.iter().any(|o| !o.passed) {
        // A service is down: each check still runs, once, for what it says.
        run.deadline = Instant::now();
    }
    if let Some(pids) = pids {
        for check in &plan.checks {
            if !run.check(check)? {
                break;
            }
        }
        run.ports(&plan.image.expose)?;
        run.still_up(&plan.services, &pids)?;
        run.stop(plan.image.stop_timeout)?;
    }
    let results = run.results;
    Ok(Report {
        passed: results.iter().all(|o| o.passed),
        probed: (results.iter()).any(|o| matches!(o.kind, Kind::Check | Kind::Port)),
        hardening: settings.hardening.args(),
        seconds: started.elapsed().as_secs_f64(),
        image,
        results,
    })
}

/// Removes the containers earlier `test` runs of `image` left behind: those labelled with
/// this host and the pid of a `test` that is gone (killed with SIGKILL, say). A test that
/// still runs, here or on another host, keeps its container.
fn remove_leftovers(image: &str) -> Result<(), Error> {
    let host = this_host();
    let listed = docker::test_containers_step(image).output()?;
    for line in listed.lines() {
        let mut words = line.split_whitespace();
        let (Some(id), Some(owner)) = (words.next(), words.next()) else {
            continue;
        };
        let gone = owner
            .strip_prefix(&format!("{host}:"))
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !is_test_process(pid));
        if gone {
            docker::remove_step(id).cleanup();
        }
    }
    Ok(())
}

/// This host's name, as the kernel has it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether `pid` is a running buildkit-lite.
fn is_test_process(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim() == "buildkit-lite")
}

/// A container that is removed, whatever happens, when this goes out of scope.
struct Throwaway {
    name: String,
}

impl Throwaway {
    /// Starts a container of `image`, named after the app, this process and the time, so
    /// that tests running at once do not collide. The guard exists before `docker run`, so
    /// an interrupt during it still removes the container.
    fn start(image: &str, app: &str, run_as: &docker::RunAs) -> Result<Self, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("buildkit-lite-test-{app}-{}-{nanos}", std::process::id());
        let guard = Throwaway { name };
        let owner = format!("{}:{}", this_host(), std::process::id());
        docker::run_step(image, &guard.name, &owner, run_as).output()?;
        Ok(guard)
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        docker::remove_step(&self.name).cleanup();
    }
}

/// A test under way: the container, the clock, and the results so far.
struct Run<'a> {
    /// Where the engine's published ports are reached.
    engine_host: &'a str,
    container: &'a str,
    image: &'a str,
    started: Instant,
    deadline: Instant,
    results: Vec<Outcome>,
    report: &'a mut dyn FnMut(&Outcome),
}

/// What `sv status` says of a service: its pid when it runs, and whether its log service
/// runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    pid: Option<u32>,
    log_up: bool,
    /// Down while runit wants it up: it exited, and runit restarts it.
    exited: bool,
}

/// What one look at a service says.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Running as this pid, with its log service, for [`STEADY`].
    Up(u32),
    /// It keeps dying: how it was seen.
    CrashLooping(String),
    /// Neither yet.
    Waiting,
}

/// A service being waited for.
struct Waiting<'a> {
    service: &'a ServicePlan,
    /// Every pid it has run as: more than one is a restart.
    pids: Vec<u32>,
    /// When it was first seen running as its latest pid, with its log service.
    steady_since: Option<Instant>,
    /// When it was first seen exited, at every look since.
    down_since: Option<Instant>,
    /// Its last `sv status` line.
    last: String,
}

impl<'a> Waiting<'a> {
    fn new(service: &'a ServicePlan) -> Self {
        Waiting {
            service,
            pids: Vec::new(),
            steady_since: None,
            down_since: None,
            last: String::new(),
        }
    }

    /// Takes in the service's `sv status` line (none when sv said nothing of it), seen at
    /// `now`.
    fn observe(&mut self, line: Option<&str>, now: Instant) -> Verdict {
        self.last = line.unwrap_or("no status yet").to_string();
        let status = line.and_then(parse_status);
        let logs = self.service.log.is_some();
        let running = status
            .as_ref()
            .and_then(|s| s.pid.filter(|_| s.log_up || !logs));
        if running.is_none_or(|pid| self.pids.last() != Some(&pid)) {
            self.steady_since = running.map(|_| now);
        }
        if let Some(pid) = running.filter(|p| !self.pids.contains(p)) {
            self.pids.push(pid);
        }
        let exited = status.is_some_and(|s| s.exited);
        self.down_since = match (exited, self.down_since) {
            (true, None) => Some(now),
            (true, since) => since,
            (false, _) => None,
        };
        let held = |since: Option<Instant>, long| since.is_some_and(|t| now - t >= long);
        if let (Some(pid), true) = (running, held(self.steady_since, STEADY)) {
            return Verdict::Up(pid);
        }
        if self.pids.len() > CRASH_LOOP_RESTARTS {
            return Verdict::CrashLooping(format!("restarted {} times", self.pids.len() - 1));
        }
        if held(self.down_since, DOWN_FOR) {
            let how = format!("it exits as soon as runit starts it ({})", self.last);
            return Verdict::CrashLooping(how);
        }
        Verdict::Waiting
    }
}

impl Run<'_> {
    /// Reports a result. Its detail quotes what the container printed, which may hold
    /// terminal escape sequences: every control character is shown escaped (`\x1b[31m`).
    fn push(&mut self, kind: Kind, name: &str, passed: bool, seconds: f64, detail: String) {
        let outcome = Outcome {
            kind,
            name: name.to_string(),
            passed,
            seconds,
            detail: escape_control(&detail),
        };
        (self.report)(&outcome);
        self.results.push(outcome);
    }

    fn since_start(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn exec(&self, script: &str) -> Result<Attempt, Error> {
        docker::exec_step(self.container, script, Duration::ZERO).attempt()
    }

    /// Waits until every service runs, with its log service, for at least a second. Returns
    /// each service's pid, or `None` when the container exited (reported as such).
    fn wait_for_services(
        &mut self,
        services: &[ServicePlan],
        tasks: &[ServicePlan],
    ) -> Result<Option<BTreeMap<String, u32>>, Error> {
        let script = status_script(services);
        let mut waiting: Vec<Waiting> = services.iter().map(Waiting::new).collect();
        let mut up = BTreeMap::new();
        loop {
            let attempt = self.exec(&script)?;
            if !attempt.success() && !self.alive()? {
                return Ok(None);
            }
            let mut still = Vec::new();
            for mut w in waiting {
                match self.settle(&mut w, &attempt.stdout)? {
                    Verdict::Up(pid) => {
                        up.insert(w.service.name.clone(), pid);
                    }
                    Verdict::CrashLooping(_) => {}
                    Verdict::Waiting => still.push(w),
                }
            }
            waiting = still;
            if waiting.is_empty() {
                return Ok(Some(up));
            }
            if Instant::now() >= self.deadline {
                let task = self.running_task(tasks)?;
                if let Some(task) = &task {
                    let secs = self.since_start();
                    let detail = format!(
                        "task {task} still running after {secs:.0}s: no service was started"
                    );
                    self.push(Kind::Task, task, false, secs, detail);
                }
                for w in waiting {
                    let detail = match &task {
                        Some(task) => format!("not started: task {task} did not finish"),
                        None => format!("not up in time: {}", w.last),
                    };
                    self.push(
                        Kind::Service,
                        &w.service.name,
                        false,
                        self.since_start(),
                        detail,
                    );
                }
                return Ok(Some(up));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Reads one service's line of `sv status` and reports it when it is up or
    /// crash-looping.
    fn settle(&mut self, w: &mut Waiting, sv_status: &str) -> Result<Verdict, Error> {
        let line = status_line(sv_status, &w.service.name);
        let name = &w.service.name;
        let verdict = w.observe(line, Instant::now());
        match &verdict {
            Verdict::Up(pid) => {
                let log = if w.service.log.is_some() {
                    ", and its log"
                } else {
                    ""
                };
                let detail = format!("up (pid {pid}{log})");
                self.push(Kind::Service, name, true, self.since_start(), detail);
            }
            Verdict::CrashLooping(how) => {
                let output = self.last_log_line(w.service)?;
                let detail = format!("crash-looping: {how}{output}");
                self.push(Kind::Service, name, false, self.since_start(), detail);
            }
            Verdict::Waiting => {}
        }
        Ok(verdict)
    }

    /// The start-up task that the init started and has not finished, from its lines on
    /// the container's output (`task NAME: starting` without `task NAME: done`).
    fn running_task(&self, tasks: &[ServicePlan]) -> Result<Option<String>, Error> {
        if tasks.is_empty() {
            return Ok(None);
        }
        let logs = docker::logs_step(self.container, 200).attempt()?;
        let started = logs.stdout.lines().rev().find_map(|l| {
            l.strip_prefix("buildkit-lite-init: task ")?
                .split_once(": ")
        });
        Ok(match started {
            Some((name, "starting")) => Some(name.to_string()),
            _ => None,
        })
    }

    /// What the service printed last, from its log file when it has one: the line that
    /// says what went wrong first (`panicked at`, `error`, `Error:`), then its last
    /// [`LAST_LINES`] lines, without svlogd's timestamps.
    fn last_log_line(&self, service: &ServicePlan) -> Result<String, Error> {
        let Some(log) = &service.log else {
            return Ok(String::new());
        };
        let file = shell::quote(&format!("{}/current", log.dir));
        let attempt = self.exec(&format!("tail -n {LAST_LINES} {file}"))?;
        Ok(last_output(&attempt.stdout))
    }

    /// Whether the container still runs; when it exited, reports it with its status and
    /// the end of its output.
    fn alive(&mut self) -> Result<bool, Error> {
        let state = docker::state_step(self.container).output()?;
        let mut words = state.split_whitespace();
        if words.next() == Some("true") {
            return Ok(true);
        }
        let code = words.next().unwrap_or("?").to_string();
        // The logging driver may still be writing the container's last lines: read until
        // two reads agree (a second at most).
        let mut output = String::new();
        for _ in 0..4 {
            let logs = docker::logs_step(self.container, 5).attempt()?;
            let now = format!("{}{}", logs.stdout, logs.stderr);
            if now == output {
                break;
            }
            output = now;
            std::thread::sleep(POLL);
        }
        let last: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        let detail = format!("exited with status {code}: {}", last.join(" | "));
        let image = self.image.to_string();
        self.push(Kind::Container, &image, false, self.since_start(), detail);
        Ok(false)
    }

    /// Runs the check's command in the container until it exits 0 or the deadline passes
    /// (at least once). Each run is killed, inside the container and out, at the check's
    /// `timeout` or the deadline, whichever comes first; at most [`OUTPUT_KEPT`] bytes of
    /// its output are kept. Returns whether the container still runs.
    fn check(&mut self, check: &CheckPlan) -> Result<bool, Error> {
        // Whether a run was killed at the check's own timeout (not at the deadline).
        let mut hit_own_timeout = false;
        loop {
            let (limit, own) = self.limit_of(check);
            let attempt = self.exec_bounded(&check.sensu.command, limit)?;
            hit_own_timeout |= attempt.timed_out && own;
            let line = first_line(&attempt.output);
            if attempt.code == Some(0) {
                self.push(Kind::Check, &check.name, true, self.since_start(), line);
                return Ok(true);
            }
            if Instant::now() >= self.deadline {
                let timeout = check.sensu.timeout.unwrap_or_default();
                let detail = match (attempt.timed_out, attempt.code) {
                    (true, _) if hit_own_timeout => {
                        format!("timed out: killed at its timeout of {timeout}s: {line}")
                    }
                    (true, _) => format!("still running at the test's deadline, killed: {line}"),
                    (false, Some(code)) => format!("{line} (exit {code})"),
                    (false, None) => format!("{line} (killed by a signal)"),
                };
                self.push(Kind::Check, &check.name, false, self.since_start(), detail);
                return self.alive();
            }
            std::thread::sleep(POLL);
        }
    }

    /// How long one run of `check` may take: until the deadline, or its own `timeout` if
    /// that is sooner (then `true`); once the deadline has passed, [`LAST_TRY`] (or its
    /// timeout). Whole seconds, at least one.
    fn limit_of(&self, check: &CheckPlan) -> (Duration, bool) {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let budget = if left.is_zero() { LAST_TRY } else { left };
        let own = check.sensu.timeout.map(Duration::from_secs);
        let (limit, is_own) = match own {
            Some(own) if own <= budget => (own, true),
            _ => (budget, false),
        };
        let secs = limit.as_secs_f64().ceil().max(1.0) as u64;
        (Duration::from_secs(secs), is_own)
    }

    /// Runs `script` in the container under `timeout -s KILL` (its whole process group is
    /// killed there at `limit`), and kills `docker exec` itself shortly after, should the
    /// engine not answer.
    fn exec_bounded(&self, script: &str, limit: Duration) -> Result<Bounded, Error> {
        let bounded = format!(
            "exec timeout -s KILL {} sh -c {}",
            limit.as_secs(),
            shell::quote(script)
        );
        let mut attempt = docker::exec_step(self.container, &bounded, limit)
            .attempt_bounded(limit + EXEC_GRACE, OUTPUT_KEPT)?;
        // timeout's own status when it killed the command: 137 (KILL), or 124.
        if matches!(attempt.code, Some(124 | 137)) {
            attempt.timed_out = true;
        }
        Ok(attempt)
    }

    /// Each exposed port answers from outside the container (on the host's loopback, where
    /// the container publishes it), tried until the deadline; one that does not is
    /// explained from where the container listens (`ports.rs`).
    fn ports(&mut self, ports: &[u16]) -> Result<(), Error> {
        if ports.is_empty() {
            return Ok(());
        }
        let published = ports::published(&docker::port_step(self.container).output()?);
        for port in ports {
            let Some(host_port) = published.get(port).copied() else {
                continue;
            };
            let name = port.to_string();
            loop {
                if ports::answers(self.engine_host, host_port) {
                    let at = self.engine_host;
                    let detail = format!("answers from outside ({at}:{host_port})");
                    self.push(Kind::Port, &name, true, self.since_start(), detail);
                    break;
                }
                if Instant::now() >= self.deadline {
                    let proc_net = self.exec("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")?;
                    let listeners = ports::listeners(&proc_net.stdout, *port);
                    let detail = ports::why_not(*port, &listeners);
                    self.push(Kind::Port, &name, false, self.since_start(), detail);
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
        Ok(())
    }

    /// Each service that came up still runs as the same process: a restart while the
    /// checks ran is a failure.
    fn still_up(
        &mut self,
        services: &[ServicePlan],
        pids: &BTreeMap<String, u32>,
    ) -> Result<(), Error> {
        let attempt = self.exec(&status_script(services))?;
        for (name, pid) in pids {
            let line = status_line(&attempt.stdout, name);
            let now = line.and_then(parse_status).and_then(|s| s.pid);
            if now != Some(*pid) {
                let detail = format!(
                    "restarted during the test (was pid {pid}): {}",
                    line.unwrap_or("no status")
                );
                self.push(Kind::Service, name, false, self.since_start(), detail);
            }
        }
        Ok(())
    }

    /// `docker stop` with the image's stop-timeout: passes on exit 0 before the timeout.
    fn stop(&mut self, stop_timeout: u64) -> Result<(), Error> {
        let began = Instant::now();
        docker::stop_step(self.container, stop_timeout).output()?;
        let took = began.elapsed().as_secs_f64();
        let state = docker::state_step(self.container).output()?;
        let code = state.split_whitespace().nth(1).unwrap_or("?").to_string();
        let in_time = took < stop_timeout as f64;
        let detail = match (code.as_str(), in_time) {
            ("0", true) => format!("exit 0 after {took:.1}s"),
            (_, false) => format!(
                "still running after the stop-timeout of {stop_timeout}s, then killed (exit {code}): a process ignored SIGTERM"
            ),
            _ => format!("exit {code} after {took:.1}s, not 0"),
        };
        let passed = code == "0" && in_time;
        let image = self.image.to_string();
        self.push(Kind::Stop, &image, passed, took, detail);
        Ok(())
    }
}

/// `sv status` of every service, by its directory.
fn status_script(services: &[ServicePlan]) -> String {
    let dirs: Vec<String> = services
        .iter()
        .map(|s| shell::quote(&format!("{SERVICE_DIR}/{}", s.name)))
        .collect();
    format!("sv status {}", dirs.join(" "))
}

/// The line of `sv status` output about the service `name`.
fn status_line<'a>(sv_status: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("{SERVICE_DIR}/{name}:");
    sv_status.lines().find(|l| l.contains(&marker))
}

/// Reads a line of `sv status`: `run: /etc/service/api: (pid 23) 5s; run: log: (pid 22) 5s`.
fn parse_status(line: &str) -> Option<Status> {
    let (main, log) = match line.split_once("; ") {
        Some((main, log)) => (main, Some(log)),
        None => (line, None),
    };
    if !main.starts_with("run: ") && !main.starts_with("down: ") {
        return None;
    }
    let pid = main
        .split_once("(pid ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(pid, _)| pid.parse().ok())
        .filter(|_| main.starts_with("run: "));
    Some(Status {
        pid,
        log_up: log.is_some_and(|l| l.starts_with("run: log:")),
        exited: main.starts_with("down: ") && main.contains("want up"),
    })
}

/// `; LINE WHY; last lines: A | B | …` from a log's last lines: the one that says what
/// went wrong first (`panicked at`, else `error` or `Error:`), then them all, without
/// svlogd's `-tt` timestamps.
fn last_output(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((stamp, rest)) if stamp.starts_with(|c: char| c.is_ascii_digit()) => rest,
            _ => l,
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let why = lines
        .iter()
        .find(|l| l.contains("panicked at"))
        .or_else(|| {
            lines
                .iter()
                .find(|l| l.contains("error") || l.contains("Error:"))
        });
    let first = why.map_or(String::new(), |l| format!("; {l}"));
    format!("{first}; last lines: {}", lines.join(" | "))
}

/// `text` with each control character written as an escape: `\x1b`, `\x07`, `\u{9b}`.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The first line a check printed, at most [`LINE_SHOWN`] characters of it, or a note that
/// it printed none.
fn first_line(output: &str) -> String {
    let Some(line) = output.trim().lines().next() else {
        return "(no output)".to_string();
    };
    match line.char_indices().nth(LINE_SHOWN) {
        Some((cut, _)) => format!("{}… (cut at {LINE_SHOWN} characters)", &line[..cut]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_the_container_are_shown_escaped() {
        assert_eq!(
            escape_control("\u{1b}[31mred\u{1b}[0m\u{7}\ttab \u{9b}2J ok ü"),
            "\\x1b[31mred\\x1b[0m\\x07\\x09tab \\u{9b}2J ok ü"
        );
    }

    #[test]
    fn sv_status_lines_are_read() {
        let up = parse_status("run: /etc/service/api: (pid 23) 5s; run: log: (pid 22) 6s");
        assert_eq!(
            up,
            Some(Status {
                pid: Some(23),
                log_up: true,
                exited: false
            })
        );
        let down =
            parse_status("down: /etc/service/api: 0s, normally up, want up; run: log: (pid 22) 6s");
        assert_eq!(
            down,
            Some(Status {
                pid: None,
                log_up: true,
                exited: true
            })
        );
        let no_log = parse_status("run: /etc/service/w: (pid 7) 0s").unwrap();
        assert_eq!((no_log.pid, no_log.log_up), (Some(7), false));
        assert_eq!(
            parse_status(
                "warning: /etc/service/api: unable to open supervise/ok: file does not exist"
            ),
            None
        );
    }

    fn service(logs: bool) -> ServicePlan {
        ServicePlan {
            name: "api".into(),
            argv: Vec::new(),
            user: None,
            env: Vec::new(),
            workdir: "/".into(),
            log: logs.then(|| crate::plan::ServiceLog {
                dir: "/var/log/api".into(),
                config: Vec::new(),
            }),
        }
    }

    #[test]
    fn a_service_is_up_once_it_ran_as_one_process_with_its_log_for_a_second() {
        let (api, t0) = (service(true), Instant::now());
        let mut w = Waiting::new(&api);
        let without_log = "run: /etc/service/api: (pid 9) 0s; down: log: 0s, normally up";
        assert_eq!(w.observe(Some(without_log), t0), Verdict::Waiting);
        let up = "run: /etc/service/api: (pid 9) 0s; run: log: (pid 8) 0s";
        assert_eq!(w.observe(Some(up), t0), Verdict::Waiting);
        assert_eq!(w.observe(Some(up), t0 + STEADY / 2), Verdict::Waiting);
        assert_eq!(w.observe(Some(up), t0 + STEADY), Verdict::Up(9));
        // A new pid starts the second again.
        let mut w = Waiting::new(&api);
        assert_eq!(w.observe(Some(up), t0), Verdict::Waiting);
        let other = "run: /etc/service/api: (pid 10) 0s; run: log: (pid 8) 1s";
        assert_eq!(w.observe(Some(other), t0 + STEADY), Verdict::Waiting);
        assert_eq!(w.observe(Some(other), t0 + STEADY * 2), Verdict::Up(10));
    }

    #[test]
    fn a_service_that_keeps_dying_is_crash_looping() {
        let (api, t0) = (service(false), Instant::now());
        let mut w = Waiting::new(&api);
        for pid in 1..=CRASH_LOOP_RESTARTS {
            let line = format!("run: /etc/service/api: (pid {pid}) 0s");
            assert_eq!(w.observe(Some(&line), t0), Verdict::Waiting);
        }
        let line = "run: /etc/service/api: (pid 99) 0s";
        assert!(
            matches!(w.observe(Some(line), t0), Verdict::CrashLooping(how) if how == "restarted 3 times")
        );
        // Dying at once: seen down at every look.
        let mut w = Waiting::new(&api);
        let down = "down: /etc/service/api: 0s, normally up, want up";
        assert_eq!(w.observe(Some(down), t0), Verdict::Waiting);
        assert!(matches!(
            w.observe(Some(down), t0 + DOWN_FOR),
            Verdict::CrashLooping(_)
        ));
        // Taken down on purpose (no "want up") is not crashing.
        let mut w = Waiting::new(&api);
        let stopped = "down: /etc/service/api: 5s, normally up";
        assert_eq!(
            w.observe(Some(stopped), t0 + DOWN_FOR * 2),
            Verdict::Waiting
        );
    }
}
