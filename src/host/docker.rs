//! Docker: the steps that check for an engine, build, push and run images, and the rules
//! for tags.
//!
//! The docker CLI is used as the user has it set up: `DOCKER_HOST` and the current docker
//! context apply. Nothing here forces BuildKit or the legacy builder: the generated
//! Dockerfile needs neither's special features, so both build it. Nothing here prints.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::exec::{Step, path_arg};

/// Checks a Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "invalid tag {tag:?}: a Docker tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )))
}

/// How long a question to the engine (its version, an image's or a container's state, a
/// listing, a tag) may take before the engine counts as not answering: an engine behind a
/// listener that accepts and never replies would otherwise hold the tool for ever.
pub const ENGINE_ANSWER: Duration = Duration::from_secs(10);

/// How long a command that makes the engine work (start a container, run a command in it)
/// may take beyond its own time, before the engine counts as not answering.
pub const ENGINE_WORK: Duration = Duration::from_secs(60);

/// The error of a step that could not reach the engine, with what to look at: the
/// engine's address, and where it comes from.
pub fn unreachable(error: Error) -> Error {
    match error {
        Error::Interrupted => error,
        error => Error::WithHint {
            error: Box::new(error),
            hint: format!(
                "is docker installed and does its daemon answer? the engine asked was {}",
                engine_address()
            ),
        },
    }
}

