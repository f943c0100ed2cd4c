//! Several platforms (issue 20): one manifest with an x86_64 and an aarch64 target builds
//! an image a platform, pushes them and one image index to a real registry, and `test
//! --platform linux/arm64` runs the arm64 image under qemu-user. `check` refuses what
//! cannot be built, and a dry run shows every compile and build.

use crate::common;

use std::time::Duration;

use common::docker::{Container, Image, Project, Registry, docker, unique};
use common::{run, stderr, stdout};

const INDEX_TYPES: &str = "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The value of header `name` in an HTTP head.
fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {head}"))
}

/// The bytes of `path` in `image`, read from a created (never started) container.
fn file_of(image: &str, path: &str) -> Vec<u8> {
    let name = unique("bkl-cp");
    let created = docker(&["create", "--name", &name, image]);
    assert!(created.status.success(), "{}", stderr(&created));
    let copied = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("docker cp {name}:{path} - | tar -xO"))
        .output()
        .unwrap();
    docker(&["rm", &name]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    copied.stdout
}

#[test]
fn two_platforms_build_push_one_index_and_the_arm64_image_passes_its_test() {
    require_docker!();
    let registry = Registry::start(None);
    let project = Project::copy_of("multi-platform");
    let name = unique("multi");
    let repository = format!("127.0.0.1:{}/{name}", registry.port);
    project.set_image_name(&repository);
    let _images = ["v1", "v1-amd64", "v1-arm64"].map(|t| Image(format!("{repository}:{t}")));

    let built = project.build("v1", &["--push", "--json"]);
    assert!(built.status.success(), "{}", stderr(&built));
    // One cargo run compiled both targets; the aarch64 one linked with rust-lld.
    let progress = stderr(&built);
    for line in [
        "builder for linux/arm64: cargo (auto: aarch64-unknown-linux-musl is another architecture; cargo links it with rust-lld",
        "compile the app with cargo for linux/amd64 and linux/arm64",
    ] {
        assert!(progress.contains(line), "no `{line}` in:\n{progress}");
    }
    assert_eq!(progress.matches("compile the app").count(), 1, "{progress}");
    let doc = json(&stdout(&built));
    let platforms = doc["platforms"].as_array().unwrap();
    let listed: Vec<&str> = platforms
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["linux/amd64", "linux/arm64"]);
    for (platform, arch) in platforms.iter().zip(["amd64", "arm64"]) {
        let reference = format!("{repository}:v1-{arch}");
        assert_eq!(platform["references"], serde_json::json!([reference]));
        let id = docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{.Architecture}}",
            &reference,
        ]);
        let expected = format!("{} {arch}", platform["image_id"].as_str().unwrap());
        assert_eq!(stdout(&id).trim(), expected);
    }
    assert_eq!(
        doc["image_id"], platforms[0]["image_id"],
        "v1 is the host's (amd64) image"
    );

    // The registry's tag is an index of both platforms, and its digest is the one printed.
    let (head, body) = registry
        .get(&format!("/v2/{name}/manifests/v1"), INDEX_TYPES)
        .unwrap();
    let digest = header(&head, "Docker-Content-Digest");
    assert_eq!(
        doc["digest"].as_str().unwrap(),
        format!("{repository}@{digest}")
    );
    let index = json(&body);
    let mut seen = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let (os, arch) = (&entry["platform"]["os"], &entry["platform"]["architecture"]);
        assert_eq!(os, "linux");
        let path = format!("/v2/{name}/manifests/{}", entry["digest"].as_str().unwrap());
        let manifest = json(&registry.get(&path, MANIFEST_TYPES).unwrap().1);
        let config = format!(
            "/v2/{name}/blobs/{}",
            manifest["config"]["digest"].as_str().unwrap()
        );
        let config = json(&registry.get(&config, "").unwrap().1);
        assert_eq!(
            &config["architecture"], arch,
            "the config of the {arch} manifest"
        );
        seen.push(arch.as_str().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(seen, ["amd64", "arm64"]);
    // Each platform's manifest has its own SBOM attached: the one beside its context.
    for platform in platforms {
        let (_, digest) = platform["digest"]
            .as_str()
            .unwrap()
            .split_once('@')
            .unwrap();
        let (artifact, blob) = registry.attached_sbom(&name, digest);
        assert_eq!(platform["sbom_digest"], format!("{repository}@{artifact}"));
        let sbom = project.dir.join(platform["sbom"].as_str().unwrap());
        assert_eq!(blob, std::fs::read_to_string(sbom).unwrap());
    }

    // The arm64 image's binary is an AArch64 ELF (e_machine 0xb7).
    let binary = file_of(&format!("{repository}:v1-arm64"), "/bin/healthcheckapp");
    assert_eq!(&binary[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([binary[18], binary[19]]), 0xb7);

    // Pulling the tag for arm64 gives the arm64 image.
    let pulled = docker(&[
        "pull",
        "--platform",
        "linux/arm64",
        &format!("{repository}:v1"),
    ]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    let arch = docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Architecture}}",
        &format!("{repository}:v1"),
    ]);
    assert_eq!(stdout(&arch).trim(), "arm64");

    // `test --platform linux/arm64` passes under qemu, and the service runs as its user.
    let tested = project.prove("v1", &["--platform", "linux/arm64"]);
    let out = stdout(&tested);
    assert!(tested.status.success(), "{out}{}", stderr(&tested));
    for line in [
        "ok   service multi-platform",
        "ok   check ping",
        "ok   check app_running",
        "ok   stop",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
    assert!(
        out.contains(&format!("test {repository}:v1-arm64: passed")),
        "{out}"
    );
    let arm64 = Image(format!("{repository}:v1-arm64"));
    let container = Container::start(&arm64, &[]);
    container.wait_until_up(Duration::from_secs(60));
    // Under qemu-user, each command line starts with the interpreter's path.
    let processes = container.processes();
    let app = processes
        .iter()
        .find(|(_, command)| command.contains(" /bin/healthcheckapp"))
        .unwrap_or_else(|| panic!("no /bin/healthcheckapp in {processes:?}"));
    assert_eq!(app.0, "app", "{processes:?}");
    std::mem::forget(arm64); // removed with the others
}

