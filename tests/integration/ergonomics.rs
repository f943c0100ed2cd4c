//! The tool in people's hands: `init`, completions and the man page, what goes to stdout
//! and what to stderr for every command, colour, quiet builds with `--verbose`, type errors
//! in TOML words, and `check`'s warnings.

use crate::common;

use std::process::Command;

use common::docker::{Image, Project, unique};
use common::*;

/// A copy of an example without its service.toml: a cargo project waiting for `init`.
fn bare(example: &str) -> Project {
    let p = Project::copy_of(example);
    std::fs::remove_file(p.manifest()).unwrap();
    p
}

fn init(p: &Project) -> std::process::Output {
    cmd().current_dir(&p.dir).args(["init"]).output().unwrap()
}

#[test]
fn init_writes_a_manifest_that_checks_from_a_package_and_never_overwrites() {
    let p = bare("minimal");
    let o = init(&p);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "wrote ./service.toml\nwrote ./service.schema.json\nnext:\n  buildkit-lite check -f ./service.toml\n  buildkit-lite build v1 -f ./service.toml\n"
    );
    let text = std::fs::read_to_string(p.manifest()).unwrap();
    assert!(
        text.starts_with("#:schema ./service.schema.json\n\n"),
        "{text}"
    );
    assert!(text.contains("binary = \"minimal\""), "{text}");
    assert!(text.contains("[services.minimal]"), "{text}");
    let schema = std::fs::read_to_string(p.dir.join("service.schema.json")).unwrap();
    assert_eq!(schema, stdout(&run(&["schema"])));
    let o = cmd()
        .current_dir(&p.dir)
        .args(["check", "--deny-warnings"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Never overwrites.
    std::fs::write(p.manifest(), "# mine\n").unwrap();
    let o = init(&p);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("init never overwrites a manifest"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(p.manifest()).unwrap(), "# mine\n");
}

#[test]
fn init_of_a_workspace_takes_every_binary_and_a_missing_manifest_points_to_it() {
    let p = bare("workspace");
    let o = cmd().current_dir(&p.dir).args(["check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "hint: to start one from the Cargo.toml there, run `buildkit-lite init --dir .`"
        ),
        "{}",
        stderr(&o)
    );
    let o = cmd().args(["init", "--dir"]).arg(&p.dir).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(p.manifest()).unwrap();
    assert!(text.contains("binary = [\"api\", \"worker\"]"), "{text}");
    assert!(
        text.contains("[services.api]") && text.contains("[services.worker]"),
        "{text}"
    );
    let o = cmd()
        .arg("check")
        .arg("-f")
        .arg(p.manifest())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(": ok (2 services, 0 checks)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_init_manifest_builds_for_a_package_and_a_workspace() {
    require_docker!();
    // The package's name, and a workspace's directory name, become the image's.
    for example in ["minimal", "workspace"] {
        let p = bare(example);
        assert!(init(&p).status.success());
        let tag = unique("init");
        let _image = Image(format!("{example}:{tag}"));
        let o = p.build(&tag, &[]);
        assert!(o.status.success(), "{example}: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with(&format!("built {example}:{tag}\nimage id sha256:")),
            "{example}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn completions_load_in_bash_and_complete_the_commands_and_the_man_page_renders() {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("buildkit-lite.bash");
    std::fs::write(&script, o.stdout).unwrap();
    let o = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && COMP_WORDS=(buildkit-lite "") && COMP_CWORD=1 && _buildkit__lite buildkit-lite "" buildkit-lite && echo "${COMPREPLY[@]}""#)
        .arg("bash")
        .arg(&script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let words: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
    for command in [
        "build",
        "test",
        "render",
        "check",
        "init",
        "completions",
        "man",
        "schema",
    ] {
        assert!(
            words.iter().any(|w| w == command),
            "{command} not completed: {words:?}"
        );
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success() && o.stdout.len() > 500, "{shell}");
    }
    let man = stdout(&run(&["man"]));
    assert!(
        man.contains(".TH buildkit-lite 1") && man.contains("completions"),
        "{man}"
    );
}

#[test]
fn each_command_puts_its_product_on_stdout_and_progress_on_stderr() {
    let manifest = example_manifest("healthcheck-app");
    // check: the confirmation, nothing else.
    let o = run(&["check", "-f", &manifest]);
    assert!(
        stdout(&o).ends_with(": ok (1 service, 2 checks)\n"),
        "{}",
        stdout(&o)
    );
    assert_eq!(stderr(&o), "");
    // render: the listing.
    let o = run(&["render", "-f", &manifest]);
    assert!(stdout(&o).starts_with("==> Dockerfile (mode 0644) <==\n"));
    assert_eq!(stderr(&o), "");
    // schema, completions, man: the document.
    for args in [&["schema"][..], &["completions", "bash"], &["man"]] {
        let o = run(args);
        assert!(!o.stdout.is_empty() && o.stderr.is_empty(), "{args:?}");
    }
    // build --dry-run: the plan is the product.
    let o = run(&["build", "v1", "--dry-run", "-f", &manifest]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = stdout(&o);
    assert!(
        plan.contains("would compile the app with cargo:\n    cd examples/healthcheck-app && ")
            && plan.contains(" cargo build --manifest-path Cargo.toml "),
        "{plan}"
    );
    assert!(
        plan.contains(
            "would build the image with docker:\n    docker build --build-arg BUILDKIT_LITE_VERSION=v1"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("would add the SBOM and provenance labels to the image:\n    docker build --tag healthcheck-app:v1"),
        "{plan}"
    );
    assert!(!stderr(&o).contains("would "), "{}", stderr(&o));
    // Piped: no colour codes.
    assert!(!o.stderr.contains(&0x1b), "{}", stderr(&o));
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    require_tool("script");
    let on_tty = |env: &str| {
        let line = format!(
            "{env} {} check -f tests/fixtures/no/such.toml",
            env!("CARGO_BIN_EXE_buildkit-lite")
        );
        let o = Command::new("script")
            .current_dir(root())
            .args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        stdout(&o)
    };
    let coloured = on_tty("env");
    assert!(
        coloured.contains("\u{1b}[") && coloured.contains("error:"),
        "{coloured:?}"
    );
    let plain = on_tty("env NO_COLOR=1");
    assert!(
        !plain.contains("\u{1b}[") && plain.contains("error:"),
        "{plain:?}"
    );
}

#[test]
fn a_build_shows_a_line_per_step_hides_docker_and_shows_all_of_a_failed_step() {
    require_docker!();
    let p = Project::copy_of("minimal");
    let tag = unique("quiet");
    let _image = Image(format!("minimal:{tag}"));
    let o = p.build(&tag, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for step in [
        "compile the app with cargo…",
        "stage the build context into",
        "build the image with docker…",
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("no `{step}`:\n{err}"));
        assert!(line.starts_with("==> ") && line.ends_with("s)"), "{line}");
    }
    assert!(
        !err.contains("Step 1/") && !err.contains("Compiling minimal"),
        "{err}"
    );
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));

    // --verbose streams docker's output (to stderr).
    let o = p.build(&tag, &["--verbose", "--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Step 1/"), "{}", stderr(&o));

    // A compile that fails: its whole output, in the error.
    let main = p.dir.join("src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, code + "\nfn broken( {}\n").unwrap();
    let o = p.build(&tag, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error: could not compile the app with cargo"),
        "{err}"
    );
    assert!(
        err.contains("Compiling minimal") && err.contains("error: "),
        "{err}"
    );
}

#[test]
fn check_warns_at_line_and_column_and_deny_warnings_fails() {
    let p = Project::copy_of("minimal");
    p.edit_manifest(|m| {
        // The service listens on 8080 and the check asks 9999: a contradiction.
        m.replace("binary = \"minimal\"", "binary = \"minmal\"")
            .replace("[services.minimal]\n", "[services.minimal]\nenv = { PORT = \"8080\" }\n")
            + "\n[image]\nbase = \"debian:latest\"\nexpose = [8080]\n\n[checks.ping]\nhttp = \"http://127.0.0.1:9999/ping\"\n"
    });
    let o = cmd().current_dir(&p.dir).args(["check"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 3, "{err}");
    assert!(
        warnings[0].contains("service.toml:8:10: app.binary: "),
        "{err}"
    );
    assert!(
        warnings[0].contains("has no bin target `minmal`, did you mean `minimal`?"),
        "{err}"
    );
    assert!(
        warnings[1].contains(": image.base: `debian:latest` moves"),
        "{err}"
    );
    assert!(
        warnings[2].contains(": checks.ping.http: port 9999 is no service's env default"),
        "{err}"
    );
    assert!(
        stdout(&o).contains("ok (1 service, 1 check, 3 warnings)"),
        "{}",
        stdout(&o)
    );

    let o = cmd()
        .current_dir(&p.dir)
        .args(["check", "--deny-warnings", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("3 warnings and --deny-warnings"),
        "{}",
        stderr(&o)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 3);
    assert_eq!(doc["warnings"][0]["key"], "app.binary");

    // The examples are clean.
    for name in examples() {
        let o = run(&["check", "--deny-warnings", "-f", &example_manifest(&name)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
}

#[test]
fn a_wrong_type_is_said_in_toml_words_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("service.toml"),
        "[app]\nname = \"x\"\nbinary = [\"x\", 1]\ntarget = \"x86_64-unknown-linux-musl\"\n\n[services.x]\n\n[checks.c]\ncommand = \"true\"\ninterval = \"60\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
    let o = cmd()
        .current_dir(dir.path())
        .args(["check"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(err.contains("2 problems"), "{err}");
    assert!(
        err.contains("app.binary[1]: expected a string in quotes, found the number 1"),
        "{err}"
    );
    assert!(
        err.contains("checks.c.interval: expected a whole number ≥ 0, found the string \"60\" (write it without quotes)"),
        "{err}"
    );
    assert!(!err.contains("missing key"), "{err}");
}
