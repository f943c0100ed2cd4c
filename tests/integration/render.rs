//! What `render` generates for every example: snapshot-reviewed, byte-identical from run to
//! run, and passing real linters (shellcheck, hadolint, a JSON parser plus Sensu's rules).

use crate::common;

use std::path::Path;

use common::*;
use serde_json::Value;

#[test]
fn every_example_renders_as_its_snapshot() {
    for name in examples() {
        let o = run(&["render", "-f", &example_manifest(&name)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        insta::with_settings!({
            snapshot_path => "snapshots",
            prepend_module_to_snapshot => false,
            description => format!("`buildkit-lite render -f examples/{name}/service.toml`: every file of the build context"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("render-{name}"), stdout(&o));
        });
    }
}

#[test]
fn two_renders_are_byte_identical() {
    for name in examples() {
        let a = render_example(&name);
        let b = render_example(&name);
        let (a, b) = (a.path().join("ctx"), b.path().join("ctx"));
        let files = files_below(&a);
        assert_eq!(files, files_below(&b), "{name}");
        for f in files {
            assert_eq!(
                std::fs::read(a.join(&f)).unwrap(),
                std::fs::read(b.join(&f)).unwrap(),
                "{name}: {}",
                f.display()
            );
        }
        let printed = |n: &str| stdout(&run(&["render", "-f", &example_manifest(n)]));
        assert_eq!(printed(&name), printed(&name));
    }
}

#[test]
fn generated_text_files_end_with_a_newline_and_use_lf() {
    for name in examples() {
        let tmp = render_example(&name);
        let ctx = tmp.path().join("ctx");
        for f in files_below(&ctx) {
            let bytes = std::fs::read(ctx.join(&f)).unwrap();
            assert!(
                bytes.ends_with(b"\n"),
                "{name}: {} does not end with a newline",
                f.display()
            );
            assert!(
                !bytes.contains(&b'\r'),
                "{name}: {} has CR characters",
                f.display()
            );
        }
    }
}

/// Runs shellcheck on every `#!/bin/sh` file of a rendered context.
fn shellcheck_context(ctx: &Path) {
    let scripts: Vec<_> = files_below(ctx)
        .into_iter()
        .filter(|f| {
            std::fs::read(ctx.join(f))
                .unwrap()
                .starts_with(b"#!/bin/sh")
        })
        .collect();
    assert!(!scripts.is_empty());
    for f in scripts {
        shellcheck(&ctx.join(f));
    }
}

#[test]
fn generated_scripts_pass_shellcheck() {
    for name in examples() {
        shellcheck_context(&render_example(&name).path().join("ctx"));
    }
}

#[test]
fn generated_dockerfiles_pass_hadolint() {
    for name in examples() {
        hadolint(&render_example(&name).path().join("ctx/Dockerfile"));
    }
}

/// Checks a Sensu (Core 1.x) check definition file against Sensu's own rules.
fn check_sensu_file(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let checks = doc["checks"]
        .as_object()
        .expect("a top-level `checks` object");
    assert_eq!(
        doc.as_object().unwrap().len(),
        1,
        "only `checks` at the top"
    );
    assert_eq!(checks.len(), 1, "one check per file");
    let (name, check) = checks.iter().next().unwrap();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{name}.json")
    );
    assert!(
        !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        "bad check name {name}"
    );
    let allowed = [
        "command",
        "interval",
        "subscribers",
        "standalone",
        "timeout",
        "ttl",
        "handlers",
        "occurrences",
        "refresh",
    ];
    for key in check.as_object().unwrap().keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "{name}: unexpected attribute {key}"
        );
    }
    assert!(
        check["command"].as_str().is_some_and(|c| !c.is_empty()),
        "{name}: command"
    );
    let interval = check["interval"].as_u64().expect("interval");
    assert!(interval >= 1);
    if let Some(ttl) = check.get("ttl") {
        assert!(ttl.as_u64().unwrap() > interval, "{name}: ttl <= interval");
    }
    let standalone = check["standalone"].as_bool().expect("standalone");
    let subscribers = check["subscribers"].as_array().expect("subscribers");
    assert!(subscribers.iter().all(Value::is_string));
    if !standalone {
        assert!(
            !subscribers.is_empty(),
            "{name}: a subscription check needs subscribers"
        );
    }
    for key in ["timeout", "occurrences", "refresh"] {
        if let Some(v) = check.get(key) {
            assert!(v.as_u64().is_some_and(|n| n >= 1), "{name}: {key}");
        }
    }
    if let Some(h) = check.get("handlers") {
        assert!(h.as_array().unwrap().iter().all(Value::is_string));
    }
}

#[test]
fn sensu_definitions_parse_and_meet_sensus_rules() {
    let mut seen = 0;
    for name in examples() {
        let tmp = render_example(&name);
        let conf = tmp.path().join("ctx/root/etc/sensu/conf.d");
        if !conf.exists() {
            continue;
        }
        for f in files_below(&conf) {
            check_sensu_file(&conf.join(f));
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} check definitions in the examples");
}