fn check(manifest: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
    let path = dir.path().join("service.toml");
    std::fs::write(&path, manifest).unwrap();
    let o = run(&["check", "-f", path.to_str().unwrap()]);
    (o.status.code(), stderr(&o))
}

fn manifest(target: &str, base: &str) -> String {
    format!(
        "[app]\nname = \"demo\"\nbinary = \"demo\"\ntarget = {target}\n\n[image]\nbase = {base}\n\n[services.demo]\n"
    )
}

#[test]
fn check_refuses_two_targets_a_platform_an_unsupported_target_and_a_base_table_missing_one() {
    let both = r#"["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]"#;
    let one_base = r#""debian:bookworm-slim""#;
    let refused = [
        (
            r#"["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"]"#,
            one_base,
            "app.target[1]: `x86_64-unknown-linux-musl` and `x86_64-unknown-linux-gnu` are both linux/amd64: one target a platform",
        ),
        (
            r#"["x86_64-unknown-linux-musl", "riscv64gc-unknown-linux-gnu"]"#,
            one_base,
            "app.target[1]: unsupported target `riscv64gc-unknown-linux-gnu`",
        ),
        (
            both,
            r#"{ "linux/amd64" = "debian:bookworm-slim" }"#,
            "image.base: image.base has no image for linux/arm64 (target `aarch64-unknown-linux-musl`)",
        ),
    ];
    for (target, base, expected) in refused {
        let (code, err) = check(&manifest(target, base));
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(expected), "{err}");
    }
    let table = r#"{ "linux/amd64" = "debian:bookworm-slim", "linux/arm64" = "local/debian-arm64:bookworm" }"#;
    for base in [table, one_base] {
        let (code, err) = check(&manifest(both, base));
        assert_eq!(code, Some(0), "{err}");
    }
}

#[test]
fn a_dry_run_shows_every_compile_and_build_and_the_index() {
    let o = run(&[
        "build",
        "v1",
        "--dry-run",
        "--push",
        "-f",
        "examples/multi-platform/service.toml",
    ]);
    // What would run goes to stdout, the decisions to stderr.
    let plan = stdout(&o) + &stderr(&o);
    assert!(o.status.success(), "{plan}");
    for line in [
        "cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl --config 'target.aarch64-unknown-linux-musl.linker=\"rust-lld\"' --profile release",
        "would compile the app with cargo for linux/amd64 and linux/arm64",
        // Untagged: the tags move once both have built.
        "docker build --platform linux/amd64 --build-arg BUILDKIT_LITE_BASE=debian:bookworm-slim --build-arg",
        "docker build --platform linux/arm64 --build-arg BUILDKIT_LITE_BASE=local/debian-arm64:bookworm --build-arg",
        "docker tag '<the new linux/amd64 image>' multi-platform:v1-amd64",
        "docker tag '<the new linux/arm64 image>' multi-platform:v1-arm64",
        "docker tag '<the new linux/amd64 image>' multi-platform:v1",
        "docker push multi-platform:v1-amd64",
        "docker push multi-platform:v1-arm64",
        "docker manifest create --amend multi-platform:v1 multi-platform:v1-amd64 multi-platform:v1-arm64",
        "docker manifest push --purge multi-platform:v1",
    ] {
        assert!(plan.contains(line), "no `{line}` in:\n{plan}");
    }
    assert_eq!(plan.matches("would compile the app").count(), 1, "{plan}");
    // The platforms build side by side, and their report reads one after the other.
    let out = stdout(&o);
    let at = |text: &str| {
        out.find(text)
            .unwrap_or_else(|| panic!("no `{text}` in {out}"))
    };
    assert!(at("would compile") < at("--platform linux/amd64"), "{out}");
    assert!(
        at("--platform linux/amd64") < at("--platform linux/arm64"),
        "{out}"
    );
    assert!(at("--platform linux/arm64") < at("docker tag"), "{out}");
    assert!(at("docker tag") < at("docker push"), "{out}");
    assert!(at("docker push") < at("docker manifest create"), "{out}");
    assert!(!out.contains("--tag"), "{out}");
}

