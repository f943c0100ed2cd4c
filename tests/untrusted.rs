//! An untrusted manifest and project tree (issue 6): nothing from outside the project
//! reaches the context, `--force` and staging never delete what is not theirs, and
//! concurrent runs stay correct. Each test runs the real `check`, `render` or `build`
//! against real files (and, for `build`, a real Docker engine).

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::docker::*;
use common::*;

/// A copy of `examples/minimal` with `extra` appended to its manifest.
fn minimal_plus(extra: &str) -> Project {
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| format!("{t}\n{extra}"));
    p
}

/// `buildkit-lite ARGS` from the project's directory.
fn run_in(p: &Project, args: &[&str]) -> Output {
    cmd().current_dir(&p.dir).args(args).output().unwrap()
}

fn script_check(path: &str) -> String {
    format!("[checks.leak]\nscript = {path:?}\n")
}

/// `check` and `render` refuse, naming the key and its line, and print no file.
fn assert_refused(p: &Project, key: &str, line: usize, why: &str) {
    for args in [
        &["check", "-f", "service.toml"][..],
        &["render", "-f", "service.toml"],
    ] {
        let o = run_in(p, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("service.toml:{line}:")) && err.contains(&format!(": {key}: ")),
            "{args:?}: {err}"
        );
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?} printed:\n{}", stdout(&o));
    }
}

fn manifest_lines(p: &Project) -> usize {
    std::fs::read_to_string(p.manifest())
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_check_script_outside_the_project_is_refused() {
    for path in ["/etc/shadow", "../../../etc/passwd", "/proc/self/environ"] {
        let p = minimal_plus(&script_check(path));
        let line = manifest_lines(&p);
        assert_refused(&p, "checks.leak.script", line, "is outside the project");
    }
}

#[test]
fn a_symlink_that_leads_out_of_the_project_is_refused_and_one_inside_is_not() {
    let p = minimal_plus(&script_check("checks/ok.sh"));
    std::fs::create_dir(p.dir.join("checks")).unwrap();
    symlink("/etc/passwd", p.dir.join("checks/ok.sh")).unwrap();
    let line = manifest_lines(&p);
    assert_refused(&p, "checks.leak.script", line, "is outside the project");

    // A link to a file inside the project is fine.
    std::fs::remove_file(p.dir.join("checks/ok.sh")).unwrap();
    std::fs::write(p.dir.join("real.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    symlink("../real.sh", p.dir.join("checks/ok.sh")).unwrap();
    let o = run_in(&p, &["render", "-f", "service.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("==> root/etc/sensu/plugins/ok.sh (mode 0755) <==\n#!/bin/sh\nexit 0\n")
    );

    // The whole project directory reached through a symlink is still the project.
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("link");
    symlink(&p.dir, &link).unwrap();
    let o = cmd()
        .args(["check", "-f", link.join("service.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn special_files_in_the_project_are_refused() {
    let p = minimal_plus(&script_check("fifo.sh"));
    assert!(
        Command::new("mkfifo")
            .arg(p.dir.join("fifo.sh"))
            .status()
            .unwrap()
            .success()
    );
    let line = manifest_lines(&p);
    assert_refused(
        &p,
        "checks.leak.script",
        line,
        "is not a regular file (it is a FIFO",
    );

    let p = minimal_plus(&script_check("checks"));
    std::fs::create_dir(p.dir.join("checks")).unwrap();
    let line = manifest_lines(&p);
    assert_refused(&p, "checks.leak.script", line, "it is a directory");
}

#[test]
fn a_prebuilt_binary_outside_the_project_is_refused() {
    for path in ["/bin/ls", "../../../../bin/ls"] {
        let p = Project::copy_of("minimal");
        p.edit_manifest(|t| t.replace("target = ", &format!("prebuilt = {path:?}\ntarget = ")));
        assert_refused(&p, "app.prebuilt", 9, "is outside the project");
        // `build` stops at validation: nothing staged, nothing built.
        let o = p.build("v1", &[]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is outside the project"),
            "{}",
            stderr(&o)
        );
        assert!(!p.dir.join("target").exists());
    }
}

#[test]
fn build_refuses_a_script_outside_the_project_before_touching_anything() {
    let p = minimal_plus(&script_check("/etc/shadow"));
    let o = p.build(&unique("leak"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("checks.leak.script"), "{}", stderr(&o));
    assert!(!p.dir.join("target").exists());
}

#[test]
fn a_shared_library_is_not_taken_for_a_program() {
    if !docker_ready() {
        return;
    }
    let lib = [
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("libm.so.6 on this machine");
    let p = Project::copy_of("minimal");
    std::fs::copy(&lib, p.dir.join("libm.so.6")).unwrap();
    p.edit_manifest(|t| t.replace("target = ", "prebuilt = \"libm.so.6\"\ntarget = "));
    let o = p.build("v1", &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "libm.so.6 is a shared library (ELF type DYN with neither an interpreter nor the PIE flag), not an ELF executable for x86_64-unknown-linux-musl"
        ),
        "{err}"
    );
    assert!(!p.context("minimal").exists());
}

/// Keeps `Path` in use for helpers added below.
#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    p.exists()
}
