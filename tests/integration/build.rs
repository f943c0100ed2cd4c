//! `build` as a command: the builders (cargo, cross, zigbuild, auto), `--dry-run`, the
//! errors of a broken app, a daemon that does not answer and a wrong binary, the git
//! revision label, and an interrupt in the middle of a compile.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::docker::*;
use common::*;

/// The command line of every process on this machine, one a line.
fn process_lines() -> Vec<String> {
    let ps = Command::new("sh")
        .args([
            "-c",
            "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done",
        ])
        .output()
        .unwrap();
    stdout(&ps).lines().map(String::from).collect()
}

/// Switches a copy of `minimal` to another target and builder.
fn minimal_with(target: &str, builder: &str) -> Project {
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| {
        t.replace("x86_64-unknown-linux-musl", target)
            .replace("target = ", &format!("builder = \"{builder}\"\ntarget = "))
    });
    p
}

/// Runs the image's binary-backed service and waits for its first log line.
fn assert_runs(image: &Image) {
    let c = Container::start(image, &[]);
    c.wait_until_up(Duration::from_secs(10));
    c.eventually_ok(
        Duration::from_secs(10),
        "grep -q 'hello from' /var/log/minimal/current",
    );
}

#[test]
fn auto_picks_cargo_on_this_host_and_says_so() {
    require_docker!();
    let p = Project::copy_of("minimal");
    let (image, out) = build_image(&p, "minimal");
    assert_proven(&p, &image, &["minimal"], &[]);
    // No check and no port: `--json` says nothing was probed too.
    let o = p.prove(image.tag(), &["--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((&doc["ok"], &doc["probed"]), (&true.into(), &false.into()));
    let err = stderr(&out);
    assert!(
        err.contains(
            "==> builder: cargo (auto: this Linux x86_64 host links for x86_64-unknown-linux-musl"
        ),
        "{err}"
    );
    assert!(err.contains("cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --profile release --bin minimal"), "{err}");
    assert!(
        stdout(&out).contains("image id sha256:"),
        "{}",
        stdout(&out)
    );
    assert_runs(&image);
}

#[test]
fn cross_builds_for_real_with_a_local_image() {
    require_docker!();
    require_tool("cross");
    let cross_image = "buildkit-lite-cross:x86_64-unknown-linux-gnu";
    assert!(
        docker(&["image", "inspect", cross_image]).status.success(),
        "{cross_image} is missing: `.ci/setup` builds it"
    );
    let p = minimal_with("x86_64-unknown-linux-gnu", "cross");
    let env = [("CROSS_TARGET_X86_64_UNKNOWN_LINUX_GNU_IMAGE", cross_image)];
    let (image, out) = build_image_with_env(&p, "minimal", &env);
    assert!(
        stderr(&out)
            .contains("cross build --manifest-path Cargo.toml --target x86_64-unknown-linux-gnu"),
        "{}",
        stderr(&out)
    );
    assert!(
        p.dir
            .join("target/x86_64-unknown-linux-gnu/release/minimal")
            .is_file()
    );
    assert_runs(&image);
}

#[test]
fn zigbuild_builds_for_real() {
    require_docker!();
    let p = minimal_with("x86_64-unknown-linux-musl", "zigbuild");
    let (image, out) = build_image(&p, "minimal");
    assert!(
        stderr(&out).contains(
            "cargo zigbuild --manifest-path Cargo.toml --target x86_64-unknown-linux-musl"
        ),
        "{}",
        stderr(&out)
    );
    assert_runs(&image);
}

#[test]
fn dry_run_prints_every_command_and_runs_none() {
    let p = Project::copy_of("minimal");
    let tag = unique("dry");
    let out = p.build(&tag, &["--dry-run", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The plan on stdout, the probes that ran on stderr.
    let err = stdout(&out) + &stderr(&out);
    for command in [
        &format!("docker image inspect --format '{{{{.Id}}}}' minimal:{tag}"),
        "cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --profile release --bin minimal",
        "cargo metadata --format-version 1 --no-deps --manifest-path",
        &format!("docker build --build-arg BUILDKIT_LITE_VERSION={tag} --no-cache"),
        &format!("docker build --tag minimal:{tag} --force-rm --iidfile"),
    ] {
        assert!(err.contains(command), "dry run lacks `{command}`:\n{err}");
    }
    assert!(
        !p.dir.join("target").exists(),
        "a dry run compiled or staged something"
    );
    if docker_ready() {
        assert!(
            !docker(&["image", "inspect", &format!("minimal:{tag}")])
                .status
                .success()
        );
    }
}

#[test]
fn a_compile_error_is_reported_with_its_step_command_and_status_and_leaves_no_context() {
    require_docker!();
    let p = Project::copy_of("minimal");
    std::fs::write(
        p.dir.join("src/main.rs"),
        "fn main() { this is not rust }\n",
    )
    .unwrap();
    let out = p.build("v1", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: could not compile the app with cargo: `cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --profile release --bin minimal --config 'build.rustflags=[\"--remap-path-prefix="),
        "{err}"
    );
    assert!(err.contains("]'` exited with status 101"), "{err}");
    assert!(!p.context("minimal").exists());
    assert!(!p.dir.join("target/buildkit-lite").exists());
}

#[test]
fn a_daemon_that_does_not_answer_is_reported_before_compiling() {
    let p = Project::copy_of("minimal");
    let tmp = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", tmp.path().join("no-daemon.sock").display());
    let out = p.build_with_env("v1", &[], &[("DOCKER_HOST", &host)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: could not reach the Docker engine"),
        "{err}"
    );
    assert!(
        err.contains("`docker image inspect --format '{{.Id}}' minimal:v1` exited with status 1"),
        "{err}"
    );
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(
        err.contains(&format!(
            "hint: is docker installed and does its daemon answer? the engine asked was {host} (DOCKER_HOST)"
        )),
        "{err}"
    );
    assert!(
        !p.dir.join("target").exists(),
        "it compiled or staged before checking the engine"
    );
}

#[test]
fn a_failed_docker_build_is_reported_with_its_step_command_and_status() {
    require_docker!();
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| format!("{t}\n[image]\npackages = [\"no-such-package-buildkit-lite\"]\n"));
    let out = p.build(&unique("broken"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: could not build the image with docker: `docker build --build-arg BUILDKIT_LITE_VERSION=broken-"),
        "{err}"
    );
    // docker exits with the failed RUN's status (apt-get's 100).
    assert!(err.contains("` exited with status 100"), "{err}");
    // The context that was sent is complete (it is what docker failed on), and the
    // failed step's container is gone.
    assert!(p.context("minimal").join("root/bin/minimal").is_file());
    // Other tests run containers of the same base at the same time, so the failed
    // step's container is found by its command, which names the missing package.
    let left = docker(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"]);
    let left = stdout(&left);
    let left: Vec<&str> = left
        .lines()
        .filter(|l| l.contains("no-such-package-buildkit-lite"))
        .collect();
    assert!(left.is_empty(), "containers left: {left:?}");
}

#[test]
fn the_docker_context_is_honoured() {
    // A context (in a private docker config) whose engine is a socket nobody listens on:
    // the build must go there, and fail there, instead of using the default engine.
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let host = format!("host=unix://{}/dead.sock", config_dir);
    let o = Command::new("docker")
        .args(["context", "create", "bkl-dead", "--docker", &host])
        .env("DOCKER_CONFIG", config_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let p = Project::copy_of("minimal");
    let out = p.build_with_env(
        "v1",
        &[],
        &[
            ("DOCKER_CONFIG", config_dir),
            ("DOCKER_CONTEXT", "bkl-dead"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("dead.sock"),
        "the context's engine was not used: {err}"
    );

    // The same context made current in the config (`docker context use`), with no
    // DOCKER_CONTEXT: the default socket must not be asked instead.
    let o = Command::new("docker")
        .args(["context", "use", "bkl-dead"])
        .env("DOCKER_CONFIG", config_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = p.build_with_env("v1", &[], &[("DOCKER_CONFIG", config_dir)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("dead.sock"),
        "the current context's engine was not used: {err}"
    );
    assert!(!err.contains("==> compile the app"), "{err}");
}

#[test]
fn docker_not_installed_is_a_clear_error() {
    let p = Project::copy_of("minimal");
    let out = p.build_with_env("v1", &[], &[("PATH", "/nonexistent")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: could not reach the Docker engine"),
        "{err}"
    );
    assert!(err.contains("cannot run `docker image inspect"), "{err}");
}

#[test]
fn a_prebuilt_binary_of_the_wrong_kind_is_refused() {
    let p = Project::copy_of("minimal");
    std::fs::write(p.dir.join("app.sh"), "#!/bin/sh\necho not a binary\n").unwrap();
    p.edit_manifest(|t| t.replace("target = ", "prebuilt = \"app.sh\"\ntarget = "));
    let out = p.build("v1", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    if docker_ready() {
        assert!(
            err.contains("app.sh is a script, not an ELF executable for x86_64-unknown-linux-musl"),
            "{err}"
        );
        assert!(!p.context("minimal").exists());
    }
}

#[test]
fn an_invalid_tag_is_refused() {
    let p = Project::copy_of("minimal");
    let out = p.build("bad:tag", &[]);
    assert_eq!(out.status.code(), Some(2), "a bad tag is a usage error");
    assert!(stderr(&out).contains("invalid tag"), "{}", stderr(&out));
}

#[test]
fn a_manifest_in_a_git_checkout_gets_the_revision_label() {
    require_docker!();
    let p = Project::copy_of("minimal");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(&p.dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-qm",
        "x",
    ]);
    let head = git(&["rev-parse", "HEAD"]).trim().to_string();
    let (image, _) = build_image(&p, "minimal");
    assert_eq!(image.label("org.opencontainers.image.revision"), head);
    // A tracked file changed (build output, untracked, does not count): `<sha>-dirty`.
    let main = p.dir.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{text}// changed\n")).unwrap();
    let (dirty, _) = build_image(&p, "minimal");
    assert_eq!(
        dirty.label("org.opencontainers.image.revision"),
        format!("{head}-dirty")
    );
}

#[test]
fn an_interrupt_stops_the_compile_and_leaves_no_context() {
    require_docker!();
    let p = Project::copy_of("minimal");
    // A build script that takes a minute: the interrupt lands in the middle of it.
    std::fs::write(
        p.dir.join("build.rs"),
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(60)); }\n",
    )
    .unwrap();
    let child = cmd()
        .current_dir(&p.dir)
        .args(["build", "v1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the build script runs.
    let marker = p.dir.to_string_lossy().into_owned();
    eventually(Duration::from_secs(60), "the build script runs", || {
        let lines = process_lines();
        let running = lines
            .iter()
            .any(|l| l.contains(&marker) && l.contains("build-script-build"));
        running.then_some(()).ok_or_else(|| lines.join("\n"))
    });
    let stopped = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = stopped.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: interrupted"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    std::thread::sleep(Duration::from_millis(500));
    let left: Vec<String> = process_lines()
        .into_iter()
        .filter(|l| l.contains(&marker))
        .collect();
    assert!(left.is_empty(), "processes left running: {left:#?}");
    assert!(!p.context("minimal").exists());
}

#[test]
fn several_tags_name_one_image_and_builder_overrides_the_manifest_for_one_run() {
    require_docker!();
    let p = Project::copy_of("minimal");
    let tags = [unique("one"), unique("two")];
    let images: Vec<Image> = tags.iter().map(|t| Image(format!("minimal:{t}"))).collect();
    let out = p.build(&tags[0], &[&tags[1], "--builder", "zigbuild", "--verbose"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("==> builder: zigbuild (--builder zigbuild on the command line)"),
        "{err}"
    );
    assert!(
        err.contains("cargo zigbuild --manifest-path Cargo.toml"),
        "{err}"
    );
    let printed = stdout(&out);
    for image in &images {
        assert!(
            printed.contains(&format!("built {}\n", image.0)),
            "{printed}"
        );
    }
    let ids: Vec<String> = images.iter().map(|i| i.inspect("{{.Id}}")).collect();
    assert_eq!(ids[0], ids[1], "two tags, one image");
    assert!(
        printed.contains(&format!("image id {}\n", ids[0])),
        "{printed}"
    );
    assert_eq!(
        images[1].label("org.opencontainers.image.version"),
        tags[0],
        "the version label is the first tag"
    );
    assert_runs(&images[0]);
}

#[test]
fn a_committed_lockfile_is_honoured_unless_locked_is_false() {
    let p = Project::copy_of("minimal");
    let dry = |p: &Project| stdout(&p.build("v1", &["--dry-run", "--builder", "cargo"]));
    assert!(!dry(&p).contains("--locked"), "no Cargo.lock, no --locked");
    let o = Command::new("cargo")
        .args(["generate-lockfile", "--offline"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        dry(&p).contains("--bin minimal --locked --config "),
        "{}",
        dry(&p)
    );
    p.edit_manifest(|t| t.replace("target = ", "locked = false\ntarget = "));
    assert!(!dry(&p).contains("--locked"), "{}", dry(&p));
}

#[test]
fn an_unknown_builder_on_the_command_line_is_a_usage_error() {
    let p = Project::copy_of("minimal");
    let out = p.build("v1", &["--builder", "make"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`make` is not a builder: one of auto, cargo, cross, zigbuild"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_binary_fails_before_compiling_with_the_closest_real_one() {
    require_docker!();
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| t.replace("binary = \"minimal\"", "binary = [\"minimal\", \"minmal\"]"));
    let out = p.build(&unique("nobin"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("has no binary target `minmal` (app.binary), did you mean `minimal`?; its binaries: minimal"),
        "{err}"
    );
    assert!(
        !err.contains("==> compile the app"),
        "it compiled first: {err}"
    );
    assert!(!p.dir.join("target/x86_64-unknown-linux-musl").exists());
}

#[test]
fn a_cargo_config_target_dir_applies_from_any_directory() {
    require_docker!();
    // cargo reads `.cargo/config.toml` from the directory it runs in: cargo metadata (where
    // the binary is) and the compile both run from the manifest's directory, whatever the
    // user's, so both see the same target-dir.
    let p = Project::copy_of("minimal");
    std::fs::create_dir_all(p.dir.join(".cargo")).unwrap();
    std::fs::write(
        p.dir.join(".cargo/config.toml"),
        "[build]\ntarget-dir = \"elsewhere\"\n",
    )
    .unwrap();
    let manifest = p.manifest();
    let tag = unique("cfgdir");
    let _image = Image(format!("minimal:{tag}"));
    let out = cmd()
        .current_dir(std::env::temp_dir())
        .args(["build", &tag, "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        p.dir
            .join("elsewhere/x86_64-unknown-linux-musl/release/minimal")
            .is_file()
    );
    assert!(p.context("minimal").join("root/bin/minimal").is_file());
}

#[test]
fn two_binaries_are_compiled_by_one_cargo_and_installed_at_bin_name() {
    require_docker!();
    let p = Project::copy_of("minimal");
    // A second bin target: the same program under another name.
    std::fs::create_dir_all(p.dir.join("src/bin")).unwrap();
    std::fs::copy(p.dir.join("src/main.rs"), p.dir.join("src/bin/helper.rs")).unwrap();
    p.edit_manifest(|t| {
        t.replace("binary = \"minimal\"", "binary = [\"minimal\", \"helper\"]")
            + "\n[services.helper]\n"
    });
    let (image, out) = build_image(&p, "minimal");
    assert!(
        stderr(&out).contains("--profile release --bin minimal --bin helper"),
        "{}",
        stderr(&out)
    );
    let c = Container::start(&image, &[]);
    c.wait_until_up(Duration::from_secs(10));
    assert_eq!(
        c.sh_ok("stat -c '%n %U %a' /bin/minimal /bin/helper"),
        "/bin/minimal root 755\n/bin/helper root 755\n"
    );
    // A service without `command` runs the binary of its name.
    c.assert_running("/bin/helper");
    c.assert_running("/bin/minimal");
}