/// The engine the docker CLI speaks to, chosen as the CLI chooses it.
enum Chosen {
    /// `DOCKER_HOST`.
    Host(String),
    /// A docker context: `DOCKER_CONTEXT`'s, else the current one of docker's config.
    Context { name: String, from: &'static str },
    /// Docker's config could not be read: the CLI may use a context it names.
    UnreadableConfig,
    /// The default socket.
    Default,
}

fn chosen() -> Chosen {
    let set = |var| std::env::var(var).ok().filter(|v| !v.is_empty());
    if let Some(host) = set("DOCKER_HOST") {
        return Chosen::Host(host);
    }
    if let Some(name) = set("DOCKER_CONTEXT") {
        let from = "DOCKER_CONTEXT";
        return Chosen::Context { name, from };
    }
    match current_context() {
        Ok(Some(name)) => Chosen::Context {
            name,
            from: "docker's config",
        },
        Ok(None) => Chosen::Default,
        Err(()) => Chosen::UnreadableConfig,
    }
}

/// The engine the docker CLI speaks to, in words: `DOCKER_HOST`, else the docker context
/// (`DOCKER_CONTEXT` or the current one of docker's config), else the default socket.
pub fn engine_address() -> String {
    match chosen() {
        Chosen::Host(host) => format!("{host} (DOCKER_HOST)"),
        Chosen::Context { name, from } => format!("the docker context {name} ({from})"),
        Chosen::UnreadableConfig => {
            "the docker context of docker's config.json (unreadable)".to_string()
        }
        Chosen::Default => "unix:///var/run/docker.sock (the default)".to_string(),
    }
}

/// Where the engine runs, as `test` reaches the ports it publishes (see
/// [`engine_host_of`]); a context's endpoint is asked of `docker context inspect`.
pub fn engine_host() -> String {
    match chosen() {
        Chosen::Host(host) => engine_host_of(Some(&host), None),
        Chosen::Context { name, .. } => {
            let endpoint = context_endpoint_step(&name).output().ok();
            engine_host_of(None, endpoint.as_deref().map(str::trim))
        }
        Chosen::UnreadableConfig | Chosen::Default => engine_host_of(None, None),
    }
}

/// Where the engine runs: `127.0.0.1` for a local engine (a unix socket, the default),
/// else the host of `DOCKER_HOST` (`tcp://HOST:PORT`, `ssh://[USER@]HOST[:PORT]`) or of
/// the docker context's endpoint (`context_host`).
pub fn engine_host_of(docker_host: Option<&str>, context_host: Option<&str>) -> String {
    let endpoint = docker_host.filter(|h| !h.is_empty()).or(context_host);
    let host = endpoint.and_then(|e| {
        let rest = e
            .strip_prefix("tcp://")
            .or_else(|| e.strip_prefix("ssh://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        (!host.is_empty()).then(|| host.to_string())
    });
    host.unwrap_or_else(|| "127.0.0.1".to_string())
}

/// The endpoint of the docker context `name`, as `docker context inspect` answers it.
fn context_endpoint_step(name: &str) -> Step {
    Step::new("read the docker context's endpoint", "docker")
        .args([
            "context",
            "inspect",
            "--format",
            "{{.Endpoints.docker.Host}}",
        ])
        .arg(name)
        .within(ENGINE_ANSWER)
}

/// Asks the engine for its version: fails when docker is missing or the daemon does not
/// answer within [`ENGINE_ANSWER`] (or `limit`, if shorter), before anything is compiled
/// ([`unreachable`] says what to look at).
pub fn engine_step(limit: Duration) -> Step {
    Step::new("reach the Docker engine", "docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .within(limit.min(ENGINE_ANSWER))
}

/// Whether the engine answers `GET /_ping` at the default socket, asked directly: a
/// millisecond, where the docker CLI takes tens. Only where the CLI would ask there too:
/// `docker` is on PATH, and neither `DOCKER_HOST`, `DOCKER_CONTEXT` nor a current context in
/// docker's config points elsewhere. `false` means "ask the CLI", never "unreachable".
pub fn answers_at_default_socket() -> bool {
    use std::io::{Read, Write};
    let on_path = crate::host::exec::find_program("docker").is_some();
    if !on_path || !matches!(chosen(), Chosen::Default) {
        return false;
    }
    let ping = || -> std::io::Result<bool> {
        let mut socket = std::os::unix::net::UnixStream::connect("/var/run/docker.sock")?;
        let limit = Some(std::time::Duration::from_secs(2));
        socket.set_read_timeout(limit)?;
        socket.set_write_timeout(limit)?;
        socket.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut answer = [0u8; 12];
        socket.read_exact(&mut answer)?;
        Ok(answer.starts_with(b"HTTP/1.") && answer.ends_with(b" 200"))
    };
    ping().unwrap_or(false)
}

/// The current context docker's config (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`) names, other than `default`; `Err` when the config cannot be
/// read (or there is no home to find it in).
fn current_context() -> Result<Option<String>, ()> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::Path::new(&home).join(".docker"),
            None => return Err(()),
        },
    };
    let text = match std::fs::read_to_string(dir.join("config.json")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
    };
    let config = serde_json::from_str::<serde_json::Value>(&text).map_err(|_| ())?;
    Ok(config["currentContext"]
        .as_str()
        .filter(|c| !c.is_empty() && *c != "default")
        .map(str::to_string))
}

/// Asks the engine for the image ID of each reference. It is also the build's engine
/// check, before anything is compiled: see [`image_ids`].
pub fn image_ids_step(references: &[String]) -> Step {
    Step::new("reach the Docker engine", "docker")
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .args(references.iter().cloned())
        .within(ENGINE_ANSWER)
}

/// Runs an [`image_ids_step`]: `<reference> <image ID>` lines when every reference names
/// a local image, none when some does not (there is nothing to reuse then). Fails when
/// docker is missing or the engine does not answer.
pub fn image_ids(step: &Step) -> Result<String, Error> {
    let attempt = step.attempt().map_err(unreachable)?;
    let references = step.args.iter().skip(4);
    if attempt.success() {
        let ids = attempt.stdout.lines();
        return Ok(references
            .zip(ids)
            .map(|(r, id)| format!("{r} {id}\n"))
            .collect());
    }
    let mut complaints = attempt.stderr.lines().filter(|l| !l.trim().is_empty());
    if complaints.all(|l| l.contains("No such image")) {
        return Ok(String::new());
    }
    Err(unreachable(step.failed(&attempt)))
}

/// What one `docker build` makes: the version label and the revision. It tags nothing:
/// the SBOM layer built on it is the image the tags name.
pub struct BuildArgs<'a> {
    pub version: &'a str,
    pub revision: Option<&'a str>,
    pub no_cache: bool,
    /// `--platform`, for one of several platforms.
    pub platform: Option<&'a str>,
    /// The value of the build argument `BUILDKIT_LITE_BASE`: the platform's base, when
    /// `image.base` is a table.
    pub base: Option<&'a str>,
    /// Images whose layers the build may reuse (`--cache-from`): a registry cache.
    pub cache_from: &'a [String],
}

