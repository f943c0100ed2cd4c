//! Helpers for the tests that build and run real images: a Docker engine is required (the
//! tests fail when `CI` is set and there is none; elsewhere they say so and stop), project
//! copies in temporary directories, and containers and images removed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{cmd, eventually, root, stderr, stdout};

/// The first line of a test that needs a Docker engine: with `CI` set a missing engine
/// fails the test; elsewhere the test says why and stops (see [`docker_ready`]).
#[allow(unused_macros)]
macro_rules! require_docker {
    () => {
        if !common::docker::docker_ready() {
            return;
        }
    };
}

/// True when a Docker engine answers. With `CI` set, a missing engine fails the test;
/// elsewhere the test prints why it stops and returns early.
pub fn docker_ready() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    let base = ok
        && Command::new("docker")
            .args(["image", "inspect", "debian:bookworm-slim"])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok && base {
        return true;
    }
    let why = if ok {
        "the local debian:bookworm-slim image is missing"
    } else {
        "no Docker engine answers"
    };
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and {why}: `.ci/setup` must provide it (Docker tests never skip in CI)");
    }
    eprintln!("SKIPPED (not CI): {why}; run `.ci/setup` to run this test");
    false
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A copy of `examples/NAME` (without build output) in a temporary directory.
pub struct Project {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Project {
    pub fn copy_of(example: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(example);
        copy_dir(&root().join("examples").join(example), &dir);
        Project { tmp, dir }
    }

    /// A copy of `tests/fixtures/hostile`, with a real program (`/bin/true`) as its
    /// prebuilt binary, inside the project as the rule wants.
    pub fn hostile() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hostile");
        copy_dir(&root().join("tests/fixtures/hostile"), &dir);
        std::fs::copy("/bin/true", dir.join("app.bin")).unwrap();
        Project { tmp, dir }
    }

