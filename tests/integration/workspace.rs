//! `examples/workspace` (issue 8): a cargo workspace with two binaries, one of which
//! compiles C code (SQLite, with rusqlite's `bundled`), shipped files, and a check that
//! follows its service's port. Built with the default builder for musl and for gnu, run,
//! and looked into; and, with no C compiler for musl, stopped before compiling with what to
//! install.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::docker::*;
use common::*;

/// Runs the image and checks everything the example promises.
fn assert_workspace_runs(image: &Image) {
    for (run_args, port) in [(&[][..], "8080"), (&["-e", "PORT=9191"][..], "9191")] {
        let c = Container::start(image, run_args);
        c.wait_until_up(Duration::from_secs(20));
        assert_eq!(c.user_of("/bin/api"), "api");
        assert_eq!(c.user_of("/bin/worker"), "worker");
        // The C code works: SQLite answers its version.
        c.eventually_ok(
            Duration::from_secs(10),
            &format!("curl -fs http://127.0.0.1:{port}/ping"),
        );
        let version = c.sh_ok(&format!("curl -fs http://127.0.0.1:{port}/sqlite"));
        assert!(version.starts_with("SQLite 3."), "{version}");
        // The shipped files, with the spec's modes and owners.
        assert_eq!(
            c.sh_ok(
                "stat -c '%n %F %U %a' /etc/workspace/api.toml /srv/www /srv/www/index.html \
                 /srv/www/css/site.css /var/lib/workspace /bin/api /bin/worker"
            ),
            "/etc/workspace/api.toml regular file root 644\n/srv/www directory root 755\n\
             /srv/www/index.html regular file root 644\n/srv/www/css/site.css regular file root 644\n\
             /var/lib/workspace directory worker 750\n/bin/api regular file root 755\n\
             /bin/worker regular file root 755\n"
        );
        let config = c.sh_ok(&format!("curl -fs http://127.0.0.1:{port}/config"));
        assert!(config.contains("hello from a shipped file"), "{config}");
        c.eventually_ok(Duration::from_secs(10), "test -s /var/lib/workspace/ticks");
        // The start-up task ran first, as its user, and said so on docker logs.
        assert_eq!(
            c.sh_ok("stat -c '%U' /var/lib/workspace/schema; cat /var/lib/workspace/schema"),
            "worker\nversion 1\n"
        );
        let logs = stdout(&docker(&["logs", &c.name]));
        assert!(
            logs.starts_with("buildkit-lite-init: task migrate: starting\nworker: migrate: /var/lib/workspace/schema is at schema version 1\nbuildkit-lite-init: task migrate: done\n"),
            "{logs}"
        );
        // The check follows the api's port, default or not.
        let plugin = c.sh_ok("/etc/sensu/plugins/http-api_ping.sh");
        assert_eq!(
            plugin,
            format!("OK: http://127.0.0.1:{port}/ping answered HTTP 200\n")
        );
        let (took, code) = c.stop(10);
        assert_eq!(code, 0, "stopped in {took:?}");
    }
}

#[test]
fn the_workspace_builds_with_the_default_builder_for_musl_and_runs() {
    require_docker!();
    let p = Project::copy_of("workspace");
    let (image, out) = build_image(&p, "workspace");
    let err = stderr(&out);
    assert!(err.contains("==> builder: cargo (auto:"), "{err}");
    assert!(err.contains("--bin api --bin worker"), "{err}");
    assert_workspace_runs(&image);
    assert_proven(&p, &image, &["api", "worker"], &["api_ping"]);
}

#[test]
fn the_workspace_builds_with_the_default_builder_for_gnu_and_runs() {
    require_docker!();
    let p = Project::copy_of("workspace");
    p.edit_manifest(|t| t.replace("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"));
    let (image, out) = build_image(&p, "workspace");
    assert!(
        stderr(&out).contains("--target x86_64-unknown-linux-gnu"),
        "{}",
        stderr(&out)
    );
    assert_workspace_runs(&image);
}

/// A host without the named programs: a PATH of links to everything on this one but them,
/// and a CARGO_HOME whose `bin` lacks them too (cargo finds subcommands there whatever
/// PATH says). Returns the directory that holds both and the variables to set.
fn host_without(hidden: &[&str]) -> (tempfile::TempDir, Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    let home = std::env::var("HOME").unwrap();
    let real_cargo_home = std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo"));
    let cargo_home = tmp.path().join("cargo-home");
    std::fs::create_dir(&cargo_home).unwrap();
    for entry in std::fs::read_dir(&real_cargo_home).unwrap().flatten() {
        if entry.file_name() != "bin" {
            std::os::unix::fs::symlink(entry.path(), cargo_home.join(entry.file_name())).unwrap();
        }
    }
    let bin = cargo_home.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let path = std::env::var("PATH").unwrap();
    let dirs = std::iter::once(PathBuf::from(format!("{real_cargo_home}/bin")))
        .chain(std::env::split_paths(&path));
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = bin.join(&name);
            if hidden.iter().any(|h| name == *h) || link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), link).unwrap();
        }
    }
    let vars = vec![
        ("PATH".to_string(), bin.to_str().unwrap().to_string()),
        (
            "CARGO_HOME".to_string(),
            cargo_home.to_str().unwrap().to_string(),
        ),
    ];
    (tmp, vars)
}

fn no_c_compiler_for_musl() -> (tempfile::TempDir, Vec<(String, String)>) {
    host_without(&["musl-gcc", "cargo-zigbuild", "cross"])
}