/// `docker build` of a staged context, with the OCI labels, untagged.
pub fn build_step(args: &BuildArgs, context: &Utf8Path, iidfile: &Utf8Path) -> Step {
    let BuildArgs {
        version,
        revision,
        no_cache,
        platform,
        base,
        cache_from,
    } = *args;
    let what = match platform {
        Some(platform) => format!("build the {platform} image with docker"),
        None => "build the image with docker".to_string(),
    };
    let mut step = Step::new(what, "docker").arg("build");
    if let Some(platform) = platform {
        step = step.args(["--platform", platform]);
    }
    if let Some(base) = base {
        step = step.args(["--build-arg", &format!("BUILDKIT_LITE_BASE={base}")]);
    }
    // The Dockerfile's last LABEL takes these: one metadata step, where each `--label`
    // would be a step of its own (with the legacy builder) rebuilt on every code change.
    step = step.args(["--build-arg", &format!("BUILDKIT_LITE_VERSION={version}")]);
    if let Some(rev) = revision {
        step = step.args(["--build-arg", &format!("BUILDKIT_LITE_REVISION={rev}")]);
    }
    step = with_cache_from(step, cache_from);
    if no_cache {
        step = step.arg("--no-cache");
    }
    // A failed step's container is removed too: a failed build leaves nothing behind.
    step.arg("--force-rm")
        .args(["--iidfile".to_string(), path_arg(iidfile)])
        .arg(path_arg(context))
}

/// `--cache-from` each of `images`, and BuildKit's inline cache in what is built (the
/// classic builder ignores that build argument; BuildKit then reads the cache from the
/// registry, and writes its metadata into the image it pushes).
fn with_cache_from(mut step: Step, images: &[String]) -> Step {
    for image in images {
        step = step.args(["--cache-from", image]);
    }
    if !images.is_empty() {
        step = step.args(["--build-arg", "BUILDKIT_INLINE_CACHE=1"]);
    }
    step
}

/// `step` (a docker build) without `--cache-from` any of `missing`.
pub fn without_cache_from(step: &Step, missing: &[String]) -> Step {
    let mut kept = Vec::with_capacity(step.args.len());
    let mut args = step.args.iter();
    while let Some(arg) = args.next() {
        match args.as_slice().first() {
            Some(image) if arg == "--cache-from" && missing.contains(image) => {
                args.next();
            }
            _ => kept.push(arg.clone()),
        }
    }
    Step {
        args: kept,
        ..step.clone()
    }
}

/// `docker build --target builder` of a staged context, tagged `cache`: the container
/// builder's build stage alone, an image of its own, so that it can be pushed as the
/// registry cache of the compiled dependencies (an image's own layers hold none of a build
/// stage's), reusing the layers of `cache_from`.
pub fn build_stage_step(context: &Utf8Path, cache: &str, cache_from: &[String]) -> Step {
    let step = Step::new("build the build stage with docker, for the cache", "docker")
        .args(["build", "--target", "builder", "--tag", cache]);
    with_cache_from(step, cache_from)
        .arg("--force-rm")
        .arg(path_arg(context))
}

/// `docker pull` of a registry cache image. A failure is no error: a first build has no
/// cache yet.
pub fn pull_step(reference: &str) -> Step {
    Step::new(format!("pull the cache {reference}"), "docker").args(["pull", "--quiet", reference])
}

/// What the legacy builder says when an image it had just taken from its cache is gone:
/// another process (`docker rmi`, `docker image prune`, `docker system prune`) removed it
/// while this build ran. The engine does not protect a build's cached layers
/// (moby/moby#29011, #33396).
const CACHE_LAYER_GONE: [&str; 3] = [
    "failed to get digest sha256:",
    "No such image: sha256:",
    "unknown parent image ID sha256:",
];

