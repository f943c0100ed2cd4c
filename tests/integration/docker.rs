//! The images `build` makes, built with a real Docker engine, run, and looked into:
//! services and their users, log files, Sensu checks, environment, graceful stop, orphans,
//! labels, the staged context, and the layer cache.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::docker::*;
use common::*;

/// Runs every Sensu check command of the container with `sh -c`, as Sensu does.
fn check_commands(c: &Container) -> Vec<(String, String)> {
    let names = c.sh_ok("ls /etc/sensu/conf.d");
    names
        .lines()
        .map(|file| {
            let json: serde_json::Value =
                serde_json::from_str(&c.sh_ok(&format!("cat /etc/sensu/conf.d/{file}"))).unwrap();
            let (name, check) = json["checks"].as_object().unwrap().iter().next().unwrap();
            (name.clone(), check["command"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn healthcheck_app_image_runs_logs_checks_and_stops_gracefully() {
    require_docker!();
    let project = Project::copy_of("healthcheck-app");
    let (image, _) = build_image(&project, "healthcheck-app");
    let c = Container::start(&image, &[]);

    // 1. Every service up within 10 s, as its user; 2. the log service as the log user.
    let up = c.wait_until_up(Duration::from_secs(10));
    eprintln!("services up after {up:?}");
    assert_eq!(c.user_of("/bin/healthcheckapp"), "app");
    assert_eq!(c.user_of("svlogd"), "syslog");
    assert_eq!(c.user_of("runsvdir"), "root");
    let procs = c.processes();
    assert_eq!(
        procs
            .iter()
            .filter(|(_, cmd)| cmd.starts_with("runsv "))
            .count(),
        1,
        "only our service: {procs:#?}"
    );

    // What lands in the image (spec §2): modes, owners, the /etc/service link.
    let listing = c.sh_ok(
        "stat -c '%n %U %a' /bin/healthcheckapp /etc/sv/healthcheck-app/run /etc/sv/healthcheck-app/log/run \
         /etc/sensu/conf.d/custom_ping.json /etc/sensu/plugins/http-custom_ping.sh /etc/sensu/plugins/sv-running.sh; \
         readlink /etc/service/healthcheck-app; readlink /bin",
    );
    assert_eq!(
        listing,
        "/bin/healthcheckapp root 755\n/etc/sv/healthcheck-app/run root 755\n/etc/sv/healthcheck-app/log/run root 755\n\
         /etc/sensu/conf.d/custom_ping.json root 644\n/etc/sensu/plugins/http-custom_ping.sh root 755\n\
         /etc/sensu/plugins/sv-running.sh root 755\n/etc/sv/healthcheck-app\nusr/bin\n"
    );

    // 3. Every check passes while the app is healthy.
    let checks = check_commands(&c);
    assert_eq!(checks.len(), 2);
    // The app answers once it listens; give it a moment after `run:`.
    c.eventually_ok(
        Duration::from_secs(10),
        "/etc/sensu/plugins/http-custom_ping.sh",
    );
    for (name, command) in &checks {
        let o = c.sh(command);
        assert_eq!(
            o.status.code(),
            Some(0),
            "check {name}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert_eq!(
            stdout(&o).lines().count(),
            1,
            "one line of output: {}",
            stdout(&o)
        );
    }
    // WARNING (1) on a non-2xx answer: the app answers 503 in maintenance.
    c.sh_ok("touch /tmp/maintenance");
    let o = c.sh("/etc/sensu/plugins/http-custom_ping.sh");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("WARNING"), "{}", stdout(&o));
    c.sh_ok("rm /tmp/maintenance");
    // CRITICAL (2) once the app is stopped.
    c.sh_ok("sv down /etc/service/healthcheck-app");
    let o = c.sh("/etc/sensu/plugins/http-custom_ping.sh");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("CRITICAL"), "{}", stdout(&o));
    let o = c.sh("/etc/sensu/plugins/sv-running.sh healthcheck-app");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    c.sh_ok("sv up /etc/service/healthcheck-app");
    c.wait_until_up(Duration::from_secs(10));

    // 2. The log: <dir>/<service>/current, owned by the log user, in a 0700 directory,
    //    with the service's stdout and stderr lines.
    let stat = c.sh_ok("stat -c '%U %a' /var/log/healthcheck-app /var/log/healthcheck-app/current");
    let mut lines = stat.lines();
    assert_eq!(lines.next(), Some("syslog 700"));
    assert!(lines.next().unwrap().starts_with("syslog "));
    let log = c.sh_ok("cat /var/log/healthcheck-app/current");
    assert!(
        log.contains("healthcheck-app: listening on port 8080 (stderr)"),
        "{log}"
    );
    assert!(log.contains("healthcheck-app: ready (stdout)"), "{log}");

    // 5. docker stop: the service gets SIGTERM, the container exits 0 within stop-timeout.
    let (took, code) = c.stop(10);
    eprintln!("docker stop took {took:?}");
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    let log = c.read_file("/var/log/healthcheck-app/current");
    assert!(
        log.contains("healthcheck-app: SIGTERM received, shutting down"),
        "{log}"
    );

    // 8. Labels, and a context with the Dockerfile, root/ and the binary only.
    assert_eq!(
        image.label("org.opencontainers.image.title"),
        "healthcheck-app"
    );
    assert_eq!(
        image.label("org.opencontainers.image.version"),
        image.0.rsplit(':').next().unwrap()
    );
    assert_eq!(
        image.label("org.opencontainers.image.authors"),
        "Maintenance Martha <martha@example.com>"
    );
    let context = project.context("healthcheck-app");
    let mut top: Vec<String> = std::fs::read_dir(&context)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["Dockerfile", "root"]);
    let files: Vec<String> = files_below(&context)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(
        files.contains(&"root/bin/healthcheckapp".to_string()),
        "{files:?}"
    );
    assert!(
        files.iter().all(|f| f == "Dockerfile"
            || f.starts_with("root/etc/")
            || f.starts_with("root/usr/local/sbin/")
            || f == "root/bin/healthcheckapp"),
        "{files:?}"
    );
}

#[test]
fn env_defaults_apply_and_the_container_environment_wins() {
    require_docker!();
    let project = Project::copy_of("healthcheck-app");
    let (image, _) = build_image(&project, "healthcheck-app");
    // The default PORT=8080 applies: `${PORT}` in the command became 8080.
    let c = Container::start(&image, &[]);
    c.wait_until_up(Duration::from_secs(10));
    c.assert_running("/bin/healthcheckapp --port 8080");
    // `docker run -e PORT=9090` wins: the app listens there, the argv says so.
    let c2 = Container::start(&image, &["-e", "PORT=9090"]);
    c2.wait_until_up(Duration::from_secs(10));
    c2.assert_running("/bin/healthcheckapp --port 9090");
}

#[test]
fn multi_service_image_runs_every_service_as_its_user_and_reaps_orphans() {
    require_docker!();
    let project = Project::copy_of("multi-service");
    let (image, _) = build_image(&project, "acme/multi-service");
    assert_proven(
        &project,
        &image,
        &["api", "spawner", "ticker", "worker"],
        &["api_health", "worker_running"],
    );
    let c = Container::start(&image, &["-e", "GREETING=set by docker run"]);
    c.wait_until_up(Duration::from_secs(10));

    // 1. Each service as its configured user; 2. every log service as the log user.
    assert_eq!(c.user_of("/usr/local/bin/multiapp serve"), "api");
    assert_eq!(c.user_of("/usr/local/bin/multiapp work"), "worker");
    assert_eq!(c.user_of("/bin/sh -c trap"), "nobody");
    assert_eq!(c.user_of("/bin/sh -c while"), "root");
    let procs = c.processes();
    let svlogd: Vec<_> = procs
        .iter()
        .filter(|(_, cmd)| cmd.starts_with("svlogd"))
        .collect();
    assert_eq!(svlogd.len(), 4, "{procs:#?}");
    assert!(svlogd.iter().all(|(u, _)| u == "logger"), "{svlogd:#?}");
    for service in ["api", "worker", "ticker", "spawner"] {
        let dir = format!("/var/log/services/{service}");
        assert_eq!(
            c.sh_ok(&format!("stat -c '%U %a' {dir}")).trim(),
            "logger 700"
        );
        // svlogd's rotation settings from [log].
        assert_eq!(c.sh_ok(&format!("cat {dir}/config")), "s100000\nn5\n");
    }

    // 4. Env defaults, `docker run -e` over them, and image env reaching services.
    let env = eventually(Duration::from_secs(10), "the api answers", || {
        let o = c.sh("curl -s http://127.0.0.1:8081/env");
        match o.status.success() && !o.stdout.is_empty() {
            true => Ok(stdout(&o)),
            false => Err(stderr(&o)),
        }
    });
    assert_eq!(
        env,
        "GREETING=set by docker run\nAPP_ENV=production\nPORT=8081\n"
    );
    // 3. Checks pass while healthy.
    for (name, command) in check_commands(&c) {
        let o = c.sh(&command);
        assert_eq!(
            o.status.code(),
            Some(0),
            "check {name}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }

    // 6. The spawner leaves a detached job every 3 s; after several, no zombie remains.
    std::thread::sleep(Duration::from_secs(8));
    let spawned = c.sh_ok("cat /var/log/services/spawner/current");
    assert!(
        spawned.matches("spawner: detached job done").count() >= 2,
        "{spawned}"
    );
    let zombies = c.sh_ok("grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null; true");
    assert!(
        zombies.trim().is_empty(),
        "zombies: {zombies}\n{:#?}",
        c.processes()
    );

    // 5. docker stop: every service gets SIGTERM and logs it; exit 0 within stop-timeout.
    let (took, code) = c.stop(10);
    eprintln!("docker stop took {took:?}");
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(10), "{took:?}");
    for (service, line) in [
        ("api", "api: SIGTERM received, shutting down"),
        ("worker", "worker: SIGTERM received, finishing"),
        ("ticker", "ticker: SIGTERM received"),
    ] {
        let log = c.read_file(&format!("/var/log/services/{service}/current"));
        assert!(log.contains(line), "{service}: {log}");
    }
}

#[test]
fn init_inherit_uses_the_base_images_runit() {
    require_docker!();
    // A base that already runs runit on /etc/service, as Datica's and phusion's do.
    let base = Image(format!("{}:base", unique("bkl-runit-base")));
    let dockerfile = "FROM debian:bookworm-slim\n\
        RUN apt-get update && apt-get install -y --no-install-recommends runit && rm -rf /var/lib/apt/lists/* && rm -f /etc/service/default-syslog\n\
        CMD [\"runsvdir\", \"-P\", \"/etc/service\"]\n";
    let o = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf '%s' '{dockerfile}' | docker build -q -t {} -",
                base.0
            ),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let project = Project::copy_of("minimal");
    let base_ref = base.0.clone();
    project.edit_manifest(|t| format!("{t}\n[image]\nbase = \"{base_ref}\"\ninit = \"inherit\"\n"));
    let (image, _) = build_image(&project, "minimal");
    let dockerfile =
        std::fs::read_to_string(project.context("minimal").join("Dockerfile")).unwrap();
    assert!(
        !dockerfile
            .lines()
            .any(|l| l.starts_with("CMD") || l.starts_with("ENTRYPOINT")),
        "{dockerfile}"
    );
    assert_eq!(
        image.inspect("{{json .Config.Cmd}}"),
        r#"["runsvdir","-P","/etc/service"]"#
    );

    let c = Container::start(&image, &[]);
    c.wait_until_up(Duration::from_secs(10));
    assert_eq!(c.user_of("/bin/minimal"), "root");
    assert_eq!(c.user_of("svlogd"), "syslog");
    c.eventually_ok(
        Duration::from_secs(10),
        "grep -q 'hello from' /var/log/minimal/current",
    );
}

#[test]
fn an_unchanged_build_is_up_to_date_a_new_tag_is_all_cache_and_an_app_change_rebuilds_only_from_the_binary()
 {
    require_docker!();
    let project = Project::copy_of("minimal");
    let (tag, tag2) = (unique("cache"), unique("cache2"));
    let image = Image(format!("minimal:{tag}"));
    let _image2 = Image(format!("minimal:{tag2}"));
    // Every image ID the builds made, removed at the end (the first becomes untagged).
    let ids = std::cell::RefCell::new(Vec::new());
    let build = |what: &str, tags: &[&str]| {
        let mut args = tags[1..].to_vec();
        args.push("--verbose"); // docker's build log, to see which steps came from the cache
        let o = project.build(tags[0], &args);
        assert!(o.status.success(), "{what}: {}{}", stdout(&o), stderr(&o));
        let id = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("image id "))
            .map(String::from)
            .unwrap();
        ids.borrow_mut().push(Image(id.clone()));
        // docker's build log is progress: on stderr.
        (stderr(&o), id)
    };
    let (_, first) = build("first build", &[&tag]);

    // Nothing changed: the recorded digest matches, and docker is not even asked to build.
    let (log, second) = build("second build", &[&tag]);
    assert_eq!(first, second);
    assert!(
        log.contains(&format!(
            "==> up to date: minimal:{tag} is the image of this very context; nothing to build"
        )),
        "{log}"
    );
    assert!(!log.contains("docker build"), "{log}");

    // Another tag is not on that image yet: docker builds, every step from the cache.
    let (log, third) = build("build with a second tag", &[&tag, &tag2]);
    assert!(log.contains("docker build"), "{log}");
    let steps = steps_cached(&log);
    assert!(steps.len() > 5, "{log}");
    // (A FROM is never "from the cache": the image's and the SBOM layer's.)
    for (instruction, cached) in steps.iter().filter(|(i, _)| !i.starts_with("FROM ")) {
        assert!(
            *cached,
            "rebuilt with nothing changed: {instruction}\n{log}"
        );
    }
    let (log, _) = build("build of both tags again", &[&tag, &tag2]);
    assert!(log.contains("==> up to date: "), "{log}");
    assert_eq!(
        first, third,
        "the same image (same labels), now with both tags"
    );

    // Change the app: the layers before the binary stay cached, the binary's is rebuilt.
    let main = project.dir.join("src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap().replace(
        "heartbeat {beat}",
        &format!("heartbeat #{{beat}} {}", unique("run")),
    );
    std::fs::write(&main, code).unwrap();
    let (log, _) = build("build after a code change", &[&tag]);
    let steps = steps_cached(&log);
    let binary = steps
        .iter()
        .position(|(i, _)| i.starts_with("COPY root/bin/minimal"))
        .expect("the binary's COPY");
    for (instruction, cached) in &steps[1..binary] {
        assert!(
            *cached,
            "rebuilt though only the app changed: {instruction}\n{log}"
        );
    }
    assert!(!steps[binary].1, "the new binary was not copied:\n{log}");
    assert!(
        steps
            .iter()
            .any(|(i, c)| i.starts_with("RUN apt-get") && *c)
    );
    assert!(steps.iter().any(|(i, c)| i.contains("useradd") && *c));
    drop(image);
}

#[test]
fn hostile_labels_and_env_reach_the_image_literally() {
    require_docker!();
    let project = Project::hostile();
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(project.manifest()).unwrap()).unwrap();
    let (image, _) = build_image(&project, "hostile");
    // Backslashes before a quote, a dollar or the end of a value too (issue 25).
    for label in [
        "org.example.hostile",
        "org.example.backslash",
        "org.example.before-quote",
    ] {
        let want = manifest["image"]["labels"][label].as_str().unwrap();
        assert_eq!(image.label(label), want);
    }
    assert_eq!(
        image.label("org.opencontainers.image.authors"),
        manifest["image"]["maintainer"].as_str().unwrap()
    );
    let env = image.inspect("{{json .Config.Env}}");
    let env: Vec<String> = serde_json::from_str(&env).unwrap();
    for name in ["IMAGE_HOSTILE", "IMAGE_BACKSLASH", "IMAGE_BEFORE_QUOTE"] {
        let want_env = format!(
            "{name}={}",
            manifest["image"]["env"][name].as_str().unwrap()
        );
        assert!(env.contains(&want_env), "{env:?}");
    }
}