fn env(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn musl_target_dir(p: &Project) -> PathBuf {
    p.dir.join("target/x86_64-unknown-linux-musl")
}

#[test]
fn without_a_c_compiler_for_musl_auto_stops_before_compiling_and_says_what_to_install() {
    require_docker!();
    let p = Project::copy_of("workspace");
    let (_tmp, vars) = no_c_compiler_for_musl();
    let out = p.build_with_env(&unique("noc"), &[], &env(&vars));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: the app compiles C code for x86_64-unknown-linux-musl (its dependencies include `cc` or `cmake`) and this host has no C compiler for it: install musl-tools"),
        "{err}"
    );
    assert!(!err.contains("==> compile the app"), "{err}");
    assert!(!musl_target_dir(&p).exists(), "it compiled");
}

#[test]
fn a_compile_that_misses_a_c_compiler_says_what_to_install() {
    require_docker!();
    let p = Project::copy_of("workspace");
    p.edit_manifest(|t| t.replace("target = ", "builder = \"cargo\"\ntarget = "));
    let (_tmp, vars) = no_c_compiler_for_musl();
    // A C compiler for the target that is not there, named as cc-rs reads it: cc-rs then
    // fails as the issue saw it (recent cc-rs would otherwise fall back to the host's
    // glibc gcc, with the wrong headers for musl).
    let mut vars = env(&vars);
    vars.push((
        "CC_x86_64_unknown_linux_musl",
        "/nonexistent/x86_64-linux-musl-gcc",
    ));
    let out = p.build_with_env(&unique("noc"), &[], &vars);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("failed to find tool \"/nonexistent/x86_64-linux-musl-gcc\""),
        "{err}"
    );
    // Named first, with its package, and the ways out for this host.
    let first = err
        .find("error: the build script of libsqlite3-sys 0.")
        .unwrap_or_else(|| panic!("{err}"));
    let then = err.find(" ran `/nonexistent/x86_64-linux-musl-gcc`, which is not installed on this host (Debian package: musl-tools)\nways out:\n  1. install it on this host (`sudo apt-get install musl-tools`)").unwrap_or_else(|| panic!("{err}"));
    let zig = err
        .find("  3. or builder = \"zigbuild\" in [app]")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(first < then && then < zig, "{err}");
    assert!(Path::new(&p.dir).join("service.toml").is_file());
}

#[test]
fn an_unknown_binary_gets_did_you_mean_from_the_workspaces_bin_targets() {
    let p = Project::copy_of("workspace");
    p.edit_manifest(|t| {
        t.replace(
            "binary = [\"api\", \"worker\"]",
            "binary = [\"api\", \"wroker\"]",
        )
    });
    let out = p.build("v1", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("has no binary target `wroker` (app.binary), did you mean `worker`?; its binaries: api, worker"),
        "{err}"
    );
    assert!(!p.dir.join("target").exists(), "it compiled");
}

/// `init` in a workspace member (issue 27 item 4): it reads that package's own
/// dependencies with its default features (the optional openssl-sys is off, the other
/// member's libpq is not its own), leaves out the bin whose `required-features` are off by
/// default, gives a one-shot tool a commented service with the reason, and what it writes
/// checks with `--deny-warnings`, builds, and passes `test` with a real engine.
#[test]
fn init_on_a_workspace_member_reads_its_own_default_closure_and_leaves_out_what_does_not_build() {
    require_docker!();
    let p = Project::fixture("featured");
    let member = p.dir.join("api");
    let o = cmd()
        .current_dir(&p.dir)
        .args(["init", "--dir", "api"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(member.join("service.toml")).unwrap();
    // Static musl: no gnu, no libssl3, no libpq5.
    assert!(
        text.contains("\ntarget = \"x86_64-unknown-linux-musl\""),
        "{text}"
    );
    for other in ["libssl3", "libpq5", "openssl", "pq-sys"] {
        assert!(!text.contains(other), "{other} in:\n{text}");
    }
    // The Windows-only bin is left out, with the features it needs.
    assert!(
        text.contains("binary = [\"api\", \"api-worker\", \"seed\"]"),
        "{text}"
    );
    assert!(
        text.contains("# left out: bin target \"api-winsvc\" needs the features windows-service, which the default features do not turn on"),
        "{text}"
    );
    // The server and the worker run; the one-shot tool gets a commented service.
    assert!(text.contains("\n[services.api]\n"), "{text}");
    assert!(text.contains("\n[services.api-worker]\n"), "{text}");
    assert!(
        text.contains("\n# seed gets no service: nothing in api/src/bin/seed.rs looks long-running (no listener, server, endless loop or signal wait).\n# It is installed at /bin/seed; uncomment if it is a service.\n# [services.seed]\n"),
        "{text}"
    );
    let o = cmd()
        .current_dir(&member)
        .args(["check", "--deny-warnings", "-f", "service.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // `check` warns of the bin whose features are off, should a user list it.
    let manifest = std::fs::read_to_string(member.join("service.toml")).unwrap();
    let listed = manifest.replace("\"seed\"]", "\"seed\", \"api-winsvc\"]");
    std::fs::write(member.join("with-winsvc.toml"), listed).unwrap();
    let o = cmd()
        .current_dir(&member)
        .args(["check", "--deny-warnings", "-f", "with-winsvc.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bin target `api-winsvc` needs the features windows-service, which [app] features (with the default features) leave off: the build would stop"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(member.join("with-winsvc.toml")).unwrap();
    let tag = unique("featured");
    let _image = Image(format!("api:{tag}"));
    let built = cmd()
        .current_dir(&member)
        .args(["build", &tag, "-f", "service.toml"])
        .output()
        .unwrap();
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let tested = cmd()
        .current_dir(&member)
        .args(["test", &tag, "-f", "service.toml"])
        .output()
        .unwrap();
    assert_eq!(tested.status.code(), Some(0), "{}", stderr(&tested));
    let said = stdout(&tested);
    assert!(
        said.contains("service api") && said.contains("service api-worker"),
        "{said}"
    );
}