/// A failed `docker build` whose captured output shows a cached layer removed by another
/// process meanwhile, with what to do: nothing in the project is wrong, and the same build
/// again succeeds. (With `--verbose` docker's output is streamed, not captured: no hint.)
///
/// A build that failed in one of the Dockerfile's own checks (a user or group id the base
/// has already, say) printed why in a line of its own, `buildkit-lite: …`: the error then
/// shows those lines alone, not docker's whole log around them.
pub fn build_failed(mut error: Error) -> Error {
    if let Error::StepFailed { output, .. } = &mut error {
        let own: Vec<&str> = output
            .lines()
            .filter_map(|l| l.find("buildkit-lite: ").map(|at| &l[at..]))
            .filter(|l| !l.contains("printf"))
            .collect();
        if !own.is_empty() {
            *output = own.join("\n");
        }
    }
    match &error {
        Error::StepFailed { output, .. } if CACHE_LAYER_GONE.iter().any(|s| output.contains(s)) => {
            Error::WithHint {
                error: Box::new(error),
                hint: "a layer this build reused from Docker's cache was removed while it ran, by a `docker rmi` or prune beside it: build again; while builds run, remove images with `docker rmi --no-prune`, not a plain `docker rmi` or a prune".to_string(),
            }
        }
        _ => error,
    }
}

/// `docker tag IMAGE REFERENCE`: names a built image.
pub fn tag_step(image: &str, reference: &str) -> Step {
    Step::new(format!("tag the image {reference}"), "docker")
        .args(["tag", image, reference])
        .within(ENGINE_ANSWER)
}

/// `docker manifest create`: an image index (a manifest list) named `index` of the
/// platform images `images`, already pushed. `--amend` replaces a list of that name left
/// from an earlier run in docker's local store of lists.
/// A registry on this machine's loopback is spoken to over plain HTTP (`--insecure`), as
/// the engine itself does for pushes there; every other registry over HTTPS.
pub fn index_create_step(index: &str, images: &[String]) -> Step {
    Step::new(format!("make the image index {index}"), "docker")
        .args(["manifest", "create", "--amend"])
        .args(loopback_registry(index).then_some("--insecure"))
        .arg(index)
        .args(images.iter().map(String::as_str))
}

/// Whether the registry of `reference` is on the loopback (`localhost`, `127.*`, `[::1]`).
fn loopback_registry(reference: &str) -> bool {
    loopback_host(registry_of(reference))
}

/// Whether a registry (`host[:port]`) is on this machine: `localhost`, `127.…` or `[::1]`.
/// Only such a registry is spoken to in plain HTTP.
pub fn loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

/// `docker manifest push --purge`: pushes the image index and forgets the local list.
pub fn index_push_step(index: &str) -> Step {
    Step::new(format!("push the image index {index}"), "docker")
        .args(["manifest", "push", "--purge"])
        .args(loopback_registry(index).then_some("--insecure"))
        .arg(index)
}

/// Runs an [`index_push_step`] and returns the index's digest (`sha256:…`, the last line
/// docker prints).
pub fn push_index(step: &Step, index: &str) -> Result<String, Error> {
    let out = step.output()?;
    out.lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with("sha256:"))
        .map(str::to_string)
        .ok_or_else(|| Error::PushFailed {
            reference: index.to_string(),
            reason: format!("docker manifest push printed no digest: {}", out.trim()),
        })
}

/// `docker push` of one tag.
pub fn push_step(reference: &str) -> Step {
    Step::new(format!("push {reference}"), "docker").args(["push", reference])
}

