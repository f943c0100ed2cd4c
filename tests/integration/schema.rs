//! Editor validation: the committed JSON Schema is draft-07, describes every property, closes
//! every table, and taplo (the engine of Even Better TOML) accepts every example and rejects
//! every fixture the schema can catch.

use crate::common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn schema() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/service.schema.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn schema_is_draft_07() {
    assert_eq!(
        schema()["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
    assert!(
        schema().get("definitions").is_some(),
        "draft-07 uses `definitions`, not `$defs`"
    );
}

/// Walks every object schema: each property has a description, each table is closed.
fn walk(path: &str, node: &Value, problems: &mut Vec<String>) {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        if node.get("additionalProperties") != Some(&Value::Bool(false)) {
            problems.push(format!("{path}: additionalProperties is not false"));
        }
        for (name, prop) in props {
            if prop
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(format!("{path}.{name}: no description"));
            }
            walk(&format!("{path}.{name}"), prop, problems);
        }
    }
    if let Some(defs) = node.get("definitions").and_then(Value::as_object) {
        for (name, def) in defs {
            walk(&format!("#/definitions/{name}"), def, problems);
        }
    }
}

#[test]
fn every_property_has_a_description_and_every_table_is_closed() {
    let mut problems = Vec::new();
    walk("", &schema(), &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_schemas_targets_are_the_ones_the_code_supports() {
    let s = schema();
    let target = &s["definitions"]["App"]["properties"]["target"]["allOf"][0]["$ref"];
    assert_eq!(target, "#/definitions/Targets");
    // One triple, or a list of them: the same enum either way.
    let forms = &s["definitions"]["Targets"]["anyOf"];
    for enumerated in [&forms[0]["enum"], &forms[1]["items"]["enum"]] {
        let listed: Vec<&str> = enumerated
            .as_array()
            .expect("app.target has an enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, buildkit_lite::manifest::SUPPORTED_TARGETS);
    }
}

#[test]
fn schema_carries_defaults_enums_and_patterns() {
    let s = schema();
    let defs = &s["definitions"];
    assert_eq!(defs["App"]["properties"]["profile"]["default"], "release");
    assert_eq!(defs["Check"]["properties"]["interval"]["default"], 60);
    assert_eq!(
        defs["Image"]["properties"]["base"]["default"],
        "debian:bookworm-slim"
    );
    assert!(defs["App"]["properties"]["name"]["pattern"].is_string());
    let text = s.to_string();
    for variant in [
        "\"zigbuild\"",
        "\"inherit\"",
        "\"x86_64-unknown-linux-musl\"",
    ] {
        assert!(text.contains(variant), "schema lacks {variant}");
    }
}

fn taplo(schema_url: Option<&str>, file: &std::path::Path) -> std::process::Output {
    require_tool("taplo");
    let mut c = Command::new("taplo");
    c.arg("check");
    if let Some(url) = schema_url {
        c.args(["--schema", url]);
    }
    c.arg(file)
        .env("NO_COLOR", "1")
        .output()
        .expect("run taplo")
}

#[test]
fn taplo_accepts_every_example_and_rejects_what_the_schema_catches() {
    let url = format!(
        "file://{}",
        root().join("schema/service.schema.json").display()
    );
    for name in examples() {
        let o = taplo(Some(&url), &root().join(example_manifest(&name)));
        assert!(
            o.status.success(),
            "taplo rejects example {name}: {}",
            stderr(&o)
        );
    }
    let mut rejected = 0;
    for path in fixtures() {
        if directives(&path, "schema").iter().any(|d| d == "reject") {
            let o = taplo(Some(&url), &path);
            assert!(!o.status.success(), "taplo accepts {}", path.display());
            rejected += 1;
        }
    }
    assert!(
        rejected >= 15,
        "only {rejected} fixtures are marked `# schema: reject`"
    );
}

#[test]
fn the_schema_comment_on_the_first_line_turns_validation_on() {
    // Lay out a copy as in the repository, so that `#:schema ../../schema/…` resolves.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("schema")).unwrap();
    std::fs::create_dir_all(tmp.path().join("examples/x")).unwrap();
    std::fs::copy(
        root().join("schema/service.schema.json"),
        tmp.path().join("schema/service.schema.json"),
    )
    .unwrap();
    for name in examples() {
        let text = std::fs::read_to_string(root().join(example_manifest(&name))).unwrap();
        assert!(
            text.starts_with("#:schema ../../schema/service.schema.json\n\n"),
            "{name}: the first line must be the #:schema comment, followed by a blank line"
        );
        let good = tmp.path().join("examples/x/service.toml");
        std::fs::write(&good, &text).unwrap();
        assert!(taplo(None, &good).status.success(), "{name}");
        let bad = tmp.path().join("examples/x/bad.toml");
        std::fs::write(&bad, format!("{text}\n[bogus]\n")).unwrap();
        assert!(
            !taplo(None, &bad).status.success(),
            "{name}: the #:schema comment was not used"
        );
    }
}
