//! Known contents (issue 28): every build writes a CycloneDX 1.5 SBOM beside the context
//! and into the image, with the crates of the binaries (build-time ones excluded), the
//! Debian packages the image has and its base; provenance labels; the same inputs give
//! the same bytes. On `tests/fixtures/sbomapp`: a normal dependency, an optional one that
//! is off, a build dependency and a proc macro.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::docker::*;
use common::*;

const EPOCH: &str = "1764880658";

/// Validates `path` against CycloneDX's 1.5 JSON schema (the strict validator of PyPI's
/// cyclonedx-python-lib, which carries the official schema files).
fn validate_cyclonedx(path: &Path) {
    let script = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerror = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nprint(error or 'valid')\nsys.exit(1 if error else 0)\n";
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{} does not validate: {}{}",
        path.display(),
        stdout(&o),
        stderr(&o)
    );
}

/// `cargo tree` of the fixture for musl with `edges`: `name@version` of each crate, and
/// the proc macros among them.
fn cargo_tree(dir: &Path, edges: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let o = Command::new("cargo")
        .args(["tree", "--locked", "-e", edges, "--target"])
        .args(["x86_64-unknown-linux-musl", "--prefix", "none", "-f", "{p}"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut all = BTreeSet::new();
    let mut macros = BTreeSet::new();
    for line in stdout(&o).lines().filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let (name, version) = (words.next().unwrap(), words.next().unwrap());
        let crate_ = format!("{name}@{}", version.trim_start_matches('v'));
        if line.contains("(proc-macro)") {
            macros.insert(crate_.clone());
        }
        all.insert(crate_);
    }
    (all, macros)
}

/// `name@version` of the SBOM's crates whose scope is (not) excluded.
fn crates(doc: &serde_json::Value, excluded: bool) -> BTreeSet<String> {
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["purl"].as_str().unwrap_or("").starts_with("pkg:cargo/"))
        .filter(|c| (c["scope"] == "excluded") == excluded)
        .map(|c| {
            format!(
                "{}@{}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        })
        .collect()
}

fn docker_out(args: &[&str]) -> String {
    let o = docker(args);
    assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn every_build_has_a_valid_sbom_of_its_crates_packages_and_base_in_the_image_and_beside_it() {
    require_docker!();
    let p = Project::fixture("sbomapp");
    let tag = unique("sbom");
    let image = Image(format!("sbomapp:{tag}"));
    let env = [("SOURCE_DATE_EPOCH", EPOCH)];
    let o = p.build_with_env(&tag, &["--json"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let built: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let path = p.dir.join(built["sbom"].as_str().unwrap());
    validate_cyclonedx(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The crates: cargo tree's for the target; the build dependency and the proc macro
    // build-time only; the optional dependency that is off, absent.
    let (normal, macros) = cargo_tree(&p.dir, "normal");
    let (with_build, _) = cargo_tree(&p.dir, "normal,build");
    let shipped: BTreeSet<String> = normal.difference(&macros).cloned().collect();
    assert_eq!(crates(&doc, false), shipped, "{text}");
    let build_only: BTreeSet<String> = with_build.difference(&shipped).cloned().collect();
    assert_eq!(crates(&doc, true), build_only, "{text}");
    assert!(
        build_only.iter().any(|c| c.starts_with("autocfg@")),
        "{build_only:?}"
    );
    assert!(!text.contains("pkg:cargo/ryu@"), "{text}");
    let itoa = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "itoa")
        .unwrap();
    let lock = std::fs::read_to_string(p.dir.join("Cargo.lock")).unwrap();
    let sum = itoa["hashes"][0]["content"].as_str().unwrap();
    assert!(lock.contains(&format!("checksum = \"{sum}\"")), "{itoa}");
    assert_eq!(itoa["licenses"][0]["expression"], "MIT OR Apache-2.0");
    // The Debian packages are dpkg-query's in the image.
    let listed = docker_out(&[
        "run",
        "--rm",
        "--entrypoint",
        "dpkg-query",
        &image.0,
        "-W",
        "-f",
        "${db:Status-Status} ${Package} ${Version}\\n",
    ]);
    let in_image: BTreeSet<String> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("installed "))
        .map(str::to_string)
        .collect();
    let debs = doc["components"].as_array().unwrap().iter();
    let debs = debs.filter(|c| {
        c["purl"]
            .as_str()
            .unwrap_or("")
            .starts_with("pkg:deb/debian/")
    });
    let in_sbom: BTreeSet<String> = debs
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(in_sbom, in_image);
    assert!(
        in_sbom.iter().any(|d| d.starts_with("runit ")),
        "{in_sbom:?}"
    );
    // The file in the image is the one beside the context; the time is the epoch's.
    let inside = docker_out(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        &image.0,
        "/usr/share/buildkit-lite/sbom.cdx.json",
    ]);
    assert_eq!(inside, text);
    assert_eq!(doc["metadata"]["timestamp"], "2025-12-04T20:37:38Z");
    // Provenance labels.
    let labels: serde_json::Value = serde_json::from_str(&docker_out(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        &image.0,
    ]))
    .unwrap();
    // A pulled base is named by its registry digest, a loaded one by its ID.
    let base_id = docker_out(&[
        "image",
        "inspect",
        "-f",
        "{{range .RepoDigests}}{{.}} {{end}}{{.Id}}",
        "debian:bookworm-slim",
    ]);
    let first = base_id.split_whitespace().next().unwrap();
    let base_digest = first.split_once('@').map_or(first, |(_, d)| d);
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2025-12-04T20:37:38Z"
    );
    assert_eq!(
        labels["org.opencontainers.image.base.name"],
        "debian:bookworm-slim"
    );
    assert_eq!(labels["org.opencontainers.image.base.digest"], base_digest);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/team/sbomapp"
    );
    // `sbom` shows it in short.
    let o = p.run(&["sbom", &tag, "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("crates            3 in the binaries, 2 used only to build them"),
        "{}",
        stdout(&o)
    );
    // A code change, built again with the same SOURCE_DATE_EPOCH: the same bytes.
    let main = p.dir.join("src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, code.replace("crates", "crates!")).unwrap();
    let o = p.build_with_env(&tag, &[], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

/// Two clean checkouts of the same code at different paths, with different `CARGO_HOME`s,
/// build byte-identical binaries, with no path of either left in them (the fixture's
/// generated code, included from OUT_DIR, carries its path into panic locations).
#[test]
fn two_checkouts_at_different_paths_give_identical_binaries() {
    require_docker!();
    let tmp = tempfile::tempdir().unwrap();
    let mut binaries = Vec::new();
    for (checkout, home) in [("a/sbomapp", "home-one"), ("bb/ccc/elsewhere", "h2")] {
        let p = Project::fixture("sbomapp");
        let dir = tmp.path().join(checkout);
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        std::fs::rename(&p.dir, &dir).unwrap();
        let cargo_home = tmp.path().join(home);
        let tag = unique("repro");
        let _image = Image(format!("sbomapp:{tag}"));
        let o = cmd()
            .current_dir(&dir)
            .env("CARGO_HOME", &cargo_home)
            .env_remove("CARGO_TARGET_DIR")
            .args(["build", &tag, "--builder", "cargo", "-f", "service.toml"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let binary = dir.join("target/x86_64-unknown-linux-musl/release/sbomapp");
        let bytes = std::fs::read(&binary).unwrap();
        for path in [&dir, &cargo_home] {
            let path = path.to_str().unwrap().as_bytes();
            assert!(
                !bytes.windows(path.len()).any(|w| w == path),
                "{} is in {}",
                String::from_utf8_lossy(path),
                binary.display()
            );
        }
        binaries.push(bytes);
    }
    assert!(
        binaries[0] == binaries[1],
        "the two checkouts' binaries differ"
    );
}

/// `--push` attaches the SBOM to the pushed image as an OCI artifact, found from the image's
/// digest (Debian's registry 2.8 has no referrers API: through the referrers tag), with
/// the credentials `docker login` left in `DOCKER_CONFIG`; its blob is the SBOM beside the
/// context, and a second push of the same image refers to it once.
#[test]
fn push_attaches_the_sbom_to_the_image_found_from_its_digest_with_the_engines_credentials() {
    require_docker!();
    common::require_tool("htpasswd");
    let line = Command::new("htpasswd")
        .args(["-Bbn", "alice", "secret"])
        .output()
        .unwrap();
    let mut registry = Registry::start(Some(&stdout(&line)));
    registry.login("alice", "secret");
    let name = unique("attached");
    let repository = format!("127.0.0.1:{}/acme/{name}", registry.port);
    let manifest = format!(
        "[app]\nname = \"attached\"\nbinary = \"attached\"\ntarget = \"x86_64-unknown-linux-gnu\"\nprebuilt = \"app.bin\"\n\n[image]\nname = \"{repository}\"\n\n[services.attached]\ncommand = [\"sleep\", \"1000\"]\n"
    );
    let p = Project::prebuilt("attached", &manifest);
    let tag = unique("v");
    let _image = Image(format!("{repository}:{tag}"));
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let login = Command::new("docker")
        .env("DOCKER_CONFIG", config_dir)
        .args(["login", "-u", "alice", "--password-stdin"])
        .arg(format!("127.0.0.1:{}", registry.port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"secret")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(login.status.success(), "{}", stderr(&login));
    let env = [("DOCKER_CONFIG", config_dir)];

    let o = p.build_with_env(&tag, &["--push", "--json"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (_, digest) = doc["digest"].as_str().unwrap().split_once('@').unwrap();
    let (artifact, blob) = registry.attached_sbom(&format!("acme/{name}"), digest);
    assert_eq!(doc["sbom_digest"], format!("{repository}@{artifact}"));
    let beside = std::fs::read_to_string(p.dir.join(doc["sbom"].as_str().unwrap())).unwrap();
    assert_eq!(blob, beside);
    assert!(
        stderr(&o).contains(&format!(
            "==> attach the SBOM ./target/buildkit-lite/attached/sbom.cdx.json to the image pushed to {repository} (an OCI referrer)… ("
        )),
        "{}",
        stderr(&o)
    );

    // Pushed again: the same artifact, referred to once; the digest is printed.
    let o = p.build_with_env(&tag, &["--push"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let said = format!("attached the SBOM {repository}@{artifact}\n");
    assert!(stdout(&o).contains(&said), "{}", stdout(&o));
    assert_eq!(
        registry.attached_sbom(&format!("acme/{name}"), digest).0,
        artifact
    );
}
