//! What the build needs, said before cargo's wall of text (issue 27 item 3): a build
//! script that runs a missing program is diagnosed first, naming the program, where it was
//! missing and its Debian package, on each path (this host, cross's image, the container
//! builder's image); `[build] packages` are checked on the host (`dpkg-query`) and
//! installed in an image made from cross's, or in the build stage.
//!
//! The crate is `tests/fixtures/protoapp`: gRPC-shaped, its build script compiles a
//! `.proto` file with the real prost-build, which runs `protoc`. No machine here has
//! protoc (Debian's protobuf-compiler) unless a build installs it in an image.

use crate::common;

use std::time::Duration;

use common::docker::*;
use common::*;

/// protoc is not on this machine: what the tests below prove depends on it.
fn no_protoc_here() {
    assert!(
        which("protoc").is_none(),
        "protoc is installed on this machine: these tests need a host without it"
    );
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `text`'s position in `err`, or a failure that shows `err`.
fn at(err: &str, text: &str) -> usize {
    err.find(text)
        .unwrap_or_else(|| panic!("no `{text}` in:\n{err}"))
}

/// Builds `p` expecting failure; its stderr.
fn failed_build(p: &Project, env: &[(&str, &str)]) -> String {
    let o = p.build_with_env(&unique("tools"), &[], env);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    err
}

/// The image runs the service, whose generated protobuf code round-trips a message.
fn assert_it_runs(image: &Image) {
    let c = Container::start(image, &[]);
    c.wait_until_up(Duration::from_secs(10));
    c.eventually_ok(
        Duration::from_secs(10),
        "grep -q 'protoapp: world x3' /var/log/protoapp/current",
    );
}

#[test]
fn a_missing_protoc_on_the_host_is_named_first_and_build_packages_stop_the_build_before_compiling()
{
    require_docker!();
    no_protoc_here();
    let p = Project::fixture("protoapp");
    let err = failed_build(&p, &[]);
    let order = [
        at(
            &err,
            "error: the build script of protoapp 0.1.0 ran `protoc`, which is not installed on this host (Debian package: protobuf-compiler)",
        ),
        at(
            &err,
            "ways out:\n  1. install it on this host (`sudo apt-get install protobuf-compiler`) and list it in [build]: packages = [\"protobuf-compiler\"]",
        ),
        at(
            &err,
            "  2. or compile in the image's build stage, which installs it: builder = \"container\"",
        ),
        at(
            &err,
            "cargo said:\n  error: failed to run custom build command for `protoapp v0.1.0",
        ),
        at(&err, "Could not find `protoc`"),
    ];
    assert!(order.is_sorted(), "out of order {order:?}:\n{err}");
    assert!(!err.contains("C library"), "{err}");
    // Listed in [build] packages: dpkg-query finds it missing and nothing compiles.
    // (`make` is installed here, and is not named.)
    p.edit_manifest(|m| format!("{m}\n[build]\npackages = [\"make\", \"protobuf-compiler\"]\n"));
    std::fs::remove_dir_all(p.dir.join("target")).unwrap();
    let err = failed_build(&p, &[]);
    assert!(
        err.contains("error: [build] packages not installed on this host, where cargo compiles: protobuf-compiler (nothing was compiled)\nhint: run `sudo apt-get install protobuf-compiler`"),
        "{err}"
    );
    assert!(!err.contains("Compiling"), "{err}");
    assert!(!p.dir.join("target/release").exists(), "something compiled");
}

#[test]
fn cross_compiles_in_an_image_made_from_its_own_with_the_build_packages() {
    require_docker!();
    require_tool("cross");
    let cross_image = "buildkit-lite-cross:x86_64-unknown-linux-gnu";
    let env = [("CROSS_TARGET_X86_64_UNKNOWN_LINUX_GNU_IMAGE", cross_image)];
    let p = Project::fixture("protoapp");
    p.edit_manifest(|m| {
        m.replace("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu")
            .replace("builder = \"cargo\"", "builder = \"cross\"")
    });
    // cross's image has no protoc: named, with where.
    let err = failed_build(&p, &env);
    let order = [
        at(
            &err,
            &format!(
                "error: the build script of protoapp 0.1.0 ran `protoc`, which is not in the cross image {cross_image} (Debian package: protobuf-compiler)"
            ),
        ),
        at(
            &err,
            &format!(
                "  1. add packages = [\"protobuf-compiler\"] to [build]: build installs it in an image made from {cross_image} for cross to compile in"
            ),
        ),
        at(&err, "cargo said:"),
    ];
    assert!(order.is_sorted(), "out of order {order:?}:\n{err}");
    // With the package, cross compiles in the image made for it, and the service runs.
    p.edit_manifest(|m| format!("{m}\n[build]\npackages = [\"protobuf-compiler\"]\n"));
    let (image, out) = build_image_with_env(&p, "protoapp", &env);
    let err = stderr(&out);
    let derived = err
        .split("docker build --quiet --tag ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no image made for cross:\n{err}"))
        .to_string();
    let _derived = Image(derived.clone());
    assert!(
        derived.starts_with("buildkit-lite-cross:x86_64-unknown-linux-gnu-"),
        "{derived}"
    );
    assert!(
        err.contains(&format!(
            "CROSS_TARGET_X86_64_UNKNOWN_LINUX_GNU_IMAGE={derived} cross build"
        )),
        "{err}"
    );
    let dockerfile = std::fs::read_to_string(
        p.dir
            .join("target/buildkit-lite/protoapp/cross-image/Dockerfile"),
    )
    .unwrap();
    assert!(
        dockerfile.contains(&format!("FROM {cross_image}\n")),
        "{dockerfile}"
    );
    assert_it_runs(&image);
}

#[test]
fn the_container_builder_names_what_its_image_lacks_and_installs_the_build_packages() {
    require_docker!();
    let p = Project::fixture("protoapp");
    p.edit_manifest(|m| {
        let m = m.replace("builder = \"cargo\"", "builder = \"container\"");
        format!("{m}\n[build]\nvendor = true\n")
    });
    let err = failed_build(&p, &[]);
    let order = [
        at(
            &err,
            "error: the build script of protoapp 0.1.0 ran `protoc`, which is not in the builder image rust:1-bookworm (Debian package: protobuf-compiler)",
        ),
        at(
            &err,
            "  1. add packages = [\"protobuf-compiler\"] to [build]: the build stage installs it",
        ),
        at(&err, "cargo said:"),
    ];
    assert!(order.is_sorted(), "out of order {order:?}:\n{err}");
    p.edit_manifest(|m| {
        m.replace(
            "vendor = true\n",
            "vendor = true\npackages = [\"protobuf-compiler\"]\n",
        )
    });
    let (image, _) = build_image(&p, "protoapp");
    assert_it_runs(&image);
}