/// Runs a push and returns the digest the registry gave the image (`sha256:…`, docker's
/// last line: `TAG: digest: sha256:… size: N`). A failure is [`Error::PushFailed`] with
/// docker's words and what most likely fixes it.
pub fn push(step: &Step, reference: &str) -> Result<String, Error> {
    let attempt = step.attempt()?;
    let said = format!("{}{}", attempt.stdout, attempt.stderr);
    let digest = said
        .lines()
        .filter_map(|line| line.split_once("digest: ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().next())
        .find(|d| d.starts_with("sha256:"));
    match (attempt.success(), digest) {
        (true, Some(digest)) => Ok(digest.to_string()),
        (true, None) => Err(Error::PushFailed {
            reference: reference.to_string(),
            reason: format!("docker printed no digest:\n{}", said.trim_end()),
        }),
        (false, _) => Err(Error::PushFailed {
            reference: reference.to_string(),
            reason: push_failure(reference, &said),
        }),
    }
}

/// Why a push failed, in a line that says what to do, then docker's last words.
fn push_failure(reference: &str, said: &str) -> String {
    let registry = registry_of(reference);
    let lower = said.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let hint = if has(&[
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
    ]) {
        format!("the registry {registry} wants credentials: run `docker login {registry}` first")
    } else if has(&[
        "connection refused",
        "no such host",
        "i/o timeout",
        "dial tcp",
        "connection reset",
    ]) {
        format!("no registry answers at {registry}: is it running, and is image.name right?")
    } else if has(&["denied"]) {
        format!(
            "the registry {registry} refused the push: do these credentials allow pushing to this repository?"
        )
    } else {
        "docker push failed".to_string()
    };
    let last: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = &last[last.len().saturating_sub(3)..];
    format!("{hint}\ndocker said: {}", last.join("\n"))
}

/// The registry host of an image reference: its first component when that has a `.` or a
/// `:` or is `localhost`, else Docker Hub.
fn registry_of(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Asks for the architecture of a local image (`amd64`, `arm64`): fails when there is none.
pub fn architecture_step(reference: &str) -> Step {
    Step::new(format!("read the architecture of {reference}"), "docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            reference,
        ])
        .within(ENGINE_ANSWER)
}

/// Asks for the ID of a local image: fails when there is none.
pub fn image_id_step(reference: &str) -> Step {
    Step::new(
        format!("find the image {reference} (build it first with `buildkit-lite build`)"),
        "docker",
    )
    .args(["image", "inspect", "--format", "{{.Id}}", reference])
    .within(ENGINE_ANSWER)
}

/// The label of a `test` container that names who started it: `<host>:<pid>`.
pub const TEST_OWNER_LABEL: &str = "dev.buildkit-lite.test.owner";

/// The run-time settings of a `test` container (`[test]`, `test --env` …). Each variable
/// is passed by name (`--env NAME`), its value in the docker CLI's own environment, so
/// that no command line shown (in an error, with `--verbose`) holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// Variables and their values, by name (one each).
    pub env: Vec<(String, String)>,
    pub env_file: Option<Utf8PathBuf>,
    pub network: Option<String>,
    /// `SRC:DST[:ro]`, a project directory made absolute.
    pub volumes: Vec<String>,
    /// How hardened the container runs (`test --hardened`, `--read-only`).
    pub hardening: Hardening,
}

/// The options of a hardened run, as production gives them (Kubernetes' restricted pod
/// security): `--read-only --tmpfs /run`, `--cap-drop ALL`, `--security-opt
/// no-new-privileges`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hardening {
    /// A read-only root, with a tmpfs on /run (owned by `run_owner`, when given).
    pub read_only: bool,
    /// No capability at all (an image whose processes all run as one non-root user).
    pub drop_capabilities: bool,
    pub no_new_privileges: bool,
    /// `uid:gid` of the image's user: /run's tmpfs is theirs.
    pub run_owner: Option<(u32, u32)>,
}

impl Hardening {
    /// The `docker run` options.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.read_only {
            let tmpfs = match self.run_owner {
                Some((uid, gid)) => format!("/run:uid={uid},gid={gid}"),
                None => "/run".to_string(),
            };
            args.extend(["--read-only".to_string(), "--tmpfs".to_string(), tmpfs]);
        }
        if self.drop_capabilities {
            args.extend(["--cap-drop".to_string(), "ALL".to_string()]);
        }
        if self.no_new_privileges {
            let opt = "no-new-privileges".to_string();
            args.extend(["--security-opt".to_string(), opt]);
        }
        args
    }
}

