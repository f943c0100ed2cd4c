//! The image in production, on a real Docker engine: `buildkit-lite test` (passing, a
//! failing check, a crash-looping service, Ctrl-C, the deadline), Docker's HEALTHCHECK,
//! start-up tasks, `[log] stdout`, and `build --push` to a real registry.

use crate::common;

use std::time::Duration;

use common::docker::{
    Container, Image, Project, Registry, build_image, docker, free_port, remove_image,
    test_containers, unique,
};
use common::{cmd, eventually, stderr, stdout};

/// The JSON document a `--json` command printed.
fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", stdout(o)))
}

/// The results of a `test --json` document, as (kind, name, passed, seconds, detail).
fn results(doc: &serde_json::Value) -> Vec<(String, String, bool, f64, String)> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
                r["passed"].as_bool().unwrap(),
                r["seconds"].as_f64().unwrap(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Builds the project as `<repository>:<tag>` with a new tag.
fn build(project: &Project, repository: &str) -> Image {
    build_image(project, repository).0
}

#[test]
fn test_proves_the_healthcheck_app_and_names_a_failing_check_and_a_crash_looping_service() {
    require_docker!();
    let project = Project::copy_of("healthcheck-app");
    // Docker's health every second, so that the test sees it change.
    project.edit_manifest(|m| m.replacen("interval = 60", "interval = 1", 1));
    let image = build(&project, "healthcheck-app");

    // Everything passes: a line per service and check, with its time, and a summary.
    let o = project.prove(image.tag(), &[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for line in [
        "ok   service healthcheck-app",
        "ok   check app_running",
        "ok   check custom_ping",
        "ok   stop",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(line)),
            "no `{line}`:\n{out}"
        );
    }
    assert!(
        out.contains("OK: http://127.0.0.1:8080/ping answered HTTP 200"),
        "{out}"
    );
    assert!(out.contains("exit 0 after"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("ok   port 8080 ")),
        "{out}"
    );
    assert!(
        out.contains(&format!("test {}: passed (5 results, ", image.0)),
        "{out}"
    );
    assert_eq!(test_containers(&image), Vec::<String>::new());

    // The HEALTHCHECK is the check's command on its schedule, under `timeout -s KILL` at
    // the check's timeout (the http plugin's default, 10 s); the container turns healthy,
    // and unhealthy once the service is down.
    let health = image.inspect("{{json .Config.Healthcheck}}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        health["Test"],
        serde_json::json!([
            "CMD",
            "/bin/sh",
            "-c",
            "timeout -s KILL 10 /bin/sh -c \"$0\" || exit 1",
            "/etc/sensu/plugins/http-custom_ping.sh"
        ])
    );
    assert_eq!(health["Interval"], 1_000_000_000u64);
    assert_eq!(health["Timeout"], 10_000_000_000u64);
    assert_eq!(health["Retries"], 3);
    let c = Container::start(&image, &[]);
    let status = || {
        stdout(&docker(&[
            "inspect",
            "-f",
            "{{.State.Health.Status}}",
            &c.name,
        ]))
    };
    let wait_for = |want: &str| {
        eventually(Duration::from_secs(30), want, || match status().trim() {
            s if s == want => Ok(()),
            s => Err(s.to_string()),
        })
    };
    wait_for("healthy");
    c.sh_ok("sv down healthcheck-app");
    wait_for("unhealthy");
    drop(c);

    // A check that fails (the app answers 503 in maintenance): exit 1, naming the check
    // and its output line, after retrying until the deadline.
    project.edit_manifest(|m| {
        m.replace(
            "env = { PORT = \"8080\" }",
            "env = { PORT = \"8080\", MAINTENANCE_FILE = \"/etc/hostname\" }",
        )
    });
    let failing = build(&project, "healthcheck-app");
    let o = project.prove(failing.tag(), &["--timeout", "4", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["probed"], true);
    let check = results(&doc)
        .into_iter()
        .find(|r| r.1 == "custom_ping")
        .unwrap();
    assert!(!check.2, "{check:?}");
    assert!(
        check.4.contains("answered HTTP 503") && check.4.contains("(exit 1)"),
        "{check:?}"
    );
    // --timeout 4: it retried until the deadline, and not a default 60 s.
    assert!(check.3 >= 4.0 && check.3 < 30.0, "{check:?}");
    assert!(
        stderr(&o).contains(&format!(
            "error: {} failed its test: check custom_ping",
            failing.0
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(test_containers(&failing), Vec::<String>::new());

    // A service that crash-loops: exit 1, naming the service.
    project.edit_manifest(|m| {
        m.replace(
            "command = [\"/bin/healthcheckapp\", \"--port\", \"${PORT}\"]",
            "command = [\"sh\", \"-c\", \"echo crashing now; exit 3\"]",
        )
    });
    let crashing = build(&project, "healthcheck-app");
    let o = project.prove(crashing.tag(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with("FAIL service healthcheck-app"))
        .map(String::from);
    let line = line.unwrap_or_else(|| panic!("no failed service:\n{}", stdout(&o)));
    assert!(line.contains("crash-looping: "), "{line}");
    assert!(line.contains("crashing now"), "{line}");
    assert!(
        stderr(&o).contains("failed its test: service healthcheck-app"),
        "{}",
        stderr(&o)
    );
    assert_eq!(test_containers(&crashing), Vec::<String>::new());
}

/// A project of shell services and start-up tasks, with `[log] stdout`.
const TASKS: &str = r#"
[app]
name = "tasks"
binary = "tasks"
target = "x86_64-unknown-linux-gnu"
prebuilt = "app.bin"

[log]
stdout = true

[services.web]
command = ["sh", "-c", "echo web to stdout; echo web to stderr >&2; exec sleep 1000"]

[tasks.a-first]
command = ["sh", "-c", "echo \"first as $(id -un) with $0\"", "${GREETING}"]
user = "alice"
env = { GREETING = "hello from the defaults" }

[tasks.b-second]
command = ["sh", "-c", "echo \"second as $(id -un) in $(pwd)\""]
user = "bob"
workdir = "/tmp"
"#;

#[test]
fn start_up_tasks_run_in_order_before_the_services_and_a_failing_one_stops_the_start() {
    require_docker!();
    let project = Project::prebuilt("tasks", TASKS);
    let image = build(&project, "tasks");
    let c = Container::start(&image, &[]);
    c.wait_until_up(Duration::from_secs(10));
    c.eventually_ok(
        Duration::from_secs(10),
        "grep -q 'web to stderr' /var/log/web/current",
    );
    let logs = eventually(Duration::from_secs(10), "both lines on docker logs", || {
        let o = docker(&["logs", &c.name]);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        match all.contains("web: web to stdout") && all.contains("web: web to stderr") {
            true => Ok(stdout(&o)),
            false => Err(all),
        }
    });
    // In name order, as their users, with their env defaults and `${VAR}` words, and all
    // before the service's first line. The init and the tasks write to stdout.
    let lines: Vec<&str> = logs.lines().collect();
    let at = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no `{text}` in:\n{logs}"))
    };
    let order = [
        at("buildkit-lite-init: task a-first: starting"),
        at("first as alice with hello from the defaults"),
        at("buildkit-lite-init: task a-first: done"),
        at("second as bob in /tmp"),
        at("buildkit-lite-init: task b-second: done"),
        at("web: web to stdout"),
    ];
    assert!(order.is_sorted(), "out of order {order:?}:\n{logs}");
    // [log] stdout: both streams of the service, each line once, prefixed with its name,
    // without svlogd's timestamp; svlogd still writes both to the file.
    assert_eq!(
        lines.iter().filter(|l| **l == "web: web to stdout").count(),
        1,
        "{logs}"
    );
    let file = c.sh_ok("cat /var/log/web/current");
    assert!(
        file.contains(" web to stdout\n") && file.contains(" web to stderr\n"),
        "{file}"
    );
    // The container's own environment wins over a task's default.
    let c2 = Container::start(&image, &["-e", "GREETING=from docker run"]);
    c2.wait_until_up(Duration::from_secs(10));
    let o = docker(&["logs", &c2.name]);
    assert!(
        stdout(&o).contains("first as alice with from docker run"),
        "{}",
        stdout(&o)
    );
    assert!(project.prove(image.tag(), &[]).status.success());

    // A task that fails: the container exits with its status, says which task, and no
    // service starts.
    project.edit_manifest(|m| {
        format!(
            "{m}\n[tasks.c-fails]\ncommand = [\"sh\", \"-c\", \"echo about to fail; exit 7\"]\n"
        )
    });
    let failing = build(&project, "tasks");
    let c = Container::start(&failing, &[]);
    let code = stdout(&docker(&["wait", &c.name]));
    assert_eq!(code.trim(), "7");
    let o = docker(&["logs", &c.name]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        out.contains("task b-second: done") && out.contains("about to fail"),
        "{out}"
    );
    assert!(
        err.contains(
            "buildkit-lite-init: task c-fails failed with status 7; no service was started"
        ),
        "{err}"
    );
    assert!(
        !out.contains("web to stdout") && !err.contains("web to stderr"),
        "{out}{err}"
    );
    // `test` names the container's exit and the task's words.
    let o = project.prove(failing.tag(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL container") && out.contains("exited with status 7"),
        "{out}"
    );
    assert!(out.contains("task c-fails failed with status 7"), "{out}");
    assert_eq!(test_containers(&failing), Vec::<String>::new());
}

#[test]
fn ctrl_c_during_test_removes_the_container() {
    require_docker!();
    // A check that never passes keeps `test` busy until it is interrupted.
    let manifest = format!("{TASKS}\n[checks.never]\ncommand = \"false\"\n");
    let project = Project::prebuilt("tasks", &manifest);
    let image = build(&project, "tasks");
    let tag = image.tag();
    let child = cmd()
        .current_dir(&project.dir)
        .args(["test", tag, "-f", "service.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "the test's container",
        || match test_containers(&image).len() {
            0 => Err("none yet".to_string()),
            _ => Ok(()),
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert_eq!(test_containers(&image), Vec::<String>::new());
}

/// A prebuilt project whose image is `<repository>`.
fn pushable(repository: &str) -> Project {
    Project::prebuilt(
        "pushme",
        &format!(
            "[app]\nname = \"pushme\"\nbinary = \"pushme\"\ntarget = \"x86_64-unknown-linux-gnu\"\nprebuilt = \"app.bin\"\n\n[image]\nname = \"{repository}\"\n\n[services.pushme]\ncommand = [\"sleep\", \"1000\"]\n"
        ),
    )
}

#[test]
fn push_sends_every_tag_to_a_real_registry_and_prints_its_digest() {
    require_docker!();
    let registry = Registry::start(None);
    let repository = format!("127.0.0.1:{}/acme/pushme", registry.port);
    let project = pushable(&repository);
    let (v1, v2) = (unique("v1"), unique("v2"));
    let images = [
        Image(format!("{repository}:{v1}")),
        Image(format!("{repository}:{v2}")),
    ];
    let o = project.build(&v1, &[&v2, "--push", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["references"],
        serde_json::json!([images[0].0, images[1].0])
    );
    let digest = doc["digest"].as_str().unwrap().to_string();
    assert!(
        digest.starts_with(&format!("{repository}@sha256:")),
        "{digest}"
    );
    // The progress went to stderr; stdout is the document alone.
    assert!(
        stderr(&o).contains(&format!("==> push {}… (", images[0].0)),
        "{}",
        stderr(&o)
    );

    // Every tag is in the registry, and the digest is the registry's.
    let (_, tags) = registry.get("/v2/acme/pushme/tags/list", "").unwrap();
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    let mut listed: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    listed.sort();
    // Beside the tags, the referrers tag of the image's attached SBOM.
    let referrers = digest.split_once('@').unwrap().1.replacen(':', "-", 1);
    let mut want = vec![v1.as_str(), v2.as_str(), referrers.as_str()];
    want.sort();
    assert_eq!(listed, want);
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
    for tag in [&v1, &v2] {
        let (head, _) = registry
            .get(&format!("/v2/acme/pushme/manifests/{tag}"), accept)
            .unwrap();
        let served = head
            .lines()
            .find_map(|l| l.strip_prefix("Docker-Content-Digest: "))
            .unwrap_or_else(|| panic!("no digest header:\n{head}"));
        assert_eq!(digest.split_once('@').unwrap().1, served.trim());
    }

    // Pulled back after removing the local image.
    for image in &images {
        assert!(remove_image(&image.0).status.success());
    }
    let o = docker(&["pull", &images[0].0]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(docker(&["image", "inspect", &images[0].0]).status.success());
}

#[test]
fn a_push_that_fails_is_a_clear_error_and_the_image_stays() {
    require_docker!();
    // Nothing listens on this port.
    let repository = format!("127.0.0.1:{}/acme/pushme", free_port());
    let project = pushable(&repository);
    let tag = unique("nowhere");
    let image = Image(format!("{repository}:{tag}"));
    let o = project.build(&tag, &["--push"]);
    assert_eq!(o.status.code(), Some(1));
    let registry = repository.split_once('/').unwrap().0;
    let err = stderr(&o);
    assert!(
        err.contains(&format!("error: could not push {} (the image was built and stays local): no registry answers at {registry}", image.0)),
        "{err}"
    );
    assert!(docker(&["image", "inspect", &image.0]).status.success());

    // A registry that wants credentials that were not given.
    common::require_tool("htpasswd");
    let line = std::process::Command::new("htpasswd")
        .args(["-Bbn", "alice", "secret"])
        .output()
        .unwrap();
    assert!(line.status.success());
    let registry = Registry::start(Some(&stdout(&line)));
    let repository = format!("127.0.0.1:{}/acme/pushme", registry.port);
    let project = pushable(&repository);
    let image = Image(format!("{repository}:{tag}"));
    let o = project.build(&tag, &["--push", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc = json(&o);
    assert_eq!(doc["ok"], false);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "wants credentials: run `docker login 127.0.0.1:{}` first",
            registry.port
        )),
        "{error}"
    );
    assert!(docker(&["image", "inspect", &image.0]).status.success());
}
