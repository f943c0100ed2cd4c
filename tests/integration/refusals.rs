//! What `check` refuses and `init` leaves out, from the third round of hostile input
//! (issue 25): files too large to hold, two checks' files at one path, user and group ids
//! that collide (and a base's own group, named at build time in one line), a volume over a
//! shipped file, bin names no manifest can take, and `test --platform` of a platform the
//! manifest does not build.

use crate::common;

use common::docker::*;
use common::*;

/// A project of `manifest` with `app.bin` (`/bin/true`) and `files` written into it.
fn project(manifest: &str, files: &[(&str, &str)]) -> Project {
    Project::prebuilt_with("refused", manifest, files)
}

const APP: &str = "[app]\nname = \"refused\"\nbinary = \"app\"\nprebuilt = \"app.bin\"\ntarget = \"x86_64-unknown-linux-gnu\"\n\n[services.web]\ncommand = [\"/bin/sleep\", \"1000\"]\n";

/// `check` and `render` exit 1 naming `key` and saying each of `why`.
fn assert_refused_all(p: &Project, key: &str, why: &[&str]) {
    for why in why {
        p.assert_refused(key, why);
    }
}

#[test]
fn a_ca_or_check_script_over_one_mib_is_refused_without_reading_it() {
    let manifest = format!(
        "{APP}\n[checks.tls]\nhttp = \"https://127.0.0.1:8443/\"\nca = \"ca.pem\"\n\n[checks.script]\nscript = \"check.sh\"\n"
    );
    let p = project(&manifest, &[("check.sh", "#!/bin/sh\nexit 0\n")]);
    // 3 GB, sparse: a tool that read it whole would need 3 GB.
    let ca = std::fs::File::create(p.dir.join("ca.pem")).unwrap();
    ca.set_len(3 << 30).unwrap();
    for args in [
        &["check", "-f", "service.toml"][..],
        &["render", "-f", "service.toml"],
    ] {
        let o = run_bounded(&p.dir, 300, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(": checks.tls.ca: "), "{err}");
        assert!(err.contains("is 3221225472 bytes: at most 1 MiB"), "{err}");
    }
    ca.set_len(0).unwrap();
    let script = std::fs::File::options()
        .append(true)
        .open(p.dir.join("check.sh"))
        .unwrap();
    script.set_len((1 << 20) + 1).unwrap();
    assert_refused_all(
        &p,
        "checks.script.script",
        &["check script `check.sh`", "at most 1 MiB"],
    );
    // At the limit, rendered into a directory within a small memory bound: streamed.
    script.set_len(1 << 20).unwrap();
    let o = run_bounded(
        &p.dir,
        300,
        &["render", "-f", "service.toml", "--out", "ctx"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let copied = p.dir.join("ctx/root/etc/sensu/plugins/check.sh");
    assert_eq!(std::fs::metadata(copied).unwrap().len(), 1 << 20);
}

#[test]
fn a_check_script_named_like_another_checks_ca_file_is_refused_naming_both() {
    let manifest = format!(
        "{APP}\n[checks.tls]\nhttp = \"https://127.0.0.1:8443/\"\nca = \"a.pem\"\n\n[checks.x]\nscript = \"x/http-tls.sh.ca.pem\"\n"
    );
    let p = project(
        &manifest,
        &[("a.pem", "pem\n"), ("x/http-tls.sh.ca.pem", "#!/bin/sh\n")],
    );
    assert_refused_all(
        &p,
        "checks.x",
        &[
            "its plugin /etc/sensu/plugins/http-tls.sh.ca.pem is also the CA certificate of check `tls`",
        ],
    );
}

#[test]
fn user_ids_that_collide_across_tables_are_refused_and_a_bases_group_is_named_at_build() {
    for (users, key, why) in [
        (
            "[users.a]\nuid = 2001\ngid = 2002\n\n[users.b]\nuid = 2002\n",
            "users.b.uid",
            "gid 2002 is the group of user `a` already",
        ),
        (
            "[users.a]\nuid = 2001\n\n[users.b]\nuid = 2003\ngid = 2001\n",
            "users.b.gid",
            "gid 2001 is the group of user `a` already",
        ),
    ] {
        let p = project(&format!("{APP}\n{users}"), &[]);
        assert_refused_all(&p, key, &[why]);
    }
    require_docker!();
    // gid 42 is bookworm's `shadow`: the build says so in one short line, also in --json.
    let manifest = APP.replace("command =", "user = \"app\"\ncommand =");
    let p = project(
        &format!("{manifest}\n[users.app]\nuid = 2001\ngid = 42\n"),
        &[],
    );
    let o = p.run(&["build", "v1", "-f", "service.toml", "--json"]);
    let _image = Image("refused:v1".into());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let error = doc["error"].as_str().unwrap();
    assert!(
        error
            .ends_with("\nbuildkit-lite: gid 42 of [users.app] is the base's group shadow already"),
        "{error}"
    );
    assert!(error.len() < 400, "{} bytes: {error}", error.len());
}

#[test]
fn a_volume_over_a_shipped_file_is_refused_naming_both() {
    let manifest = format!(
        "{APP}\n[image]\nvolumes = [\"/etc/app/app.conf\", \"/etc/app/app.conf/x\", \"/srv/data\"]\n\n[files]\n\"/etc/app/app.conf\" = \"app.conf\"\n\"/srv/data\" = \"data\"\n"
    );
    let p = project(&manifest, &[("app.conf", "x = 1\n"), ("data/a", "a\n")]);
    assert_refused_all(
        &p,
        "image.volumes[0]",
        &[
            "`/etc/app/app.conf` would mount a volume over the file `/etc/app/app.conf` that [files] ships",
        ],
    );
    assert_refused_all(
        &p,
        "image.volumes[1]",
        &["over the file `/etc/app/app.conf`"],
    );
    let o = p.run(&["check", "-f", "service.toml"]);
    assert!(!stderr(&o).contains("image.volumes[2]"), "{}", stderr(&o));
}

#[test]
fn init_leaves_out_bins_no_manifest_can_take_and_what_it_writes_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut toml =
        "[package]\nname = \"odd\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".to_string();
    for bin in ["x.y", "a b", "a;b", "good"] {
        toml.push_str(&format!(
            "\n[[bin]]\nname = \"{bin}\"\npath = \"src/main.rs\"\n"
        ));
    }
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    std::fs::write(tmp.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(tmp.path().join("Cargo.toml"), toml).unwrap();
    let o = run(&["init", "--dir", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(tmp.path().join("service.toml")).unwrap();
    assert!(text.contains("binary = \"good\""), "{text}");
    for bin in ["x.y", "a b", "a;b"] {
        assert!(
            text.contains(&format!("# left out: bin target \"{bin}\": invalid value")),
            "{bin}: {text}"
        );
    }
    let manifest = tmp.path().join("service.toml");
    let o = run(&["check", "--deny-warnings", "-f", manifest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}\n{text}", stderr(&o));
}

#[test]
fn test_of_a_platform_the_manifest_does_not_build_is_a_usage_error() {
    let o = run(&[
        "test",
        "v1",
        "--platform",
        "linux/arm64",
        "--json",
        "-f",
        "examples/minimal/service.toml",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["usage"], true, "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("the manifest builds linux/amd64"),
        "{doc}"
    );
}

#[test]
fn small_refusals_and_warnings_of_round_three() {
    // Numbers in TOML words, with the rule's own range for ids.
    let p = project(
        &format!("{APP}\n[users.a]\nuid = -3\n\n[users.b]\nuid = 1.5\n"),
        &[],
    );
    assert_refused_all(
        &p,
        "users.a.uid",
        &["expected a whole number from 1 to 65533, found the number -3"],
    );
    assert_refused_all(
        &p,
        "users.b.uid",
        &["expected a whole number from 1 to 65533, found the number 1.5"],
    );
    // An invalid label key: the caret is under the key.
    let p = project(
        &format!("{APP}\n[image]\nlabels = {{ \"bad key!\" = \"v\" }}\n"),
        &[],
    );
    let o = p.run(&["check", "-f", "service.toml"]);
    assert!(
        stderr(&o).contains("labels = { \"bad key!\" = \"v\" }\n   |            ^^^^^^^^^^\n"),
        "{}",
        stderr(&o)
    );
    // [files] may not replace what the image runs, nor the base's own directories.
    for (path, why) in [
        ("/usr/bin/dash", "the shell /bin/sh is a link to"),
        ("/usr/bin/timeout", "timeout"),
        ("/usr/bin/curl", "curl, which http checks run"),
        ("/lib", "one of the base's own directories"),
        ("/usr/lib", "one of the base's own directories"),
    ] {
        let p = project(
            &format!("{APP}\n[files]\n\"{path}\" = {{ mode = \"0755\" }}\n"),
            &[],
        );
        assert_refused_all(&p, &format!("files.\"{path}\""), &[why]);
    }
    // svlogd's numbers wrap above an unsigned int.
    let p = project(&format!("{APP}\n[log]\nkeep = 4294967296\n"), &[]);
    assert_refused_all(&p, "log.keep", &["svlogd takes at most 4294967295"]);
    // A mode every user may write is warned of.
    let p = project(
        &format!(
            "{APP}\n[files]\n\"/srv/shared\" = {{ mode = \"0777\" }}\n\"/srv/f\" = {{ from = \"f\", mode = \"0666\" }}\n"
        ),
        &[("f", "x\n")],
    );
    let o = p.run(&["check", "-f", "service.toml", "--deny-warnings"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "files.\"/srv/shared\".mode: mode \"0777\" lets every user in the container write"
        ),
        "{err}"
    );
    assert!(
        err.contains("files.\"/srv/f\".mode: mode \"0666\""),
        "{err}"
    );
}

#[test]
fn paths_in_hints_are_shell_quoted_and_a_dangling_schema_link_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my project; x");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    let manifest = dir.join("service.toml");
    let o = run(&["check", "-f", manifest.to_str().unwrap()]);
    let quoted = format!("'{}'", dir.display());
    assert!(
        stderr(&o).contains(&format!("buildkit-lite init --dir {quoted}")),
        "{}",
        stderr(&o)
    );
    std::os::unix::fs::symlink("/nonexistent/schema.json", dir.join("service.schema.json"))
        .unwrap();
    let o = run(&["init", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("buildkit-lite check -f '{}'", manifest.display())),
        "{out}"
    );
    assert!(out.contains("wrote ") && !out.contains("kept"), "{out}");
    let schema = dir.join("service.schema.json");
    assert!(!schema.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(
        std::fs::read_to_string(schema)
            .unwrap()
            .contains("\"$schema\"")
    );
    let o = run(&["init", "--dir", dir.to_str().unwrap()]);
    assert!(
        stderr(&o).contains(&format!("check -f '{}'", manifest.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_local_base_of_another_architecture_fails_before_compiling() {
    require_docker!();
    let p = Project::copy_of("multi-platform");
    p.edit_manifest(|m| {
        m.replace(
            "\"local/debian-arm64:bookworm\"",
            "\"debian:bookworm-slim\"",
        )
    });
    let started = std::time::Instant::now();
    let o = p.build("v1", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("image.base.\"linux/arm64\": the local image debian:bookworm-slim is for amd64, not linux/arm64"),
        "{err}"
    );
    assert!(!p.dir.join("target").exists(), "it compiled: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn what_the_container_prints_reaches_the_terminal_escaped() {
    require_docker!();
    let manifest = format!(
        "{APP}\n[checks.colour]\ncommand = \"printf '\\\\033[31mred\\\\033[0m\\\\007 done'\"\ninterval = 30\nsubscribers = [\"x\"]\n"
    );
    let (p, image) = built(
        "escapes",
        &manifest.replace("\"refused\"", "\"escapes\""),
        &[],
    );
    for json in [false, true] {
        let mut args = vec!["--timeout", "30"];
        if json {
            args.push("--json");
        }
        let o = p.prove(image.tag(), &args);
        let out = stdout(&o);
        assert!(o.status.success(), "{out}{}", stderr(&o));
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        let shown = if json {
            "\\\\x1b[31mred\\\\x1b[0m\\\\x07 done"
        } else {
            "\\x1b[31mred\\x1b[0m\\x07 done"
        };
        assert!(out.contains(shown), "{out}");
    }
}