#[test]
fn a_check_that_follows_its_service_moves_with_docker_run_e_port() {
    require_docker!();
    let project = Project::copy_of("healthcheck-app");
    project.edit_manifest(|t| {
        t.replace(
            "http = \"http://127.0.0.1:8080/ping\"",
            "http = \"http://127.0.0.1:${PORT}/ping\"\nservice = \"healthcheck-app\"",
        ) + "\n[checks.port_seen]\ncommand = \"test \\\"$PORT\\\" = \\\"$WANT\\\"\"\nservice = \"healthcheck-app\"\n"
    });
    let (image, _) = build_image(&project, "healthcheck-app");
    let plugin = project
        .context("healthcheck-app")
        .join("root/etc/sensu/plugins/http-custom_ping.sh");
    shellcheck(&plugin);
    for (run_args, port) in [(&[][..], "8080"), (&["-e", "PORT=9191"][..], "9191")] {
        let c = Container::start(&image, run_args);
        c.wait_until_up(Duration::from_secs(10));
        c.eventually_ok(
            Duration::from_secs(10),
            "/etc/sensu/plugins/http-custom_ping.sh",
        );
        let out = c.sh_ok("/etc/sensu/plugins/http-custom_ping.sh");
        assert_eq!(
            out,
            format!("OK: http://127.0.0.1:{port}/ping answered HTTP 200\n")
        );
        // A command check gets the service's defaults too, and the container's -e wins.
        let commands = check_commands(&c);
        let (_, port_seen) = commands.iter().find(|(n, _)| n == "port_seen").unwrap();
        let o = c.sh(&format!("WANT={port}; export WANT; {port_seen}"));
        assert!(
            o.status.success(),
            "{port_seen}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

/// A copy of `minimal` shipping a file, a directory (with a sub-directory and an
/// executable), an owned file with a mode, and an empty owned directory.
fn minimal_with_files() -> Project {
    let p = Project::copy_of("minimal");
    let write = |rel: &str, text: &str| {
        let path = p.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("config/shop.toml", "port = 1\n");
    write("config/secret.toml", "secret\n");
    write("site/index.html", "<h1>hi</h1>\n");
    write("site/css/a.css", "h1 {}\n");
    write("site/tool.sh", "#!/bin/sh\necho tool\n");
    Command::new("chmod")
        .arg("755")
        .arg(p.dir.join("site/tool.sh"))
        .status()
        .unwrap();
    p.edit_manifest(|t| {
        t + r#"
[files]
"/etc/shop/config.toml" = "config/shop.toml"
"/srv/www" = "site"
"/etc/shop/secret.toml" = { from = "config/secret.toml", owner = "api", mode = "0640" }
"/var/lib/shop" = { owner = "api", mode = "0750" }
"#
    });
    p
}

#[test]
fn shipped_files_land_with_their_modes_and_owners_and_a_change_rebuilds_from_them() {
    require_docker!();
    let p = minimal_with_files();
    let (image, _) = build_image(&p, "minimal");
    let c = Container::start(&image, &[]);
    let listing = c.sh_ok(
        "stat -c '%n %F %U %a' /etc/shop/config.toml /etc/shop/secret.toml /srv/www \
         /srv/www/index.html /srv/www/css /srv/www/css/a.css /srv/www/tool.sh /var/lib/shop; \
         cat /etc/shop/config.toml /srv/www/css/a.css; /srv/www/tool.sh",
    );
    assert_eq!(
        listing,
        "/etc/shop/config.toml regular file root 644\n\
         /etc/shop/secret.toml regular file api 640\n\
         /srv/www directory root 755\n\
         /srv/www/index.html regular file root 644\n\
         /srv/www/css directory root 755\n\
         /srv/www/css/a.css regular file root 644\n\
         /srv/www/tool.sh regular file root 755\n\
         /var/lib/shop directory api 750\n\
         port = 1\nh1 {}\ntool\n"
    );
    drop(c);

    // Change one shipped file: the packages and users layers stay cached, the files' are
    // rebuilt.
    std::fs::write(p.dir.join("config/shop.toml"), "port = 2\n").unwrap();
    let (image2, out) = build_image(&p, "minimal");
    let steps = steps_cached(&stderr(&out));
    let cached = |prefix: &str| {
        steps
            .iter()
            .find(|(i, _)| i.starts_with(prefix))
            .unwrap_or_else(|| panic!("no step {prefix}: {steps:#?}"))
            .1
    };
    assert!(cached("RUN apt-get update"), "{steps:#?}");
    assert!(cached("RUN (getent passwd api"), "{steps:#?}");
    assert!(!cached("COPY root/etc/shop/config.toml"), "{steps:#?}");
    let c = Container::start(&image2, &[]);
    assert_eq!(c.sh_ok("cat /etc/shop/config.toml"), "port = 2\n");
    drop(image);
}