    /// A project of `manifest` alone, with a real program (`/bin/true`) as `app.bin` for
    /// its `prebuilt` binary: images without compiling, for services that are shell
    /// commands.
    pub fn prebuilt(name: &str, manifest: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("service.toml"), manifest).unwrap();
        std::fs::copy("/bin/true", dir.join("app.bin")).unwrap();
        Project { tmp, dir }
    }

    /// A copy of `tests/fixtures/NAME`, a crate with its manifest and its `Cargo.lock`.
    pub fn fixture(name: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        let from = root().join("tests/fixtures").join(name);
        copy_dir(&from, &dir);
        std::fs::copy(from.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        Project { tmp, dir }
    }

    /// A copy of `examples/minimal` with `extra` appended to its manifest.
    pub fn minimal_plus(extra: &str) -> Self {
        let p = Project::copy_of("minimal");
        p.edit_manifest(|t| format!("{t}\n{extra}"));
        p
    }

    /// [`Project::prebuilt`], with `files` (path, text) written into it.
    pub fn prebuilt_with(name: &str, manifest: &str, files: &[(&str, &str)]) -> Self {
        let p = Project::prebuilt(name, manifest);
        for (path, text) in files {
            let path = p.dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        p
    }

    /// `buildkit-lite ARGS` from the project's directory.
    pub fn run(&self, args: &[&str]) -> Output {
        cmd().current_dir(&self.dir).args(args).output().unwrap()
    }

    /// `buildkit-lite test TAG -f <copy>/service.toml EXTRA…`.
    pub fn prove(&self, tag: &str, extra: &[&str]) -> Output {
        cmd()
            .current_dir(&self.dir)
            .args(["test", tag, "-f", "service.toml"])
            .args(extra)
            .output()
            .unwrap()
    }

    /// Sets `image.name`: the image goes to `repository` (a test registry's).
    pub fn set_image_name(&self, repository: &str) {
        let name = format!("[image]\nname = \"{repository}\"\n");
        self.edit_manifest(|m| match m.contains("[image]\n") {
            true => m.replacen("[image]\n", &name, 1),
            false => format!("{name}\n{m}"),
        });
    }

    /// `check` and `render` of the project's manifest exit 1 naming `key` and saying `why`.
    pub fn assert_refused(&self, key: &str, why: &str) {
        for args in [
            &["check", "-f", "service.toml"][..],
            &["render", "-f", "service.toml"],
        ] {
            let o = self.run(args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert!(
                err.contains(&format!(": {key}: ")),
                "{args:?}: no `{key}` in {err}"
            );
            assert!(err.contains(why), "{args:?}: no `{why}` in {err}");
        }
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join("service.toml")
    }

    /// Rewrites service.toml with `edit`.
    pub fn edit_manifest(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.manifest()).unwrap();
        std::fs::write(self.manifest(), edit(text)).unwrap();
    }

    /// `buildkit-lite build TAG -f <copy>/service.toml EXTRA…`, from the copy's directory.
    pub fn build(&self, tag: &str, extra: &[&str]) -> Output {
        self.build_with_env(tag, extra, &[])
    }

    pub fn build_with_env(&self, tag: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        cmd()
            .current_dir(&self.dir)
            .args(["build", tag, "-f", "service.toml"])
            .args(extra)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    pub fn context(&self, app: &str) -> PathBuf {
        self.dir
            .join("target/buildkit-lite")
            .join(app)
            .join("context")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// [`Project::prebuilt_with`], built: the image is removed when dropped.
pub fn built(name: &str, manifest: &str, files: &[(&str, &str)]) -> (Project, Image) {
    let p = Project::prebuilt_with(name, manifest, files);
    let (image, _) = build_image(&p, name);
    (p, image)
}

/// Builds a project and returns the image, removed when dropped.
pub fn build_image(project: &Project, repository: &str) -> (Image, Output) {
    build_image_with_env(project, repository, &[])
}

/// [`build_image`] with extra environment variables for `buildkit-lite build`.
pub fn build_image_with_env(
    project: &Project,
    repository: &str,
    env: &[(&str, &str)],
) -> (Image, Output) {
    let tag = unique("test");
    // --verbose: the tests read the command lines and docker's build log.
    let out = project.build_with_env(&tag, &["--verbose"], env);
    assert!(
        out.status.success(),
        "build failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let reference = format!("{repository}:{tag}");
    assert!(
        stdout(&out).contains(&format!("built {reference}")),
        "{}",
        stdout(&out)
    );
    (Image(reference), out)
}

/// An image reference, removed when dropped.
pub struct Image(pub String);

impl Drop for Image {
    /// `-f`: also when a test gave it a second tag. `--no-prune`: see [`remove_image`].
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", "--no-prune", &self.0]);
    }
}

/// Removes one image's tag without pruning its untagged parents. The tests build in
/// parallel on one engine and share its layer cache: a plain `docker rmi` also deletes the
/// parents no other image holds, and one of them may be the cached layer that a build
/// running beside it has just reused and not yet built on. That build then fails with
/// "failed to get digest sha256:…: no such file or directory" (moby/moby#29011); six
/// builds of one example in a loop beside `rmi`s failed 22 times in 150, and none with
/// `--no-prune`. The parents left are the shared cached layers, reused by the next run.
pub fn remove_image(reference: &str) -> Output {
    docker(&["rmi", "--no-prune", reference])
}

impl Image {
    /// The tag of the reference (after the last `:`).
    pub fn tag(&self) -> &str {
        self.0.rsplit_once(':').map_or("", |(_, tag)| tag)
    }

    pub fn label(&self, name: &str) -> String {
        let o = docker(&[
            "image",
            "inspect",
            "-f",
            &format!("{{{{index .Config.Labels {name:?}}}}}"),
            &self.0,
        ]);
        stdout(&o).trim_end_matches('\n').to_string()
    }

    pub fn inspect(&self, format: &str) -> String {
        stdout(&docker(&["image", "inspect", "-f", format, &self.0]))
            .trim()
            .to_string()
    }
}

/// Every container, running or not, that `buildkit-lite test` started from `image`.
pub fn test_containers(image: &Image) -> Vec<String> {
    let o = docker(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        "label=dev.buildkit-lite.test",
        "--filter",
        &format!("ancestor={}", image.0),
    ]);
    assert!(o.status.success(), "docker ps: {}", stderr(&o));
    stdout(&o).lines().map(String::from).collect()
}

/// `buildkit-lite test` passes on `image`: a passing line for each service and check, for
/// each exposed port (reached from outside) and for the stop, the summary, and no
/// container left behind.
pub fn assert_proven(project: &Project, image: &Image, services: &[&str], checks: &[&str]) {
    let o = project.prove(image.tag(), &[]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let lines = services
        .iter()
        .map(|s| format!("ok   service {s} "))
        .chain(checks.iter().map(|c| format!("ok   check {c} ")))
        .chain(["ok   stop ".to_string()]);
    for line in lines {
        assert!(
            out.lines().any(|l| l.starts_with(&line)),
            "no `{line}`:\n{out}"
        );
    }
    let exposed = image.inspect("{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}");
    let ports: Vec<&str> = exposed.split_whitespace().collect();
    for port in &ports {
        let line = format!("ok   port {} ", port.trim_end_matches("/tcp"));
        assert!(
            out.lines().any(|l| l.starts_with(&line)),
            "no `{line}`:\n{out}"
        );
    }
    let n = services.len() + checks.len() + ports.len() + 1;
    // Without a check or a port, the verdict says that nothing was probed.
    let verdict = match checks.is_empty() && ports.is_empty() {
        true => "passed: services stayed up; no check or port was probed",
        false => "passed",
    };
    let summary = format!("test {}: {verdict} ({n} results, ", image.0);
    assert!(out.contains(&summary), "no `{summary}`:\n{out}");
    assert_eq!(test_containers(image), Vec::<String>::new());
}

/// A running container, removed when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    pub fn start(image: &Image, docker_args: &[&str]) -> Self {
        let name = unique("bkl-test");
        let o = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                "buildkit-lite-test=1",
            ])
            .args(docker_args)
            .arg(&image.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "docker run: {}", stderr(&o));
        Container { name }
    }

    /// Runs `sh -c SCRIPT` in the container.
    pub fn sh(&self, script: &str) -> Output {
        docker(&["exec", &self.name, "sh", "-c", script])
    }

    /// Runs `sh -c SCRIPT` and returns its stdout; panics when it fails.
    pub fn sh_ok(&self, script: &str) -> String {
        let o = self.sh(script);
        assert!(
            o.status.success(),
            "`{script}` failed: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// Waits until every service and log service reports `run:` (fails after `limit`).
    /// Returns how long it took.
    pub fn wait_until_up(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        eventually(limit, "every service and log service `run:`", || {
            let o = self.sh("sv status /etc/service/*");
            let text = stdout(&o);
            let all_up = o.status.success()
                && !text.is_empty()
                && text
                    .lines()
                    .all(|l| l.starts_with("run:") && !l.contains("; down: log"));
            if all_up {
                return Ok(start.elapsed());
            }
            Err(format!("{text}{}", stderr(&o)))
        })
    }

    /// Waits until `script` succeeds in the container (fails after `limit`).
    pub fn eventually_ok(&self, limit: Duration, script: &str) {
        eventually(limit, &format!("`{script}` succeeds"), || {
            super::succeeded(&self.sh(script))
        })
    }

    /// `USER|COMMAND LINE` of every process in the container, read from /proc.
    pub fn processes(&self) -> Vec<(String, String)> {
        let out = self.sh_ok(
            r#"for p in /proc/[0-9]*; do c=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue; [ -n "$c" ] && printf '%s|%s\n' "$(stat -c %U "$p")" "$c"; done; true"#,
        );
        out.lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(u, c)| (u.to_string(), c.trim().to_string()))
            .collect()
    }

    /// The user running the process whose command line starts with `prefix`.
    pub fn user_of(&self, prefix: &str) -> String {
        let procs = self.processes();
        procs
            .iter()
            .find(|(_, c)| c.starts_with(prefix))
            .map(|(u, _)| u.clone())
            .unwrap_or_else(|| panic!("no process `{prefix}…` in {procs:#?}"))
    }

    /// Asserts that a process with exactly this command line runs.
    pub fn assert_running(&self, command_line: &str) {
        let procs = self.processes();
        assert!(
            procs.iter().any(|(_, c)| c == command_line),
            "no `{command_line}` in {procs:#?}"
        );
    }

    /// Stops the container; returns how long `docker stop` took and the exit code.
    pub fn stop(&self, timeout: u64) -> (Duration, i64) {
        let start = Instant::now();
        let o = docker(&["stop", "-t", &timeout.to_string(), &self.name]);
        let took = start.elapsed();
        assert!(o.status.success(), "docker stop: {}", stderr(&o));
        let code = stdout(&docker(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}}",
            &self.name,
        ]))
        .trim()
        .parse()
        .unwrap();
        (took, code)
    }

    /// Reads a file out of the (possibly stopped) container with `docker cp`.
    pub fn read_file(&self, path: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file");
        let o = docker(&[
            "cp",
            &format!("{}:{path}", self.name),
            dest.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "docker cp {path}: {}", stderr(&o));
        std::fs::read_to_string(dest).unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
    }
}

