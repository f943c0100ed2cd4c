//! Images that run (issue 17): `build` checks in the new image what each dynamically
//! linked binary needs (shared libraries, glibc versions) before any tag moves; a failed
//! `-sys` build script is explained first; `default-features = false` reaches cargo; `init`
//! reads `Cargo.lock` for system C libraries. With real crates (one links the system's
//! OpenSSL through openssl-sys) and a real Docker engine.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::docker::*;
use common::*;

/// Where the test crates compile: one target directory for all the tests here, so that
/// openssl-sys and libc build once.
fn shared_target() -> PathBuf {
    root().join("target/test-crates")
}

/// A copy of `tests/fixtures/NAME` (with its Cargo.lock, without build output).
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_tree(&root().join("tests/fixtures").join(name), &dir);
    (tmp, dir)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// `buildkit-lite ARGS` from `dir`, compiling into the shared target directory.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    cmd()
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .args(args)
        .output()
        .unwrap()
}

fn edit(path: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, edit(text)).unwrap();
}

/// The image ID a reference names, or `None`.
fn image_id(reference: &str) -> Option<String> {
    let o = docker(&["image", "inspect", "-f", "{{.Id}}", reference]);
    o.status.success().then(|| stdout(&o).trim().to_string())
}

#[test]
fn a_gnu_binary_without_its_libraries_fails_the_build_and_moves_no_tag() {
    require_docker!();
    let (_tmp, dir) = fixture("sslapp");
    let manifest = dir.join("service.toml");
    let tag = unique("ssl");
    let reference = format!("sslapp:{tag}");
    let _cleanup = Image(reference.clone());

    // With Debian's libssl3 in the image: it builds, and `test` proves it runs.
    edit(&manifest, |t| {
        format!("{t}\n[image]\npackages = [\"libssl3\"]\n")
    });
    let o = run_in(&dir, &["build", &tag, "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let good = image_id(&reference).expect("the tag names the image");
    let o = run_in(&dir, &["test", &tag, "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("ok   service sslapp "),
        "{}",
        stdout(&o)
    );

    // Without it: exit 1, naming the library, its package and the line that fixes it;
    // the tag still names the image that runs.
    edit(&manifest, |t| {
        t.replace("[image]\npackages = [\"libssl3\"]\n", "")
    });
    let o = run_in(&dir, &["build", &tag, "-f", "service.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: /bin/sslapp cannot run in the image: the dynamic loader finds no libssl.so.3 (Debian package libssl3)"),
        "{err}"
    );
    assert!(err.contains("no tag was moved"), "{err}");
    assert!(
        err.contains("hint: add packages = [\"libssl3\"] to [image]"),
        "{err}"
    );
    assert!(!stdout(&o).contains("built "), "{}", stdout(&o));
    assert_eq!(image_id(&reference), Some(good), "the tag moved");

    // A new tag that never existed does not exist after the failed build.
    let fresh = format!("sslapp:{}", unique("never"));
    let o = run_in(
        &dir,
        &[
            "build",
            fresh.rsplit(':').next().unwrap(),
            "-f",
            "service.toml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(image_id(&fresh), None);
}

#[test]
fn a_binary_linked_on_bookworm_fails_on_a_bullseye_base_naming_both_glibcs() {
    require_docker!();
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| {
        t.replace("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu")
            + "\n[image]\nbase = \"debian:bullseye-slim\"\n"
    });
    let tag = unique("old");
    let _cleanup = Image(format!("minimal:{tag}"));
    let o = run_in(&p.dir, &["build", &tag, "-f", "service.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: /bin/minimal cannot run in the image: it needs glibc 2.34 (")
            && err.contains("GLIBC_2.34")
            && err.contains("and debian:bullseye-slim has glibc 2.31"),
        "{err}"
    );
    assert!(
        err.contains("hint: build for x86_64-unknown-linux-musl (a static binary runs on any base), or use a base with glibc 2.34 or newer"),
        "{err}"
    );
    assert_eq!(image_id(&format!("minimal:{tag}")), None);
}

#[test]
fn a_static_binary_runs_no_check_and_its_build_is_tagged_by_docker_build() {
    let o = run(&[
        "build",
        "v1",
        "--dry-run",
        "-f",
        &example_manifest("minimal"),
    ]);
    let out = stdout(&o);
    assert!(out.contains("docker build --tag minimal:v1 "), "{out}");
    assert!(!out.contains("check that the image has"), "{out}");
    // A gnu build: untagged, checked, then tagged.
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| t.replace("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"));
    let o = run_in(&p.dir, &["build", "v1", "--dry-run", "-f", "service.toml"]);
    let out = stdout(&o);
    let build = out
        .find("docker build --build-arg")
        .unwrap_or_else(|| panic!("{out}"));
    let check = out
        .find("would check that the image has what the binaries need at run time:\n    docker run --rm --network none --entrypoint /bin/sh '<the new image>' -c ")
        .unwrap_or_else(|| panic!("{out}"));
    let tag = out
        .find("would tag the image minimal:v1:\n    docker tag '<the new image>' minimal:v1")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(build < check && check < tag, "{out}");
}

#[test]
fn openssl_sys_for_musl_fails_with_the_diagnosis_before_cargos_lines() {
    let (_tmp, dir) = fixture("sslapp");
    edit(&dir.join("service.toml"), |t| {
        t.replace("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl")
    });
    let o = run_in(&dir, &["build", "v1", "-f", "service.toml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let at = |text: &str| {
        err.find(text)
            .unwrap_or_else(|| panic!("no `{text}` in:\n{err}"))
    };
    let order = [
        at("error: the build script of openssl-sys 0.9."),
        at("failed for x86_64-unknown-linux-musl: it needs OpenSSL for the target"),
        at(
            "ways out:\n  1. build OpenSSL from source for the target: openssl-sys's `vendored` feature",
        ),
        at(
            "  2. or link the system's OpenSSL: target = \"x86_64-unknown-linux-gnu\" in [app] and packages = [\"libssl3\"] in [image]",
        ),
        at("cargo said:\n  error: failed to run custom build command for `openssl-sys v0.9."),
        at("Could not find directory of OpenSSL installation"),
        at("(all of cargo's output: build --verbose)"),
    ];
    assert!(order.is_sorted(), "out of order {order:?}:\n{err}");
    assert!(
        err.lines().count() < 60,
        "{} lines:\n{err}",
        err.lines().count()
    );
}

#[test]
fn default_features_false_reaches_cargo() {
    require_docker!();
    let (_tmp, dir) = fixture("features");
    let o = run_in(&dir, &["build", "v1", "--dry-run", "-f", "service.toml"]);
    assert!(
        stdout(&o).contains(" --no-default-features"),
        "{}",
        stdout(&o)
    );
    // The default feature does not compile; without it the crate builds into an image.
    let tag = unique("nodefault");
    let _cleanup = Image(format!("features:{tag}"));
    let o = run_in(&dir, &["build", &tag, "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    edit(&dir.join("service.toml"), |t| {
        t.replace("default-features = false\n", "")
    });
    let o = run_in(&dir, &["build", &tag, "-f", "service.toml", "--verbose"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the default feature is on"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn init_on_a_lockfile_with_openssl_sys_writes_gnu_and_libssl3() {
    let (_tmp, dir) = fixture("sslapp");
    std::fs::remove_file(dir.join("service.toml")).unwrap();
    let o = run_in(&dir, &["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("service.toml")).unwrap();
    assert!(
        text.contains("\ntarget = \"x86_64-unknown-linux-gnu\"\n"),
        "{text}"
    );
    assert!(text.contains("\npackages = [\"libssl3\"]"), "{text}");
    assert!(
        text.contains("# its dependencies (default features) include openssl-sys, which links the system's OpenSSL"),
        "{text}"
    );
    let o = run_in(&dir, &["check", "--deny-warnings", "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Vendored (openssl-src among the dependencies): the static musl default stays.
    edit(&dir.join("Cargo.toml"), |t| {
        t.replace(
            "openssl-sys = \"0.9\"",
            "openssl-sys = { version = \"0.9\", features = [\"vendored\"] }",
        )
    });
    let o = std::process::Command::new("cargo")
        .args(["generate-lockfile", "--quiet"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(dir.join("service.toml")).unwrap();
    let o = run_in(&dir, &["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("service.toml")).unwrap();
    assert!(
        text.contains("target = \"x86_64-unknown-linux-musl\""),
        "{text}"
    );
}
