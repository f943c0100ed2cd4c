//! The command line as a user meets it: help, `check` on examples and broken manifests,
//! `schema`, `render` to stdout and to a directory, and the README's Commands section.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn help_lists_every_command_with_a_line_of_help() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for command in ["build", "test", "render", "check", "schema"] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("no `{command}` line in:\n{help}"));
        assert!(
            line.split_whitespace().count() > 2,
            "`{command}` has no help text: {line}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["build"]).status.code(), Some(2));
}

#[test]
fn check_accepts_every_example() {
    assert!(examples().len() >= 3);
    for name in examples() {
        let o = run(&["check", "-f", &example_manifest(name.as_str())]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(stdout(&o).contains(": ok"), "{}", stdout(&o));
    }
}

#[test]
fn check_reports_every_broken_fixture_with_file_line_column_and_key() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 25, "only {} fixtures", fixtures.len());
    for path in fixtures {
        let rel = relative(&path);
        let o = run(&["check", "-f", &rel]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{rel} should fail with 1:\n{err}");
        assert!(!err.contains("panicked"), "{rel}: {err}");
        // Every problem line names the file, line and column: `FILE:LINE:COL: KEY: MESSAGE`.
        let positioned = err
            .lines()
            .filter(|l| l.starts_with(&format!("{rel}:")))
            .filter(|l| {
                let mut parts = l[rel.len() + 1..].splitn(3, ':');
                let line = parts.next().unwrap_or("");
                let col = parts.next().unwrap_or("");
                line.parse::<usize>().is_ok() && col.parse::<usize>().is_ok()
            })
            .count();
        assert!(positioned >= 1, "{rel}: no FILE:LINE:COL line in:\n{err}");
        let expects = directives(&path, "expect");
        assert!(!expects.is_empty(), "{rel} has no `# expect:` line");
        for expect in expects {
            assert!(
                err.contains(&expect),
                "{rel}: expected {expect:?} in:\n{err}"
            );
        }
    }
}

/// Every broken fixture's whole `check` output in one reviewed snapshot: the positions,
/// the messages and the caret layout, not just substrings.
#[test]
fn every_broken_fixture_reports_as_its_snapshot() {
    let mut all = String::new();
    for path in fixtures() {
        let rel = relative(&path);
        let o = run(&["check", "-f", &rel]);
        let root_dir = root().display().to_string();
        all.push_str(&format!(
            "$ buildkit-lite check -f {rel}\n{}(exit status {})\n\n",
            stderr(&o).replace(&root_dir, "<repository>"),
            o.status.code().unwrap()
        ));
    }
    insta::with_settings!({
        snapshot_path => "snapshots",
        prepend_module_to_snapshot => false,
        description => "`buildkit-lite check -f F` for every broken fixture F in tests/fixtures",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("check-fixtures", all);
    });
}

#[test]
fn a_manifest_with_three_problems_reports_all_three() {
    let o = run(&["check", "-f", "tests/fixtures/three-problems.toml"]);
    let err = stderr(&o);
    assert!(err.contains("3 problems"), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("tests/fixtures/three-problems.toml:"))
        .collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].contains(":15:8: services.web.user: invalid user name"),
        "{err}"
    );
    assert!(
        lines[1].contains(":16:1: services.web.logg: unknown key `logg`, did you mean `log`?"),
        "{err}"
    );
    assert!(
        lines[2].contains(":21:7: checks.ping.ttl: ttl (10) must be greater than interval (30)"),
        "{err}"
    );
}