/// For each `Step N/M : INSTRUCTION` of a legacy-builder log, whether it came from the cache.
pub fn steps_cached(build_log: &str) -> Vec<(String, bool)> {
    let mut steps: Vec<(String, bool)> = Vec::new();
    for line in build_log.lines() {
        if let Some(rest) = line.strip_prefix("Step ") {
            let instruction = rest.split_once(" : ").map_or(rest, |(_, i)| i);
            steps.push((instruction.to_string(), false));
        } else if line.contains("Using cache")
            && let Some(last) = steps.last_mut()
        {
            last.1 = true;
        }
    }
    steps
}

/// A registry served by Debian's `docker-registry` on 127.0.0.1, stopped when dropped.
pub struct Registry {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
    /// The `Authorization` header of [`Registry::get`], after [`Registry::login`].
    authorization: String,
}

impl Registry {
    /// Starts one; with `htpasswd`, it wants that user's credentials.
    pub fn start(htpasswd: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(line) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, line).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry (Debian's docker-registry package; .ci/setup installs it)");
        let registry = Registry {
            child,
            port,
            _dir: dir,
            authorization: String::new(),
        };
        eventually(Duration::from_secs(10), "the registry answers", || {
            registry.get("/v2/", "").map(|_| ())
        });
        registry
    }

