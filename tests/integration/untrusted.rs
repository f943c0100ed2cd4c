//! An untrusted manifest and project tree (issue 6): nothing from outside the project
//! reaches the context, `--force` and staging never delete what is not theirs, and
//! concurrent runs stay correct. Each test runs the real `check`, `render` or `build`
//! against real files (and, for `build`, a real Docker engine).

use crate::common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::docker::*;
use common::*;

fn script_check(path: &str) -> String {
    format!("[checks.leak]\nscript = {path:?}\n")
}

/// `check` and `render` refuse, naming the key and its line, and print no file.
fn assert_refused(p: &Project, key: &str, line: usize, why: &str) {
    for args in [
        &["check", "-f", "service.toml"][..],
        &["render", "-f", "service.toml"],
    ] {
        let o = p.run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("service.toml:{line}:")) && err.contains(&format!(": {key}: ")),
            "{args:?}: {err}"
        );
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?} printed:\n{}", stdout(&o));
    }
}

fn manifest_lines(p: &Project) -> usize {
    std::fs::read_to_string(p.manifest())
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_check_script_outside_the_project_is_refused() {
    for path in ["/etc/shadow", "../../../etc/passwd", "/proc/self/environ"] {
        let p = Project::minimal_plus(&script_check(path));
        let line = manifest_lines(&p);
        assert_refused(&p, "checks.leak.script", line, "is outside the project");
    }
}

#[test]
fn a_symlink_that_leads_out_of_the_project_is_refused_and_one_inside_is_not() {
    let p = Project::minimal_plus(&script_check("checks/ok.sh"));
    std::fs::create_dir(p.dir.join("checks")).unwrap();
    symlink("/etc/passwd", p.dir.join("checks/ok.sh")).unwrap();
    let line = manifest_lines(&p);
    assert_refused(&p, "checks.leak.script", line, "is outside the project");

    // A link to a file inside the project is fine.
    std::fs::remove_file(p.dir.join("checks/ok.sh")).unwrap();
    std::fs::write(p.dir.join("real.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    symlink("../real.sh", p.dir.join("checks/ok.sh")).unwrap();
    let o = p.run(&["render", "-f", "service.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("==> root/etc/sensu/plugins/ok.sh (mode 0755) <==\n#!/bin/sh\nexit 0\n")
    );

    // The whole project directory reached through a symlink is still the project.
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("link");
    symlink(&p.dir, &link).unwrap();
    let o = cmd()
        .args(["check", "-f", link.join("service.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn special_files_in_the_project_are_refused() {
    let p = Project::minimal_plus(&script_check("fifo.sh"));
    assert!(
        Command::new("mkfifo")
            .arg(p.dir.join("fifo.sh"))
            .status()
            .unwrap()
            .success()
    );
    let line = manifest_lines(&p);
    assert_refused(
        &p,
        "checks.leak.script",
        line,
        "is not a regular file (it is a FIFO",
    );

    let p = Project::minimal_plus(&script_check("checks"));
    std::fs::create_dir(p.dir.join("checks")).unwrap();
    let line = manifest_lines(&p);
    assert_refused(&p, "checks.leak.script", line, "it is a directory");
}

#[test]
fn a_prebuilt_binary_outside_the_project_is_refused() {
    for path in ["/bin/ls", "../../../../bin/ls"] {
        let p = Project::copy_of("minimal");
        p.edit_manifest(|t| t.replace("target = ", &format!("prebuilt = {path:?}\ntarget = ")));
        assert_refused(&p, "app.prebuilt", 9, "is outside the project");
        // `build` stops at validation: nothing staged, nothing built.
        let o = p.build("v1", &[]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is outside the project"),
            "{}",
            stderr(&o)
        );
        assert!(!p.dir.join("target").exists());
    }
}

#[test]
fn build_refuses_a_script_outside_the_project_before_touching_anything() {
    let p = Project::minimal_plus(&script_check("/etc/shadow"));
    let o = p.build(&unique("leak"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("checks.leak.script"), "{}", stderr(&o));
    assert!(!p.dir.join("target").exists());
}

#[test]
fn a_shared_library_is_not_taken_for_a_program() {
    require_docker!();
    let lib = [
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("libm.so.6 on this machine");
    let p = Project::copy_of("minimal");
    std::fs::copy(&lib, p.dir.join("libm.so.6")).unwrap();
    p.edit_manifest(|t| t.replace("target = ", "prebuilt = \"libm.so.6\"\ntarget = "));
    let o = p.build("v1", &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "libm.so.6 is a shared library (ELF type DYN with neither an interpreter nor the PIE flag), not an ELF executable for x86_64-unknown-linux-musl"
        ),
        "{err}"
    );
    assert!(!p.context("minimal").exists());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A directory outside the project with files of its own, as a victim of staging.
fn victim(base: &Path) -> PathBuf {
    let victim = base.join("victim");
    std::fs::create_dir_all(victim.join("context")).unwrap();
    std::fs::write(victim.join("context/keep"), "precious").unwrap();
    std::fs::write(victim.join("image-id"), "precious").unwrap();
    victim
}

fn assert_victim_intact(victim: &Path) {
    assert_eq!(read(&victim.join("context/keep")), "precious");
    assert_eq!(read(&victim.join("image-id")), "precious");
    let names: Vec<_> = std::fs::read_dir(victim)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "something was written into the victim: {names:?}"
    );
}

#[test]
fn staging_never_writes_or_deletes_through_a_symlink_that_leaves_the_project() {
    require_docker!();
    // The case: target/buildkit-lite/<app> leads out; then target itself.
    for link in ["target/buildkit-lite/minimal", "target"] {
        let p = Project::copy_of("minimal");
        let victim = victim(p.tmp.path());
        let at = p.dir.join(link);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(&victim, &at).unwrap();
        let o = p.build(&unique("escape"), &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("error: cannot write {link}"))
                || err.contains(&format!("error: cannot write ./{link}")),
            "{err}"
        );
        assert!(
            err.contains("is a symbolic link that leads out of the project"),
            "{err}"
        );
        assert_victim_intact(&victim);
    }
}

#[test]
fn a_target_directory_linked_inside_the_project_still_builds() {
    require_docker!();
    let p = Project::copy_of("minimal");
    std::fs::create_dir(p.dir.join("build-out")).unwrap();
    symlink("build-out", p.dir.join("target")).unwrap();
    let (_image, _) = build_image(&p, "minimal");
    assert!(
        p.dir
            .join("build-out/buildkit-lite/minimal/context/Dockerfile")
            .is_file()
    );
}

#[test]
fn force_never_replaces_the_directory_of_a_symlinked_manifest_or_of_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(proj.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(proj.join("Cargo.toml"), "[package]\nname = \"minimal\"\n").unwrap();
    std::fs::copy(
        root().join("examples/minimal/service.toml"),
        elsewhere.join("service.toml"),
    )
    .unwrap();
    symlink(elsewhere.join("service.toml"), proj.join("service.toml")).unwrap();
    let manifest = proj.join("service.toml");
    // The link's directory, the target's directory, and directories holding either.
    for out in [&proj, &elsewhere, &tmp.path().to_path_buf()] {
        let o = render_forced(&manifest, out);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {}",
            out.display(),
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("it holds the manifest itself"),
            "{}",
            stderr(&o)
        );
        assert_eq!(read(&proj.join("src/main.rs")), "fn main() {}\n");
        assert!(elsewhere.join("service.toml").is_file());
    }
    // Nor the current directory, nor one that holds it.
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    std::fs::write(work.join("sub/notes"), "mine").unwrap();
    for out in [".", ".."] {
        let o = cmd()
            .current_dir(work.join("sub"))
            .args([
                "render",
                "-f",
                manifest.to_str().unwrap(),
                "--out",
                out,
                "--force",
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{out}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("it holds the current directory"),
            "{}",
            stderr(&o)
        );
        assert_eq!(read(&work.join("sub/notes")), "mine");
    }
}

#[test]
fn force_replaces_directories_only_never_a_file_or_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = root().join("examples/minimal/service.toml");
    let app = tmp.path().join("app");
    std::fs::copy("/bin/true", &app).unwrap();
    let before = std::fs::read(&app).unwrap();
    let o = render_forced(&manifest, &app);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "it is a file, not a directory: only a directory is ever replaced (even with --force)"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&app).unwrap(), before);

    let victim = victim(tmp.path());
    let link = tmp.path().join("link");
    symlink(&victim, &link).unwrap();
    let o = render_forced(&manifest, &link);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("it is a symbolic link"),
        "{}",
        stderr(&o)
    );
    assert_victim_intact(&victim);
}

/// `buildkit-lite render -f MANIFEST --out OUT --force`.
fn render_forced(manifest: &Path, out: &Path) -> Output {
    cmd()
        .arg("render")
        .arg("-f")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .arg("--force")
        .output()
        .unwrap()
}

/// Entries of `dir` whose names start with `.`: temporaries.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn a_render_removes_what_killed_renders_left_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for stale in [".out.tmp-AbC123", ".out.tmp-XyZ789.old"] {
        std::fs::create_dir_all(tmp.path().join(stale).join("root/etc")).unwrap();
        std::fs::write(
            tmp.path().join(stale).join("root/etc/big"),
            "x".repeat(4096),
        )
        .unwrap();
    }
    std::fs::create_dir(tmp.path().join(".other.tmp-1")).unwrap();
    let o = run(&[
        "render",
        "-f",
        "examples/minimal/service.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(temporaries(tmp.path()), [".other.tmp-1"]);
}

/// A copy of minimal that ships a file of `mib` MiB, so that writing the context takes a
/// while: long enough to land a signal in the middle of it.
fn slow_to_stage(mib: u64) -> Project {
    // A shipped file: a check script may be at most 1 MiB.
    let p = Project::minimal_plus("[files]\n\"/opt/big.sh\" = \"big.sh\"\n");
    let f = std::fs::File::create(p.dir.join("big.sh")).unwrap();
    f.set_len(mib * 1024 * 1024).unwrap();
    p
}

/// Starts `buildkit-lite ARGS` in `p`, waits until a temporary named `prefix…` appears in
/// `dir`, then sends `signal`. Returns whether the signal was sent, and the output.
fn signal_while_writing(
    p: &Project,
    args: &[&str],
    dir: &Path,
    prefix: &str,
    signal: &str,
) -> (bool, Output) {
    let mut child = cmd()
        .current_dir(&p.dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let writing = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
            .unwrap_or(false);
        if writing {
            Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            return (true, child.wait_with_output().unwrap());
        }
        if child.try_wait().unwrap().is_some()
            || start.elapsed() > std::time::Duration::from_secs(300)
        {
            let _ = child.kill();
            return (false, child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn an_interrupted_render_leaves_the_previous_one_and_no_temporary() {
    // A signal may land after the swap (the run then simply finished): the rule is that
    // `out` is always whole, the old render or the new one, never missing or half-written.
    // Each signal is tried until one lands while the new tree is being written.
    for signal in ["-INT", "-TERM", "-KILL"] {
        let mut landed = false;
        for _attempt in 0..5 {
            let p = slow_to_stage(256);
            let base = p.tmp.path();
            let out = base.join("out");
            let out_s = out.to_str().unwrap();
            std::fs::write(p.dir.join("big.sh"), "#!/bin/sh\n").unwrap();
            let o = p.run(&["render", "-f", "service.toml", "--out", out_s]);
            assert!(o.status.success(), "{}", stderr(&o));
            let previous = read(&out.join("Dockerfile"));
            std::fs::File::create(p.dir.join("big.sh"))
                .unwrap()
                .set_len(256 << 20)
                .unwrap();

            let args = ["render", "-f", "service.toml", "--out", out_s];
            let (sent, o) = signal_while_writing(&p, &args, base, ".out.tmp-", signal);
            assert!(sent, "no temporary appeared: {}", stderr(&o));
            assert_eq!(read(&out.join("Dockerfile")), previous, "{signal}");
            let big = std::fs::metadata(out.join("root/opt/big.sh"))
                .unwrap()
                .len();
            if big == 256 << 20 {
                assert_eq!(
                    o.status.code(),
                    if signal == "-KILL" { None } else { Some(0) }
                );
                continue; // too late: the new render was already in place
            }
            assert_eq!(big, 10, "{signal}: neither the old render nor the new one");
            landed = true;
            if signal == "-KILL" {
                // Nothing can clean up after SIGKILL; the next render does.
                let o = p.run(&["render", "-f", "service.toml", "--out", out_s]);
                assert!(o.status.success(), "{}", stderr(&o));
            } else {
                assert_eq!(o.status.code(), Some(1), "{signal}: {}", stderr(&o));
                assert!(stderr(&o).contains("error: interrupted"), "{}", stderr(&o));
            }
            assert!(
                temporaries(base).is_empty(),
                "{signal}: {:?}",
                temporaries(base)
            );
            break;
        }
        assert!(landed, "{signal} never landed while the render was writing");
    }
}

#[test]
fn an_interrupted_build_leaves_no_context_as_it_says() {
    require_docker!();
    let p = slow_to_stage(256);
    let app_dir = p.dir.join("target/buildkit-lite/minimal");
    std::fs::create_dir_all(&app_dir).unwrap();
    let (sent, o) = signal_while_writing(
        &p,
        &["build", &unique("int")],
        &app_dir,
        ".context.tmp-",
        "-INT",
    );
    assert!(sent, "the build ended before staging: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "error: interrupted: child processes stopped, nothing half-written left behind"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        !app_dir.join("context").exists(),
        "a context was left behind"
    );
    assert!(
        temporaries(&app_dir).is_empty(),
        "{:?}",
        temporaries(&app_dir)
    );
}

#[test]
fn two_builds_of_one_project_take_turns_and_each_reports_its_own_image() {
    require_docker!();
    let p = Project::copy_of("minimal");
    let tags = [unique("turn-a"), unique("turn-b")];
    let _images: Vec<Image> = tags.iter().map(|t| Image(format!("minimal:{t}"))).collect();
    let children: Vec<_> = tags
        .iter()
        .map(|tag| {
            cmd()
                .current_dir(&p.dir)
                .args(["build", tag])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut waited = 0;
    for (tag, o) in tags.iter().zip(&outputs) {
        assert!(o.status.success(), "{tag}: {}\n{}", stdout(o), stderr(o));
        let printed = stdout(o)
            .lines()
            .find_map(|l| l.strip_prefix("image id ").map(str::to_string))
            .unwrap();
        let reference = format!("minimal:{tag}");
        let real = stdout(&docker(&["image", "inspect", "-f", "{{.Id}}", &reference]));
        assert_eq!(printed, real.trim(), "{tag} printed another build's image");
        let version = docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.opencontainers.image.version\"}}",
            &reference,
        ]);
        assert_eq!(stdout(&version).trim(), tag);
        if stderr(o).contains("==> waiting for another build of minimal to finish") {
            waited += 1;
        }
    }
    assert_eq!(waited, 1, "exactly one build waited for the other");
}

#[test]
fn concurrent_renders_into_one_directory_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for round in 0..10 {
        let children: Vec<_> = (0..4)
            .map(|_| {
                cmd()
                    .args([
                        "render",
                        "-f",
                        "examples/multi-service/service.toml",
                        "--out",
                        out.to_str().unwrap(),
                    ])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
        }
        assert!(out.join("Dockerfile").is_file());
        assert!(temporaries(tmp.path()).is_empty());
    }
}

#[test]
fn a_current_directory_that_is_not_utf8_is_no_panic() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir(&odd).unwrap();
    let copy = Project::copy_of("minimal");
    for f in ["service.toml", "Cargo.toml"] {
        std::fs::copy(copy.dir.join(f), odd.join(f)).unwrap();
    }
    std::fs::create_dir(odd.join("src")).unwrap();
    std::fs::copy(copy.dir.join("src/main.rs"), odd.join("src/main.rs")).unwrap();
    for args in [
        &["check"][..],
        &["render"],
        &["render", "--out", "out"],
        &["render", "--out", "out", "--force"],
    ] {
        let o = cmd().current_dir(&odd).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
    // cargo cannot be pointed at a Cargo.toml below such a directory: the build stops
    // with a clear error.
    let o = cmd()
        .current_dir(&odd)
        .args(["build", "v1", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error: the current directory's path is not UTF-8"),
        "{}",
        stderr(&o)
    );
    assert!(odd.join("out/Dockerfile").is_file());
}

#[test]
fn services_named_like_the_bases_log_files_get_their_log_directories() {
    require_docker!();
    let names = ["wtmp", "btmp", "lastlog"];
    let services: String = names
        .iter()
        .map(|n| {
            format!("[services.{n}]\ncommand = [\"/bin/sh\", \"-c\", \"echo hello from {n}; exec sleep 1000\"]\n")
        })
        .collect();
    let p = Project::minimal_plus(&services);
    let (image, _) = build_image(&p, "minimal");
    let c = Container::start(&image, &[]);
    c.wait_until_up(std::time::Duration::from_secs(20));
    for n in names {
        let dir = format!("/var/log/{n}");
        assert_eq!(
            c.sh_ok(&format!("stat -c '%F %U %a' {dir}")),
            "directory syslog 700\n"
        );
        c.eventually_ok(
            std::time::Duration::from_secs(20),
            &format!("grep -q 'hello from {n}' {dir}/current"),
        );
    }
}

#[test]
fn a_project_directory_named_like_an_option_builds() {
    require_docker!();
    let copy = Project::copy_of("minimal");
    let dash = copy.tmp.path().join("-x");
    std::fs::rename(&copy.dir, &dash).unwrap();
    let tag = unique("dash");
    let o = cmd()
        .current_dir(copy.tmp.path())
        .args(["build", &tag, "--manifest=-x/service.toml", "--verbose"])
        .output()
        .unwrap();
    let _image = Image(format!("minimal:{tag}"));
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains(" ./-x/target/buildkit-lite/minimal/context\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_new_user_never_joins_a_group_the_base_already_has() {
    require_docker!();
    // A base with a group `privy` and no user of that name.
    let base = Image(format!("bkl-test-privy:{}", unique("base")));
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", &base.0, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    build
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM debian:bookworm-slim\nRUN groupadd --system privy\n")
        .unwrap();
    assert!(build.wait().unwrap().success());
    let p = Project::copy_of("minimal");
    p.edit_manifest(|t| {
        format!("{t}\n[image]\nbase = {:?}\n", base.0)
            .replace("[services.minimal]", "[services.minimal]\nuser = \"privy\"")
    });
    let o = p.build(&unique("privy"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("group 'privy' already exists"), "{all}");
}

#[test]
fn a_link_out_of_the_project_inside_a_shipped_directory_is_refused() {
    let p = Project::minimal_plus("[files]\n\"/srv/www\" = \"site\"\n");
    std::fs::create_dir_all(p.dir.join("site/css")).unwrap();
    std::fs::write(p.dir.join("site/index.html"), "hi\n").unwrap();
    symlink("/etc/shadow", p.dir.join("site/css/leak")).unwrap();
    let line = manifest_lines(&p);
    assert_refused(
        &p,
        "files.\"/srv/www\"",
        line,
        "site/css/leak` is outside the project",
    );
    let o = p.build(&unique("leak"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!p.dir.join("target").exists());
}