#[test]
fn check_json_lists_every_problem_with_file_line_column_key_and_message() {
    let o = run(&[
        "check",
        "-f",
        "tests/fixtures/three-problems.toml",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let file = "tests/fixtures/three-problems.toml";
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["problems"],
        serde_json::json!([
            {"file": file, "line": 15, "column": 8, "key": "services.web.user",
             "message": "invalid user name \"Bad User\": lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters"},
            {"file": file, "line": 16, "column": 1, "key": "services.web.logg",
             "message": "unknown key `logg`, did you mean `log`? (expected one of `command`, `user`, `env`, `workdir`, `log`)"},
            {"file": file, "line": 21, "column": 7, "key": "checks.ping.ttl",
             "message": "ttl (10) must be greater than interval (30)"},
        ])
    );
    assert_eq!(doc["omitted"], 0);
    // The human message is still on stderr.
    assert!(stderr(&o).contains("3 problems"), "{}", stderr(&o));

    // A valid manifest: its counts; an unreadable one: a problem without a position.
    let o = run(&["check", "-f", &example_manifest("workspace"), "--json"]);
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (&doc["ok"], &doc["services"], &doc["checks"], &doc["tasks"]),
        (
            &serde_json::json!(true),
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    let o = run(&["check", "-f", "no/such/service.toml", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let problem = &doc["problems"][0];
    assert_eq!(problem["file"], "no/such/service.toml");
    assert!(
        problem["line"].is_null() && problem["key"].is_null(),
        "{problem}"
    );
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read manifest no/such/service.toml: "),
        "{problem}"
    );
}

#[test]
fn errors_show_the_source_line_with_a_caret() {
    let o = run(&["check", "-f", "tests/fixtures/ttl-not-greater.toml"]);
    let err = stderr(&o);
    assert!(err.contains("15 | ttl = 60\n   |       ^^"), "{err}");
}

#[test]
fn a_missing_manifest_is_a_clear_error() {
    let o = run(&["check", "-f", "no/such/service.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error: cannot read manifest no/such/service.toml"),
        "{err}"
    );
    assert!(err.contains("caused by: No such file"), "{err}");
}

#[test]
fn schema_prints_the_committed_file() {
    let o = run(&["schema"]);
    assert!(o.status.success());
    let committed = std::fs::read_to_string(root().join("schema/service.schema.json")).unwrap();
    assert!(
        stdout(&o) == committed,
        "schema/service.schema.json is stale: regenerate it with\n    cargo run -- schema > schema/service.schema.json"
    );
}

#[test]
fn render_prints_every_file_with_a_path_and_mode_header() {
    let o = run(&["render", "-f", "examples/healthcheck-app/service.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for header in [
        "==> Dockerfile (mode 0644) <==",
        "==> root/etc/sv/healthcheck-app/run (mode 0755) <==",
        "==> root/etc/sv/healthcheck-app/log/run (mode 0755) <==",
        "==> root/etc/sensu/conf.d/custom_ping.json (mode 0644) <==",
        "==> root/etc/sensu/plugins/http-custom_ping.sh (mode 0755) <==",
        "==> root/etc/sensu/plugins/sv-running.sh (mode 0755) <==",
        "==> root/usr/local/sbin/buildkit-lite-init (mode 0755) <==",
    ] {
        assert!(
            out.lines().any(|l| l == header),
            "missing {header:?} in:\n{out}"
        );
    }
}

#[test]
fn render_out_writes_the_context_tree_with_its_modes_and_no_binary() {
    let tmp = render_example("healthcheck-app");
    let ctx = tmp.path().join("ctx");
    let files: Vec<String> = files_below(&ctx)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        [
            "Dockerfile",
            "root/etc/sensu/conf.d/app_running.json",
            "root/etc/sensu/conf.d/custom_ping.json",
            "root/etc/sensu/plugins/http-custom_ping.sh",
            "root/etc/sensu/plugins/sv-running.sh",
            "root/etc/sv/healthcheck-app/finish",
            "root/etc/sv/healthcheck-app/log/run",
            "root/etc/sv/healthcheck-app/run",
            "root/usr/local/sbin/buildkit-lite-init",
        ]
    );
    let mode = |p: &str| std::fs::metadata(ctx.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("Dockerfile"), 0o644);
    assert_eq!(mode("root/etc/sv/healthcheck-app/run"), 0o755);
    assert_eq!(mode("root/etc/sv/healthcheck-app/log/run"), 0o755);
    assert_eq!(mode("root/etc/sensu/conf.d/custom_ping.json"), 0o644);
    assert_eq!(mode("root/etc/sensu/plugins/http-custom_ping.sh"), 0o755);
    assert_eq!(mode("root/etc/sensu/plugins/sv-running.sh"), 0o755);
    assert_eq!(mode("root/etc/sv"), 0o755);
}

#[test]
fn render_replaces_a_previous_render_but_refuses_other_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let manifest = "examples/minimal/service.toml";
    // Into a new directory, then again over the previous render.
    assert!(
        run(&["render", "-f", manifest, "--out", out_s])
            .status
            .success()
    );
    assert!(
        run(&["render", "-f", manifest, "--out", out_s])
            .status
            .success()
    );

    // A directory of the user's is refused, and left as it was.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "precious").unwrap();
    let o = run(&["render", "-f", manifest, "--out", mine.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a previous render"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "precious"
    );

    // --force replaces it.
    let o = run(&[
        "render",
        "-f",
        manifest,
        "--out",
        mine.to_str().unwrap(),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!mine.join("notes.txt").exists());
    assert!(mine.join("Dockerfile").is_file());

    // No temporary directories are left beside the output.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn render_never_replaces_the_directory_holding_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let src = root().join("examples/minimal/service.toml");
    std::fs::copy(&src, tmp.path().join("service.toml")).unwrap();
    std::fs::write(
        tmp.path().join("Cargo.toml"),
        "[package]\nname = \"minimal\"\n",
    )
    .unwrap();
    let o = cmd()
        .current_dir(tmp.path())
        .args(["render", "--out", ".", "--force"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("holds the manifest"), "{}", stderr(&o));
    assert!(tmp.path().join("service.toml").is_file());
}

#[test]
fn a_failed_render_leaves_the_previous_one_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    assert!(
        run(&[
            "render",
            "-f",
            "examples/minimal/service.toml",
            "--out",
            out_s
        ])
        .status
        .success()
    );
    let before = std::fs::read(out.join("Dockerfile")).unwrap();
    let o = run(&[
        "render",
        "-f",
        "tests/fixtures/three-problems.toml",
        "--out",
        out_s,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(out.join("Dockerfile")).unwrap(), before);
}

#[test]
fn the_readme_commands_section_matches_the_command_line() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Commands")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("README has a Commands section with a code block");
    let lines: Vec<&str> = section.lines().filter(|l| !l.trim().is_empty()).collect();
    let cli = buildkit_lite::cli::Cli::command();
    let commands: Vec<&clap::Command> = cli.get_subcommands().collect();
    // One line per command, and every option of the command on its line.
    assert_eq!(lines.len(), commands.len(), "{section}");
    for command in commands {
        let name = command.get_name();
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no `buildkit-lite {name}` line:\n{section}"));
        for arg in command.get_arguments() {
            let shown = match (arg.get_long(), arg.get_value_names()) {
                (Some(long), _) => format!("--{long}"),
                (None, Some(names)) => format!("<{}>", names[0]),
                (None, None) => format!("<{}>", arg.get_id().as_str().to_uppercase()),
            };
            if matches!(shown.as_str(), "--help" | "--version") {
                continue;
            }
            assert!(line.contains(&shown), "`{name}` line lacks {shown}: {line}");
        }
    }
}

#[test]
fn a_failure_with_a_hint_has_it_in_json_too() {
    let o = run(&[
        "build",
        "v1",
        "--json",
        "-f",
        "/nonexistent-dir/service.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["hint"],
        "to start one from the Cargo.toml there, run `buildkit-lite init --dir /nonexistent-dir`"
    );
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read manifest /nonexistent-dir/service.toml")
    );
}