impl RunSettings {
    /// The `docker run` arguments: names, never values.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (name, _) in &self.env {
            args.extend(["--env".to_string(), name.clone()]);
        }
        if let Some(file) = &self.env_file {
            args.extend(["--env-file".to_string(), file.to_string()]);
        }
        if let Some(network) = &self.network {
            args.extend(["--network".to_string(), network.clone()]);
        }
        for volume in &self.volumes {
            args.extend(["--volume".to_string(), volume.clone()]);
        }
        args.extend(self.hardening.args());
        args
    }
}

/// How `test` runs its container: the ports it publishes, on which address, and its
/// run-time settings.
pub struct RunAs<'a> {
    pub ports: &'a [u16],
    pub address: &'a str,
    pub settings: &'a RunSettings,
}

/// `docker run` of a `test` container of `reference`, named `name`, labelled as a test's
/// and with its `owner` (`<host>:<pid>`), so that a later test can tell a leftover.
/// Every port is published on the address of the engine's host (its loopback for a local
/// engine), on a port Docker picks.
pub fn run_step(reference: &str, name: &str, owner: &str, run_as: &RunAs) -> Step {
    let mut step = Step::new(format!("start a container of {reference}"), "docker")
        .args(["run", "--detach", "--name", name])
        .args(["--label", "dev.buildkit-lite.test=true"])
        .args(["--label", &format!("{TEST_OWNER_LABEL}={owner}")]);
    let address = match run_as.address.contains(':') {
        true => format!("[{}]", run_as.address),
        false => run_as.address.to_string(),
    };
    for port in run_as.ports {
        step = step.args(["--publish", &format!("{address}::{port}")]);
    }
    // Each variable by name: docker takes its value from its own environment.
    for (name, value) in &run_as.settings.env {
        step = step.env(name, value);
    }
    (step.args(run_as.settings.args()))
        .arg(reference)
        .within(ENGINE_WORK)
}

/// `docker port NAME`: where the container's ports are published.
pub fn port_step(name: &str) -> Step {
    Step::new(
        "read where the test container's ports are published",
        "docker",
    )
    .args(["port", name])
    .within(ENGINE_ANSWER)
}

/// Every `test` container of `reference`, running or not: `<id> <owner>` a line.
pub fn test_containers_step(reference: &str) -> Step {
    Step::new("list the containers of earlier tests", "docker")
        .args([
            "ps",
            "--all",
            "--no-trunc",
            "--filter",
            "label=dev.buildkit-lite.test",
            "--filter",
            &format!("ancestor={reference}"),
            "--format",
            &format!("{{{{.ID}}}} {{{{.Label \"{TEST_OWNER_LABEL}\"}}}}"),
        ])
        .within(ENGINE_ANSWER)
}

/// Runs `script` with `sh -c` inside the running container `name`; the engine has
/// [`ENGINE_WORK`] beyond the `limit` the script itself has.
pub fn exec_step(name: &str, script: &str, limit: Duration) -> Step {
    Step::new("run a command in the test container", "docker")
        .args(["exec", name, "sh", "-c", script])
        .within(limit + ENGINE_WORK)
}

/// The state of container `name`: `<running> <exit code>`.
pub fn state_step(name: &str) -> Step {
    Step::new("read the test container's state", "docker")
        .args([
            "container",
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.ExitCode}}",
            name,
        ])
        .within(ENGINE_ANSWER)
}

/// The last lines of what container `name` printed (both streams, into stdout and stderr).
pub fn logs_step(name: &str, lines: usize) -> Step {
    Step::new("read the test container's output", "docker")
        .args(["logs", "--tail", &lines.to_string(), name])
        .within(ENGINE_ANSWER)
}

/// `docker stop` with the image's stop-timeout.
pub fn stop_step(name: &str, timeout: u64) -> Step {
    Step::new("stop the test container", "docker")
        .args(["stop", "--time", &timeout.to_string(), name])
        .within(Duration::from_secs(timeout) + ENGINE_WORK)
}

