//! An engine that never answers (issue 25): every question to it is bounded, the error
//! names the engine's address, `test` keeps to `--timeout`, and SIGTERM ends the tool
//! while docker waits. The "engine" is a real listener that accepts and never replies, as
//! a wedged daemon or a dead SSH tunnel does.

use crate::common;

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A listener on the loopback that accepts every connection and never replies; its
/// address as a `DOCKER_HOST`.
fn silent_engine() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}

/// `buildkit-lite ARGS` against `engine`, from the minimal example, with how long it took;
/// killed after 60 s, so that a tool that hangs fails the test rather than holding it.
fn against(engine: &str, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let o = Command::new("timeout")
        .args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_buildkit-lite")])
        .current_dir(root())
        .env("DOCKER_HOST", engine)
        .args(args)
        .args(["-f", "examples/minimal/service.toml"])
        .output()
        .unwrap();
    (o, started.elapsed())
}

#[test]
fn an_engine_that_never_answers_fails_test_and_build_in_bounded_time_naming_it() {
    let engine = silent_engine();
    let (o, took) = against(&engine, &["test", "v1", "--timeout", "3"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(8), "test took {took:?}: {err}");
    assert!(err.contains("did not answer within 3 s"), "{err}");
    assert!(err.contains(&format!("{engine} (DOCKER_HOST)")), "{err}");

    let (o, took) = against(&engine, &["build", "v1"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(20), "build took {took:?}: {err}");
    assert!(err.contains("did not answer within 10 s"), "{err}");
    assert!(err.contains(&format!("{engine} (DOCKER_HOST)")), "{err}");
}

#[test]
fn sigterm_ends_the_tool_while_the_engine_does_not_answer() {
    let engine = silent_engine();
    for args in [&["test", "v1", "--timeout", "60"][..], &["build", "v1"]] {
        let child = cmd()
            .env("DOCKER_HOST", &engine)
            .args(args)
            .args(["-f", "examples/minimal/service.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let o = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{args:?} ran {took:?} after SIGTERM"
        );
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("interrupted"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn sigterm_ends_test_even_when_the_engine_never_removes_its_container() {
    require_docker!();
    let manifest = "[app]\nname = \"wedged\"\nbinary = \"wedged\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[services.web]\ncommand = [\"/bin/sleep\", \"infinity\"]\n";
    let (p, image) = common::docker::built("wedged", manifest, &[]);
    // An engine that answers everything but a container's removal.
    let engine = common::docker::engine_proxy("127.0.0.3", true);
    let child = Command::new("timeout")
        .args(["-s", "KILL", "90", env!("CARGO_BIN_EXE_buildkit-lite")])
        .current_dir(&p.dir)
        .env("DOCKER_HOST", &engine)
        .args(["test", image.tag(), "-f", "service.toml", "--timeout", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once its container runs, the test waits for the service: then SIGTERM.
    common::eventually(Duration::from_secs(60), "the test container runs", || {
        let running = common::docker::test_containers(&image);
        (!running.is_empty()).then_some(()).ok_or_else(String::new)
    });
    std::thread::sleep(Duration::from_millis(500));
    let tool = Command::new("pgrep")
        .args(["-P", &child.id().to_string()])
        .output()
        .unwrap();
    let pid = stdout(&tool).trim().to_string();
    let sent = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    // Its removal gets 10 s, then the tool ends (the next `test` removes the leftover).
    assert!(
        took < Duration::from_secs(20),
        "ran {took:?} after SIGTERM: {}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    for id in common::docker::test_containers(&image) {
        common::docker::docker(&["rm", "-f", &id]);
    }
}