    /// GETs `path` (HTTP/1.0), with an Accept header; returns the head and the body.
    pub fn get(&self, path: &str, accept: &str) -> Result<(String, String), String> {
        use std::io::{Read, Write};
        let mut s =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        let accept = match accept {
            "" => String::new(),
            a => format!("Accept: {a}\r\n"),
        };
        let authorization = &self.authorization;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}{authorization}\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        let (head, body) = answer.split_once("\r\n\r\n").ok_or("no head")?;
        Ok((head.to_string(), body.to_string()))
    }
}

impl Registry {
    /// [`Registry::get`] sends these credentials from now on.
    pub fn login(&mut self, user: &str, password: &str) {
        let basic = base64(format!("{user}:{password}").as_bytes());
        self.authorization = format!("Authorization: Basic {basic}\r\n");
    }

    /// The SBOM attached to the image `digest` of repository `name`, found as a client
    /// finds it: through the referrers API, else the OCI 1.1 referrers tag
    /// `sha256-<hex>`. Checks that there is exactly one and that its subject is the
    /// image; returns the artifact's digest, and the blob.
    pub fn attached_sbom(&self, name: &str, digest: &str) -> (String, String) {
        const INDEX: &str = "application/vnd.oci.image.index.v1+json";
        const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
        const SBOM: &str = "application/vnd.cyclonedx+json";
        let ok = |head: &str| head.lines().next().unwrap_or("").contains(" 200 ");
        let (head, body) = self
            .get(&format!("/v2/{name}/referrers/{digest}"), INDEX)
            .unwrap();
        let index = match ok(&head) {
            true => body,
            false => {
                let tag = digest.replacen(':', "-", 1);
                let path = format!("/v2/{name}/manifests/{tag}");
                let (head, body) = self.get(&path, INDEX).unwrap();
                assert!(ok(&head), "no referrers API, nor the tag {tag}:\n{head}");
                body
            }
        };
        let index: serde_json::Value = serde_json::from_str(&index).unwrap();
        let sboms: Vec<_> = (index["manifests"].as_array().unwrap().iter())
            .filter(|m| m["artifactType"] == SBOM)
            .collect();
        assert_eq!(sboms.len(), 1, "one SBOM refers to {digest}: {index}");
        let artifact = sboms[0]["digest"].as_str().unwrap().to_string();
        let path = format!("/v2/{name}/manifests/{artifact}");
        let manifest = self.get(&path, MANIFEST).unwrap().1;
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(manifest["subject"]["digest"], digest, "{manifest}");
        assert_eq!(manifest["artifactType"], SBOM, "{manifest}");
        assert_eq!(manifest["layers"][0]["mediaType"], SBOM, "{manifest}");
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let (head, blob) = self.get(&format!("/v2/{name}/blobs/{layer}"), "").unwrap();
        assert!(ok(&head), "{head}");
        (artifact, blob)
    }
}

/// Standard base64, padded (for a Basic `Authorization` header).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A second Docker engine beside the first, as a fresh CI runner has: an empty store of
/// its own (`--data-root`), its own socket, and its own bridge (never `--bridge none`,
/// which would delete the host's docker0). Stopped, and its bridge removed, when dropped.
pub struct SecondEngine {
    child: std::process::Child,
    bridge: String,
    dir: tempfile::TempDir,
    /// Its `DOCKER_HOST`.
    pub host: String,
}