/// Removes container `name` and its anonymous volumes, running or not.
pub fn remove_step(name: &str) -> Step {
    Step::new("remove the test container", "docker")
        .args(["rm", "--force", "--volumes", name])
        .within(ENGINE_ANSWER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_host_is_read_from_docker_host_or_the_context() {
        let host = |docker_host, context| engine_host_of(docker_host, context);
        assert_eq!(host(None, None), "127.0.0.1");
        assert_eq!(host(Some("unix:///var/run/docker.sock"), None), "127.0.0.1");
        assert_eq!(host(Some("tcp://127.0.0.2:2375"), None), "127.0.0.2");
        assert_eq!(
            host(Some("ssh://ci@builder.example:2222"), None),
            "builder.example"
        );
        assert_eq!(host(Some("tcp://[fd00::5]:2376"), None), "fd00::5");
        assert_eq!(host(None, Some("ssh://me@10.1.2.3")), "10.1.2.3");
        assert_eq!(host(Some(""), Some("tcp://b:1")), "b");
    }

    #[test]
    fn a_missing_cache_image_leaves_only_its_cache_from() {
        let images = ["r/a:c".to_string(), "r/a:c-runtime".to_string()];
        let step = build_stage_step(Utf8Path::new("ctx"), "r/a:c", &images);
        let kept = without_cache_from(&step, &images[..1]);
        let line = kept.command_line();
        assert!(!line.contains("--cache-from r/a:c "), "{line}");
        assert!(line.contains("--cache-from r/a:c-runtime "), "{line}");
        assert!(line.contains("--tag r/a:c "), "{line}");
        assert_eq!(kept.args.len(), step.args.len() - 2);
        assert_eq!(without_cache_from(&step, &[]).args, step.args);
    }

    #[test]
    fn the_registry_is_the_first_component_with_a_dot_or_port() {
        assert_eq!(registry_of("127.0.0.1:5000/acme/app:v1"), "127.0.0.1:5000");
        assert_eq!(
            registry_of("registry.example.com/app:v1"),
            "registry.example.com"
        );
        assert_eq!(registry_of("localhost/app:v1"), "localhost");
        assert_eq!(registry_of("acme/app:v1"), "docker.io");
        assert_eq!(registry_of("app:v1"), "docker.io");
    }

    #[test]
    fn a_failed_push_says_what_to_do() {
        let said = "The push refers to repository [127.0.0.1:5999/app]\nGet \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused\n";
        let why = push_failure("127.0.0.1:5999/app:v1", said);
        assert!(
            why.starts_with("no registry answers at 127.0.0.1:5999"),
            "{why}"
        );
        assert!(why.contains("connection refused"), "{why}");
        let why = push_failure("127.0.0.1:5000/app:v1", "no basic auth credentials\n");
        assert!(
            why.contains("run `docker login 127.0.0.1:5000` first"),
            "{why}"
        );
    }

    #[test]
    fn a_build_that_lost_a_cached_layer_says_to_build_again() {
        // What docker 20.10 printed in a loop of builds beside `docker rmi`.
        let said = "Step 15/17 : ARG BUILDKIT_LITE_REVISION=\"\"\n ---> Running in c22fdcda92dd\nRemoving intermediate container c22fdcda92dd\nfailed to get digest sha256:89907731f7bbbc02a0ddd1c4e79fbb6387ee6bb41a2076bfa05d2bb732a5bec2: open /var/lib/docker/image/overlay2/imagedb/content/sha256/89907731f7bbbc02a0ddd1c4e79fbb6387ee6bb41a2076bfa05d2bb732a5bec2: no such file or directory\n";
        let failed = |output: &str| Error::StepFailed {
            summary: "build the image with docker".into(),
            command: "docker build .".into(),
            status: "exited with status 1".into(),
            output: output.into(),
        };
        let error = build_failed(failed(said));
        assert!(
            error.help().unwrap().starts_with(
                "a layer this build reused from Docker's cache was removed while it ran"
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("failed to get digest"),
            "{error}"
        );
        let other = build_failed(failed("E: Unable to locate package nosuch\n"));
        assert_eq!(other.help(), None);
    }

    #[test]
    fn tags_follow_dockers_rule() {
        assert!(validate_tag("v1").is_ok());
        assert!(validate_tag("1.2.3-rc_1").is_ok());
        assert!(validate_tag("").is_err());
        assert!(validate_tag("-x").is_err());
        assert!(validate_tag("a:b").is_err());
        assert!(validate_tag(&"x".repeat(129)).is_err());
    }
}
