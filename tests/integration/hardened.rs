//! Hardened at run time (issue 29): `[image] read-only` and `user` images run with a
//! read-only root, as one non-root user, with no capability and no new privileges; `test
//! --hardened` runs them so and names what a service tried to write; `check` refuses
//! another user; Sensu Go's `CheckConfig` resources say what the Core JSON says.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::docker::*;
use common::*;

/// The options production gives the hardened example's container.
const HARDENED: &[&str] = &[
    "--read-only",
    "--tmpfs",
    "/run:uid=10001,gid=10001",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

#[test]
fn the_hardened_example_runs_read_only_as_one_user_with_no_capability() {
    require_docker!();
    let p = Project::copy_of("hardened-app");
    let (image, o) = build_image(&p, "hardened-app");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(image.inspect("{{.Config.User}}"), "10001:10001");

    // `test` runs it hardened ([test] hardened), and says how.
    let o = p.prove(image.tag(), &["--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["passed"], true, "{doc}");
    assert_eq!(doc["hardening"], serde_json::json!(HARDENED));
    let kinds: Vec<&str> = (doc["results"].as_array().unwrap().iter())
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["service", "check", "check", "port", "stop"],
        "{doc}"
    );

    // By hand, as production runs it: every process is the one user, with no capability.
    let c = Container::start(&image, HARDENED);
    c.wait_until_up(Duration::from_secs(20));
    let status = c.sh_ok(
        r#"for p in /proc/[0-9]*; do [ -r "$p/status" ] && printf '%s %s %s\n' "$(cat "$p/comm")" "$(awk '/^Uid/{print $2 "," $3}' "$p/status")" "$(awk '/^CapEff/{print $2}' "$p/status")"; done; true"#,
    );
    let processes: Vec<&str> = status.lines().collect();
    for name in ["buildkit-lite-i", "runsvdir", "runsv", "svlogd", "counter"] {
        assert!(
            processes.iter().any(|l| l.starts_with(&format!("{name} "))),
            "no {name} in {processes:#?}"
        );
    }
    for line in &processes {
        assert!(
            line.ends_with(" 10001,10001 0000000000000000"),
            "a process not of uid 10001 without capabilities: {line}\n{processes:#?}"
        );
    }
    // The root is read-only; the state, the count and the log are where they were declared.
    let refused = c.sh("touch /etc/x");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Read-only file system"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(c.sh_ok("curl -s http://127.0.0.1:8080/count"), "1");
    assert_eq!(c.sh_ok("curl -s http://127.0.0.1:8080/count"), "2");
    assert_eq!(c.sh_ok("cat /var/lib/counter/count"), "2\n");
    c.eventually_ok(
        Duration::from_secs(10),
        "grep -q 'GET /count' /var/log/web/current",
    );
    let links = c.sh_ok("readlink /etc/sv/web/supervise /etc/sv/web/log/supervise");
    assert_eq!(
        links,
        "/run/runit/supervise.web\n/run/runit/supervise.web.log\n"
    );
    // Each check's plugin or command passes as the image's user.
    c.sh_ok("/etc/sensu/plugins/http-ping.sh");
    // The task ran as the user before the service; the container is healthy, and stops
    // cleanly within its timeout.
    let logs = stdout(&docker(&["logs", &c.name]));
    assert!(
        logs.contains("starting as 10001:10001 with /run writable"),
        "{logs}"
    );
    // [log] stdout: svlogd's copy reaches docker logs, through a FIFO in /run.
    let logs = stdout(&docker(&["logs", &c.name]));
    assert!(
        logs.contains("web: counter: listening on port 8080"),
        "{logs}"
    );
    eventually(Duration::from_secs(30), "the container is healthy", || {
        let health = image_health(&c.name);
        (health == "healthy").then_some(()).ok_or(health)
    });
    let (took, code) = c.stop(10);
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(9), "{took:?}");
}

/// Docker's health status of a container.
fn image_health(container: &str) -> String {
    let o = docker(&["inspect", "-f", "{{.State.Health.Status}}", container]);
    stdout(&o).trim().to_string()
}

/// A read-only image run as root passes `test --hardened` (a read-only root, no new
/// privileges); told to write where nothing was declared (`STATE_DIR=/srv`), its service
/// still passes a plain `test` and fails `test --hardened`, with the path it tried to
/// write, from the service's own error.
#[test]
fn a_service_writing_outside_run_and_its_volumes_fails_test_hardened_naming_the_path() {
    require_docker!();
    let p = Project::copy_of("hardened-app");
    p.edit_manifest(|m| {
        m.replace("user = \"app\"\n", "")
            .replace("hardened = true", "hardened = false")
    });
    let (image, o) = build_image(&p, "hardened-app");
    assert!(o.status.success(), "{}", stderr(&o));
    let verdict = |o: &std::process::Output| {
        let out = stdout(o);
        let line = out
            .lines()
            .find(|l| l.starts_with("test "))
            .unwrap_or_default();
        line.to_string()
    };
    let hardened_as_root = "(--read-only --tmpfs /run --security-opt no-new-privileges)";
    let o = p.prove(image.tag(), &["--hardened", "--timeout", "20"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        verdict(&o).starts_with(&format!("test {} {hardened_as_root}: passed", image.0)),
        "{}",
        stdout(&o)
    );

    let elsewhere = ["--env", "STATE_DIR=/srv"];
    let plain = p.prove(
        image.tag(),
        &[&elsewhere[..], &["--timeout", "20"]].concat(),
    );
    assert!(plain.status.success(), "{}", stdout(&plain));
    assert!(
        verdict(&plain).starts_with(&format!("test {}: passed", image.0)),
        "{}",
        stdout(&plain)
    );
    let hardened = p.prove(
        image.tag(),
        &[&elsewhere[..], &["--hardened", "--timeout", "10"]].concat(),
    );
    assert_eq!(hardened.status.code(), Some(1), "{}", stdout(&hardened));
    let out = stdout(&hardened);
    let service = (out.lines())
        .find(|l| l.starts_with("FAIL service web "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        service.contains("counter: cannot write /srv/started: Read-only file system"),
        "{service}"
    );
    assert!(
        verdict(&hardened).starts_with(&format!("test {} {hardened_as_root}: FAILED", image.0)),
        "{out}"
    );
}

/// `[sensu] format`: each format once, at least one; `go` alone writes no Core JSON.
#[test]
fn sensu_formats_are_checked_and_go_alone_writes_no_core_json() {
    let manifest = |sensu: &str| {
        format!(
            "[app]\nname = \"one\"\nbinary = \"one\"\ntarget = \"x86_64-unknown-linux-gnu\"\nprebuilt = \"app.bin\"\n\n[services.one]\ncommand = [\"sleep\", \"1000\"]\n\n[checks.alive]\ncommand = \"true\"\n\n[sensu]\n{sensu}\n"
        )
    };
    Project::prebuilt("one", &manifest("format = []"))
        .assert_refused("sensu.format", "at least one format");
    Project::prebuilt("one", &manifest("format = [\"go\", \"go\"]"))
        .assert_refused("sensu.format[1]", "this format is listed twice");
    Project::prebuilt("one", &manifest("namespace = \"Prod Team\""))
        .assert_refused("sensu.namespace", "a Sensu Go namespace");
    let p = Project::prebuilt("one", &manifest("format = [\"go\"]"));
    let o = p.run(&["render", "-f", "service.toml", "--out", "ctx"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sensu = p.dir.join("ctx/root/etc/sensu");
    assert!(!sensu.join("conf.d").exists());
    let resources = yaml_documents(&sensu.join("checks.yaml"));
    assert_eq!(resources.len(), 1);
    assert_eq!(resources[0]["spec"]["command"], "true");
    assert_eq!(
        resources[0]["spec"]["subscriptions"],
        serde_json::json!(["one"])
    );
}

#[test]
fn check_refuses_a_second_user_in_a_one_user_image() {
    let manifest = |extra: &str| {
        format!(
            "[app]\nname = \"one\"\nbinary = \"one\"\ntarget = \"x86_64-unknown-linux-gnu\"\nprebuilt = \"app.bin\"\n\n[image]\nuser = \"app\"\n\n[users.app]\nuid = 10001\n\n[services.one]\ncommand = [\"sleep\", \"1000\"]\n{extra}"
        )
    };
    let cases = [
        (
            "user = \"web\"\n",
            "services.one.user",
            "with [image] user = \"app\", every process runs as `app` and no process can change user: the service `one` names `web`",
        ),
        (
            "\n[log]\nuser = \"syslog\"\n",
            "log.user",
            "the log services run as `app` too (no process can change user), not `syslog`",
        ),
    ];
    for (extra, key, why) in cases {
        Project::prebuilt("one", &manifest(extra)).assert_refused(key, why);
    }
    // Without a [log] user, the log services run as the image's user.
    let p = Project::prebuilt("one", &manifest(""));
    let o = p.run(&["check", "-f", "service.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids = manifest("").replace("\n[users.app]\nuid = 10001\n", "");
    Project::prebuilt("one", &ids).assert_refused(
        "image.user",
        "the image's user needs fixed ids, for `USER uid:gid` (Kubernetes' runAsNonRoot checks a number): add [users.app] with `uid = …`",
    );
    let inherit = manifest("").replace(
        "[image]\n",
        "[image]\ninit = \"inherit\"\nread-only = true\n",
    );
    Project::prebuilt("one", &inherit)
        .assert_refused("image.read-only", "`read-only` needs `init = \"runit\"`");
}

/// Each `CheckConfig` of /etc/sensu/checks.yaml (read with a YAML parser, as sensuctl
/// reads it) says what the Core JSON of the same check says; both are in the built image.
#[test]
fn sensu_go_check_configs_match_the_core_definitions_in_the_image() {
    require_docker!();
    let p = Project::copy_of("hardened-app");
    let (image, o) = build_image(&p, "hardened-app");
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let o = docker(&["create", "--name", &unique("sensu"), &image.0]);
    assert!(o.status.success(), "{}", stderr(&o));
    let container = stdout(&o).trim().to_string();
    let cp = docker(&[
        "cp",
        &format!("{container}:/etc/sensu"),
        dir.path().to_str().unwrap(),
    ]);
    docker(&["rm", "-v", &container]);
    assert!(cp.status.success(), "{}", stderr(&cp));
    let sensu = dir.path().join("sensu");
    let resources = yaml_documents(&sensu.join("checks.yaml"));
    let names: Vec<&str> = (resources.iter())
        .map(|r| r["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ping", "web_running"]);
    for resource in &resources {
        let name = resource["metadata"]["name"].as_str().unwrap();
        let core = std::fs::read_to_string(sensu.join(format!("conf.d/{name}.json"))).unwrap();
        let core: serde_json::Value = serde_json::from_str(&core).unwrap();
        let core = &core["checks"][name];
        assert_eq!(resource["type"], "CheckConfig");
        assert_eq!(resource["api_version"], "core/v2");
        assert_eq!(resource["metadata"]["namespace"], "default");
        let spec = &resource["spec"];
        for key in ["command", "interval", "timeout", "ttl", "handlers"] {
            assert_eq!(spec[key], core[key], "{name}: {key}");
        }
        assert_eq!(
            core["handlers"],
            serde_json::json!(["default"]),
            "[sensu] handlers"
        );
        let subscribers = core["subscribers"].as_array().unwrap();
        let want = match subscribers.is_empty() {
            true => serde_json::json!(["hardened-app"]),
            false => serde_json::json!(subscribers),
        };
        assert_eq!(spec["subscriptions"], want, "{name}");
        assert_eq!(spec["publish"], true);
    }
}

/// The documents of a YAML stream, parsed by PyYAML (as JSON values).
fn yaml_documents(path: &Path) -> Vec<serde_json::Value> {
    let script =
        "import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}