impl SecondEngine {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bridge = format!("bkl{}", std::process::id() % 1_000_000);
        let ip = |args: &[&str]| {
            let o = Command::new("ip").args(args).output().unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", "10.213.77.1/24", "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let host = format!("unix://{}", path("docker.sock"));
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--data-root", &path("data"), "--exec-root", &path("exec")])
            .args(["--pidfile", &path("docker.pid"), "--host", &host])
            .args(["--iptables=false", "--bridge", &bridge])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd");
        let engine = SecondEngine {
            child,
            bridge,
            dir,
            host,
        };
        eventually(Duration::from_secs(60), "the second engine answers", || {
            let o = engine.docker(&["info", "--format", "{{.ServerVersion}}"]);
            super::succeeded(&o)
        });
        engine
    }

    /// `docker ARGS` against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .unwrap()
    }

    /// Copies `images` from the first engine into this one (`docker save | docker load`:
    /// the IDs stay the same).
    pub fn load(&self, images: &[&str]) {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker save {} | DOCKER_HOST='{}' docker load -q",
                images.join(" "),
                self.host
            ))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        // Left mounted by a dockerd that had to be killed: unmount before removing.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {0}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.dir.path().display()
            ))
            .status();
    }
}

/// A TCP listener on `ip` (a loopback address) that passes every connection on to this
/// machine's engine socket: the engine as a remote one is reached, over `tcp://`. With
/// `hold_removals`, a request to remove something (`DELETE /…`) is held and never passed
/// on, as by a daemon that wedges while a test cleans up. Returns its `DOCKER_HOST`.
pub fn engine_proxy(ip: &str, hold_removals: bool) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(engine) = std::os::unix::net::UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut from_engine, mut to_client) =
                (engine.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_engine, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
            let (mut from_client, mut to_engine) = (client, engine);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 64 * 1024];
                while let Ok(n) = from_client.read(&mut chunk) {
                    let removal = chunk[..n].windows(8).any(|w| w == b"DELETE /");
                    if hold_removals && removal {
                        // Held open, never passed on: the removal never ends.
                        std::thread::sleep(Duration::from_secs(600));
                        return;
                    }
                    if n == 0 || to_engine.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_engine.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    address
}

/// This machine's engine reached over ssh (`DOCKER_HOST=ssh://user@127.0.0.3:port`), as a
/// remote one is: an sshd of the test's own on 127.0.0.3 (Debian's openssh-server, which
/// `.ci/setup` installs), a key made for it, and an `ssh` first on PATH that reads the
/// test's client config (ssh reads `~/.ssh` from the password database, not `$HOME`). The
/// docker CLI runs `ssh … docker system dial-stdio` there. Stopped when dropped.
pub struct SshEngine {
    sshd: std::process::Child,
    /// `DOCKER_HOST`.
    pub host: String,
    /// `PATH`, with the test's `ssh` first.
    pub path: String,
    dir: tempfile::TempDir,
}

impl SshEngine {
    pub fn start() -> SshEngine {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        for key in ["host_key", "client_key"] {
            let o = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f", &at(key)])
                .output()
                .expect("ssh-keygen");
            assert!(o.status.success(), "{}", stderr(&o));
        }
        std::fs::copy(at("client_key.pub"), at("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.3:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "ListenAddress 127.0.0.3:{port}\nHostKey {}\nAuthorizedKeysFile {}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {}\n",
            at("host_key"),
            at("authorized_keys"),
            at("sshd.pid")
        );
        std::fs::write(at("sshd_config"), config).unwrap();
        let client = format!(
            "Host 127.0.0.3\n  IdentityFile {}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
            at("client_key")
        );
        std::fs::write(at("ssh_config"), client).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let shim = format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F '{}' \"$@\"\n",
            at("ssh_config")
        );
        std::fs::write(bin.join("ssh"), shim).unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(bin.join("ssh"), executable).unwrap();
        // sshd's privilege separation directory, which its service would make.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", &at("sshd_config")])
            .stderr(std::fs::File::create(at("sshd.log")).unwrap())
            .spawn()
            .expect("/usr/sbin/sshd (.ci/setup installs openssh-server)");
        let user = stdout(&Command::new("id").arg("-un").output().unwrap());
        let engine = SshEngine {
            sshd,
            host: format!("ssh://{}@127.0.0.3:{port}", user.trim()),
            path: format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            dir,
        };
        let log = engine.dir.path().join("sshd.log");
        eventually(
            Duration::from_secs(20),
            "the engine answers over ssh",
            || {
                let o = Command::new("docker")
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .env("DOCKER_HOST", &engine.host)
                    .env("PATH", &engine.path)
                    .output()
                    .unwrap();
                match o.status.success() {
                    true => Ok(()),
                    false => Err(stderr(&o) + &std::fs::read_to_string(&log).unwrap_or_default()),
                }
            },
        );
        engine
    }
}

impl Drop for SshEngine {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}
