//! Hostile values (quotes of both kinds, `$(…)`, backticks, `\`, `;`, `&&`, non-ASCII,
//! newlines) in env values, command words, workdir, labels, maintainer and check args must
//! arrive byte-for-byte literal. The rendered scripts are executed with /bin/sh here; the
//! Dockerfile is linted (and built and inspected by the Docker tests).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const MANIFEST: &str = "tests/fixtures/hostile/service.toml";

/// The tests that use the hostile working directory (a fixed path) take turns.
static WORKDIR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn manifest() -> toml::Value {
    toml::from_str(&std::fs::read_to_string(root().join(MANIFEST)).unwrap()).unwrap()
}

fn strings(v: &toml::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn render() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    let o = run(&["render", "-f", MANIFEST, "--out", ctx.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    (tmp, ctx)
}

/// A bin directory with stand-ins: `chpst -u USER PROG…` records USER and execs PROG;
/// `dumpargs` records its argv, working directory and environment as JSON.
fn stand_ins(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let write = |name: &str, text: &str| {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        Command::new("chmod").arg("755").arg(&p).status().unwrap();
    };
    write(
        "chpst",
        "#!/bin/sh\n[ \"$1\" = -u ] || exit 99\nprintf '%s' \"$2\" > \"$DUMP_FILE.user\"\nshift 2\nexec \"$@\"\n",
    );
    write(
        "dumpargs",
        "#!/usr/bin/env python3\nimport json, os, sys\njson.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': dict(os.environ)}, open(os.environ['DUMP_FILE'], 'w'))\n",
    );
    bin
}

#[derive(serde::Deserialize)]
struct Dump {
    argv: Vec<String>,
    cwd: String,
    env: BTreeMap<String, String>,
}

fn run_service(ctx: &Path, bin: &Path, dump: &Path, extra_env: &[(&str, &str)]) -> Dump {
    let o = Command::new("/bin/sh")
        .arg(ctx.join("root/etc/sv/hostile/run"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("DUMP_FILE", dump)
        .envs(extra_env.iter().copied())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "run script failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    serde_json::from_str(&std::fs::read_to_string(dump).unwrap()).unwrap()
}

#[test]
fn the_run_script_passes_every_value_literally() {
    let _turn = WORKDIR.lock().unwrap_or_else(|e| e.into_inner());
    require_tool("python3");
    let m = manifest();
    let service = &m["services"]["hostile"];
    let workdir = service["workdir"].as_str().unwrap();
    let _ = std::fs::remove_dir_all("/tmp/buildkit-lite-hostile");
    std::fs::create_dir_all(workdir).unwrap();

    let (tmp, ctx) = render();
    let bin = stand_ins(tmp.path());
    let dump = tmp.path().join("dump.json");
    let got = run_service(&ctx, &bin, &dump, &[]);

    // Command words: literal, except `${VAR}`; `$${` is a literal `${`.
    let env = service["env"].as_table().unwrap();
    let mut want: Vec<String> = strings(&service["command"])[1..]
        .iter()
        .map(|w| w.replace("$${", "${"))
        .collect();
    let last = want.len() - 2;
    want[last] = format!("pre-{}-post", env["HOSTILE_0"].as_str().unwrap());
    assert_eq!(got.argv, want);
    assert_eq!(got.cwd, workdir);
    for (name, value) in env {
        assert_eq!(
            got.env.get(name).map(String::as_str),
            value.as_str(),
            "env {name}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(format!("{}.user", dump.display())).unwrap(),
        "hostile-user"
    );

    // Nothing was executed from a value.
    for dir in [Path::new(workdir), tmp.path(), &ctx, &root()] {
        for f in ["pwned", "pwned-dollar", "pwned-backtick"] {
            assert!(
                !dir.join(f).exists(),
                "{} was created in {}",
                f,
                dir.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all("/tmp/buildkit-lite-hostile");
}

#[test]
fn the_environment_wins_over_env_defaults() {
    let _turn = WORKDIR.lock().unwrap_or_else(|e| e.into_inner());
    let m = manifest();
    let workdir = m["services"]["hostile"]["workdir"]
        .as_str()
        .unwrap()
        .to_string();
    let base = PathBuf::from("/tmp/buildkit-lite-hostile");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&workdir).unwrap();
    let (tmp, ctx) = render();
    let bin = stand_ins(tmp.path());
    let dump = tmp.path().join("dump.json");
    let got = run_service(
        &ctx,
        &bin,
        &dump,
        &[("HOSTILE_0", "from docker run -e"), ("HOSTILE_10", "")],
    );
    assert_eq!(got.env["HOSTILE_0"], "from docker run -e");
    assert_eq!(
        got.env["HOSTILE_10"], "",
        "an empty value set by the environment still wins"
    );
    assert_eq!(got.argv[got.argv.len() - 2], "pre-from docker run -e-post");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn check_arguments_reach_the_script_literally() {
    let m = manifest();
    let want = strings(&m["checks"]["hostile_args"]["args"]);
    let (tmp, ctx) = render();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ctx.join("root/etc/sensu/conf.d/hostile_args.json")).unwrap(),
    )
    .unwrap();
    let command = json["checks"]["hostile_args"]["command"].as_str().unwrap();
    assert!(
        command.starts_with("/etc/sensu/plugins/echo-args.sh "),
        "{command}"
    );
    // Sensu runs the command with sh -c; run it so, with the plugin taken from the context.
    let plugins = ctx.join("root/etc/sensu/plugins");
    let local = command.replacen("/etc/sensu/plugins/", &format!("{}/", plugins.display()), 1);
    let dump = tmp.path().join("args");
    let o = Command::new("/bin/sh")
        .args(["-c", &local])
        .env("DUMP_FILE", &dump)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&dump).unwrap();
    let got: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|w| String::from_utf8(w.to_vec()).unwrap())
        .collect();
    assert_eq!(&got[..got.len() - 1], &want[..]);

    let other: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ctx.join("root/etc/sensu/conf.d/hostile_command.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        other["checks"]["hostile_command"]["command"]
            .as_str()
            .unwrap(),
        m["checks"]["hostile_command"]["command"].as_str().unwrap()
    );
}

#[test]
fn the_hostile_context_still_lints_clean() {
    let (_tmp, ctx) = render();
    shellcheck(&ctx.join("root/etc/sv/hostile/run"));
    shellcheck(&ctx.join("root/etc/sv/hostile/log/run"));
    hadolint(&ctx.join("Dockerfile"));
    let dockerfile = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(r#""org.example.hostile"="it's \"quoted\" \$(touch pwned) `touch pwned` \\ ; && || ünïcødé \$HOME \${HOME}""#),
        "{dockerfile}"
    );
}
