//! `test` as services are deployed (issue 27): what a deployment gives the container (a
//! database's address and password, a network, test data) reaches it from `[test]` or
//! from `test --env/--env-file/--network/--volume`, and never the output, the image or
//! the build context.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::docker::*;
use common::*;

/// A user network with a "database" on it: a peer container answering HTTP as `db:8080`
/// (the healthcheck-app example's server). Both removed when dropped.
struct Database {
    network: String,
    _peer: Container,
    _image: Image,
}

impl Database {
    fn start() -> Database {
        let network = unique("bkl-net");
        let o = docker(&["network", "create", &network]);
        assert!(o.status.success(), "{}", stderr(&o));
        let server = Project::copy_of("healthcheck-app");
        let (image, _) = build_image(&server, "healthcheck-app");
        let peer = Container::start(&image, &["--network", &network, "--network-alias", "db"]);
        Database {
            network,
            _peer: peer,
            _image: image,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self._peer.name]);
        let _ = docker(&["network", "rm", &self.network]);
    }
}

/// The minimal example with a service that, as a database client does, exits at start
/// without its settings: `DATABASE_URL` and `DB_PASSWORD` set, the database reachable,
/// and its seed data mounted at /srv/testdata.
fn client() -> Project {
    let p = Project::copy_of("minimal");
    let script = r#"test -n "$DATABASE_URL" || { echo 'DATABASE_URL must be set'; exit 1; }; test -n "$DB_PASSWORD" || { echo 'DB_PASSWORD must be set'; exit 1; }; test -f /srv/testdata/seed.sql || { echo 'no seed data'; exit 1; }; curl -fsS "$DATABASE_URL/ping" >/dev/null || exit 1; echo connected; exec sleep 100000"#;
    p.edit_manifest(|m| {
        format!(
            "{m}\n[image]\npackages = [\"curl\"]\n\n[services.client]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n"
        )
    });
    std::fs::create_dir_all(p.dir.join("testdata")).unwrap();
    std::fs::write(p.dir.join("testdata/seed.sql"), "select 1;\n").unwrap();
    p
}

/// Everything `test` printed, on both streams.
fn said(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

#[test]
fn a_database_client_passes_test_only_with_its_settings_from_flags_or_the_table() {
    require_docker!();
    let db = Database::start();
    let p = client();
    let name = unique("client");
    p.set_image_name(&name);
    let image = Image(format!("{name}:v1"));
    let built = p.build("v1", &[]);
    assert!(built.status.success(), "{}", stderr(&built));
    let secret = format!("s3cret-{}", unique("pw"));

    // Without its settings the client crash-loops, and `test` says so.
    let o = p.prove("v1", &["--timeout", "8"]);
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    assert!(stdout(&o).contains("FAIL service client"), "{}", said(&o));

    // The flags.
    let data = format!("{}:/srv/testdata:ro", p.dir.join("testdata").display());
    let password = format!("DB_PASSWORD={secret}");
    let flags = [
        "--env",
        "DATABASE_URL=http://db:8080",
        "--env",
        &password,
        "--network",
        &db.network,
        "--volume",
        &data,
    ];
    for json in [false, true] {
        let mut args = flags.to_vec();
        args.extend(json.then_some("--json"));
        let o = p.prove("v1", &args);
        assert!(o.status.success(), "{}", said(&o));
        assert!(!said(&o).contains(&secret), "{}", said(&o));
    }

    // The table, with the password in a project env file; the flag's value wins.
    std::fs::write(p.dir.join("test.env"), format!("{password}\n")).unwrap();
    p.edit_manifest(|m| {
        format!(
            "{m}\n[test]\nenv = {{ DATABASE_URL = \"http://db:8080\" }}\nenv-file = \"test.env\"\nnetwork = \"{}\"\nvolumes = [\"./testdata:/srv/testdata:ro\"]\n",
            db.network
        )
    });
    let o = p.prove("v1", &[]);
    assert!(o.status.success(), "{}", said(&o));
    assert!(!said(&o).contains(&secret), "{}", said(&o));
    let o = p.prove(
        "v1",
        &["--env", "DATABASE_URL=http://nowhere:1", "--timeout", "8"],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "the flag did not win: {}",
        said(&o)
    );

    // A build with the table puts none of it in the image or the context.
    let built = p.build("v2", &["--verbose"]);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(!said(&built).contains(&secret));
    let v2 = Image(format!("{name}:v2"));
    let inspected = stdout(&docker(&["image", "inspect", &v2.0]));
    assert!(!inspected.contains("http://db:8080"), "{inspected}");
    assert!(!inspected.contains(&secret), "{inspected}");
    let grep = Command::new("grep")
        .args(["-rlF", "-e", "http://db:8080", "-e", &secret])
        .arg(p.context("minimal"))
        .output()
        .unwrap();
    assert_eq!(stdout(&grep), "", "in the context");
    drop(image);
}

/// `docker inspect`'s health status of a container.
fn health_of(container: &Container) -> String {
    let o = docker(&["inspect", "-f", "{{.State.Health.Status}}", &container.name]);
    stdout(&o).trim().to_string()
}

/// With runit's init and no `healthcheck`, Docker's health is the services' own state: a
/// crash loop is `unhealthy` (where `docker ps` said `Up`), and the init says on `docker
/// logs` that the service exited, with its last log line, at most once every 5 seconds;
/// good services are `healthy`; `healthcheck = false` leaves it out.
#[test]
fn a_crash_loop_is_unhealthy_and_on_docker_logs_and_good_services_are_healthy() {
    require_docker!();
    let good = Project::copy_of("minimal");
    let (image, _) = build_image(&good, "minimal");
    let c = Container::start(&image, &[]);
    eventually(Duration::from_secs(40), "healthy", || {
        let status = health_of(&c);
        (status == "healthy").then_some(()).ok_or(status)
    });

    let p = Project::copy_of("minimal");
    let crash = "echo 'cannot open /srv/uploads: permission denied'; exit 3";
    p.edit_manifest(|m| {
        format!("{m}\n[services.uploads]\ncommand = [\"/bin/sh\", \"-c\", {crash:?}]\n")
    });
    let (image, _) = build_image(&p, "minimal");
    let c = Container::start(&image, &[]);
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(60), "unhealthy", || {
        let status = health_of(&c);
        (status == "unhealthy").then_some(()).ok_or(status)
    });
    let seconds = started.elapsed().as_secs();
    let health = docker(&["inspect", "-f", "{{json .State.Health.Log}}", &c.name]);
    assert!(stdout(&health).contains("uploads: "), "{}", stdout(&health));
    let logs = said(&docker(&["logs", &c.name]));
    let said_exits: Vec<&str> = logs
        .lines()
        .filter(|l| {
            l.starts_with("buildkit-lite: service uploads exited with status 3; last log line: ")
        })
        .collect();
    assert!(!said_exits.is_empty(), "{logs}");
    assert!(
        said_exits
            .iter()
            .any(|l| l.ends_with("cannot open /srv/uploads: permission denied")),
        "{logs}"
    );
    // runsv restarts it every second; the init says so at most once every 5 seconds.
    assert!(
        said_exits.len() as u64 <= seconds / 5 + 2,
        "{} lines in {seconds} s:\n{logs}",
        said_exits.len()
    );
    assert!(!logs.contains("service minimal exited"), "{logs}");

    p.edit_manifest(|m| format!("{m}\n[image]\nhealthcheck = false\n"));
    let o = p.run(&["render", "-f", "service.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("\nHEALTHCHECK "), "{}", stdout(&o));
}