/// A crate that compiles C code (SQLite, through cc) for aarch64 musl, on a host with no C
/// compiler for it: cargo-zigbuild compiles that platform, whose zig cc builds the C code;
/// the host's platform still compiles with cargo (and musl-gcc), each in its turn.
#[test]
fn c_code_for_another_architecture_goes_to_zigbuild_and_each_platform_compiles_alone() {
    let project = Project::copy_of("workspace");
    project.edit_manifest(|m| {
        m.replace(
            "target = \"x86_64-unknown-linux-musl\"",
            "target = [\"x86_64-unknown-linux-musl\", \"aarch64-unknown-linux-musl\"]",
        )
        .replacen(
            "[app]\n",
            "[image]\nbase = { \"linux/amd64\" = \"debian:bookworm-slim\", \"linux/arm64\" = \"local/debian-arm64:bookworm\" }\n\n[app]\n",
            1,
        )
    });
    let manifest = project.manifest();
    let o = run(&["build", "v1", "--dry-run", "-f", manifest.to_str().unwrap()]);
    let plan = stdout(&o) + &stderr(&o);
    assert!(o.status.success(), "{plan}");
    for line in [
        "cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --profile release",
        "builder: zigbuild (auto: aarch64-unknown-linux-musl is another architecture; cargo-zigbuild links for it",
        "cargo zigbuild --manifest-path Cargo.toml --target aarch64-unknown-linux-musl --profile release",
    ] {
        assert!(plan.contains(line), "no `{line}` in:\n{plan}");
    }
    assert!(!plan.contains("rust-lld"), "{plan}");
}

/// The image ID each of `references` names locally ("" for none).
fn local_ids(references: &[String]) -> Vec<String> {
    references
        .iter()
        .map(|r| {
            stdout(&docker(&["image", "inspect", "-f", "{{.Id}}", r]))
                .trim()
                .to_string()
        })
        .collect()
}

/// A failed platform, then an interrupted one, moves no tag of any platform, local or in
/// the registry (issue 25): the tags start on other images (pushed), the amd64 image
/// builds each time, and every tag still names what it named before.
#[test]
fn a_failed_or_interrupted_platform_moves_no_tag_local_or_remote() {
    require_docker!();
    let registry = Registry::start(None);
    let project = Project::copy_of("multi-platform");
    let name = unique("atomic");
    let repository = format!("127.0.0.1:{}/{name}", registry.port);
    project.set_image_name(&repository);
    let references: Vec<String> = ["v1", "v1-amd64", "v1-arm64"]
        .iter()
        .map(|t| format!("{repository}:{t}"))
        .collect();
    let _images: Vec<Image> = references.iter().cloned().map(Image).collect();
    for reference in &references {
        assert!(
            docker(&["tag", "debian:bookworm-slim", reference])
                .status
                .success()
        );
        let pushed = docker(&["push", reference]);
        assert!(pushed.status.success(), "{}", stderr(&pushed));
    }
    let before = local_ids(&references);
    let remote = |tag: &str| {
        let (head, _) = registry
            .get(&format!("/v2/{name}/manifests/{tag}"), MANIFEST_TYPES)
            .unwrap();
        header(&head, "Docker-Content-Digest").to_string()
    };
    let remote_before = remote("v1-amd64");

    // The arm64 base does not exist: that platform fails, amd64 builds.
    let broken = project.manifest().with_file_name("broken.toml");
    let text = std::fs::read_to_string(project.manifest()).unwrap();
    std::fs::write(
        &broken,
        text.replace("local/debian-arm64:bookworm", "local/no-such-base:x"),
    )
    .unwrap();
    let o = project.run(&["build", "v1", "--push", "-f", "broken.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let amd64_id = project
        .dir
        .join("target/buildkit-lite/multi-platform/amd64/image-id");
    assert!(
        amd64_id.exists(),
        "the amd64 image was built: {}",
        stderr(&o)
    );
    assert_eq!(local_ids(&references), before, "{}", stderr(&o));
    assert_eq!(remote("v1-amd64"), remote_before);

    // SIGTERM once the amd64 image is built, while the arm64 one builds under qemu.
    std::fs::remove_file(&amd64_id).unwrap();
    let child = common::cmd()
        .current_dir(&project.dir)
        .args(["build", "v1", "--push", "--no-cache", "-f", "service.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::eventually(Duration::from_secs(300), "the amd64 image is built", || {
        amd64_id.exists().then_some(()).ok_or_else(String::new)
    });
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert_eq!(local_ids(&references), before, "{}", stderr(&o));
    assert_eq!(remote("v1-amd64"), remote_before);
}
