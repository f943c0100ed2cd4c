//! What deployments need (issue 18): users with fixed ids that own volumes a bind mount
//! can write, `file-mode` under a shipped directory, ports read from every way a manifest
//! writes them, TLS checks, a `test` that sees what users see (a port that answers only
//! inside, a crash loop's panic line), `init` on real workspaces, and no apt cache in the
//! image. Real files, and a real Docker engine where the image is the subject.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::docker::*;
use common::*;

fn run_in(dir: &Path, args: &[&str]) -> Output {
    cmd().current_dir(dir).args(args).output().unwrap()
}

/// A rustypaste-like service: a fixed uid 1000, an upload volume it owns, and a directory
/// of keys that only it may read.
const PASTE: &str = r#"
[app]
name = "paste"
binary = "paste"
target = "x86_64-unknown-linux-musl"
prebuilt = "app.bin"

[users.paste]
uid = 1000

[image]
volumes = ["/app/upload"]

[files]
"/app/upload" = { owner = "paste", mode = "0750" }
"/etc/paste/keys" = { from = "keys", owner = "paste", mode = "0700", file-mode = "0600" }

[services.paste]
user = "paste"
command = ["/bin/sh", "-c", "while :; do date > /app/upload/written || echo cannot write; sleep 1; done"]
"#;

#[test]
fn a_fixed_uid_user_owns_its_volume_and_writes_a_bind_mount_owned_by_1000() {
    require_docker!();
    let (_p, image) = built(
        "paste",
        PASTE,
        &[
            ("keys/server.key", "secret\n"),
            ("keys/sub/other.key", "x\n"),
        ],
    );
    // VOLUME is in the image's config.
    assert_eq!(
        image.inspect("{{json .Config.Volumes}}"),
        r#"{"/app/upload":{}}"#
    );
    // A host directory owned by 1000:1000, private to it, mounted on the volume.
    let host = tempfile::tempdir().unwrap();
    let upload = host.path().join("upload");
    std::fs::create_dir(&upload).unwrap();
    std::os::unix::fs::chown(&upload, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&upload, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mount = format!("{}:/app/upload", upload.display());
    let c = Container::start(&image, &["-v", &mount]);
    c.wait_until_up(Duration::from_secs(15));
    assert_eq!(c.sh_ok("id -u paste; id -g paste"), "1000\n1000\n");
    eventually(
        Duration::from_secs(10),
        "the service's file on the host",
        || match std::fs::metadata(upload.join("written")) {
            Ok(m) => Ok(m),
            Err(e) => Err(e.to_string()),
        },
    );
    let written = std::fs::metadata(upload.join("written")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((written.uid(), written.gid()), (1000, 1000));
    // file-mode under the shipped directory; mode stays the directory's own.
    assert_eq!(
        c.sh_ok("stat -c '%n %a %U' /etc/paste/keys /etc/paste/keys/server.key /etc/paste/keys/sub /etc/paste/keys/sub/other.key"),
        "/etc/paste/keys 700 paste\n/etc/paste/keys/server.key 600 paste\n/etc/paste/keys/sub 755 paste\n/etc/paste/keys/sub/other.key 600 paste\n"
    );
    // Without a mount, the volume is the image's directory, the service's own.
    let c = Container::start(&image, &[]);
    c.wait_until_up(Duration::from_secs(15));
    assert_eq!(c.sh_ok("stat -c '%U %a' /app/upload"), "paste 750\n");
}

#[test]
fn a_base_that_has_the_user_with_other_ids_fails_clearly() {
    require_docker!();
    let manifest = "[app]\nname = \"idclash\"\nbinary = \"idclash\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[users.nobody]\nuid = 1000\n\n[services.web]\nuser = \"nobody\"\ncommand = [\"/bin/sleep\", \"infinity\"]\n";
    let p = Project::prebuilt("idclash", manifest);
    let tag = unique("clash");
    let _cleanup = Image(format!("idclash:{tag}"));
    let o = p.build(&tag, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("buildkit-lite: the base already has user nobody with ids 65534:65534, not 1000:1000 ([users.nobody])"),
        "{err}"
    );
}

#[test]
fn users_volumes_and_file_modes_are_checked() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "[users.a]\nuid = 0\n",
            "users.a.uid",
            "an id from 1 to 65533",
        ),
        (
            "[users.a]\nuid = 70000\n",
            "users.a.uid",
            "an id from 1 to 65533",
        ),
        (
            "[users.a]\nuid = 1000\n\n[users.b]\nuid = 1000\n",
            "users.b.uid",
            "uid 1000 is user `a`'s already",
        ),
        (
            "[image]\nvolumes = [\"data\"]\n",
            "image.volumes[0]",
            "is not an absolute path",
        ),
        (
            "[image]\nvolumes = [\"/proc/x\"]\n",
            "image.volumes[0]",
            "/proc (the kernel's process file system)",
        ),
        (
            "[files]\n\"/etc/k\" = { from = \"app.bin\", file-mode = \"0600\" }\n",
            "files.\"/etc/k\".file-mode",
            "file-mode is for the files under a shipped directory: for a file, use mode",
        ),
    ];
    for (extra, key, why) in cases {
        let manifest = format!(
            "[app]\nname = \"c\"\nbinary = \"c\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[services.c]\n\n{extra}"
        );
        let p = Project::prebuilt("c", &manifest);
        let o = run_in(&p.dir, &["check", "-f", "service.toml"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra}: {err}");
        assert!(
            err.contains(&format!(": {key}: ")) && err.contains(why),
            "{extra}: {err}"
        );
    }
    // A volume no service's user owns is a warning.
    let manifest = "[app]\nname = \"c\"\nbinary = \"c\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[services.c]\nuser = \"app\"\n\n[image]\nvolumes = [\"/data\"]\n";
    let p = Project::prebuilt("c", manifest);
    let o = run_in(&p.dir, &["check", "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "image.volumes[0]: volume `/data` belongs to root, and no service runs as root"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_image_with_packages_keeps_no_apt_cache() {
    require_docker!();
    let manifest = "[app]\nname = \"aptclean\"\nbinary = \"aptclean\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[image]\npackages = [\"less\"]\n\n[services.web]\ncommand = [\"/bin/sleep\", \"infinity\"]\n";
    let (_p, image) = built("aptclean", manifest, &[]);
    let o = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        &image.0,
        "-c",
        "command -v less && find /var/cache/apt/archives /var/lib/apt/lists -type f -name '*.deb' -o -type f -name '*_Packages' | wc -l",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("\n0\n"), "{}", stdout(&o));
}

#[test]
fn ports_written_as_addresses_flags_and_urls_raise_no_warning() {
    let fixture = "tests/fixtures/warnings/ports.toml";
    let o = run(&["check", "--deny-warnings", "-f", fixture]);
    let shown = format!(
        "$ buildkit-lite check --deny-warnings -f {fixture}\n{}{}(exit status {})\n",
        stdout(&o),
        stderr(&o),
        o.status.code().unwrap()
    );
    insta::with_settings!({
        snapshot_path => "snapshots",
        prepend_module_to_snapshot => false,
        description => "ports as 0.0.0.0:8000, [::]:8001, --listen=0.0.0.0:8002, :8003 and a URL",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("check-ports", shown);
    });
}

/// A self-signed certificate for `localhost` (and its key) in `dir/tls/`.
fn self_signed(dir: &Path) {
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    let o = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-keyout", "tls/key.pem", "-out", "tls/cert.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl req: {}", stderr(&o));
}

const TLS: &str = r#"
[app]
name = "tlscheck"
binary = "tlscheck"
target = "x86_64-unknown-linux-musl"
prebuilt = "app.bin"

[image]
packages = ["openssl"]

[files]
"/etc/tls" = { from = "tls", mode = "0755" }

[services.https]
command = ["openssl", "s_server", "-quiet", "-accept", "8443", "-cert", "/etc/tls/cert.pem", "-key", "/etc/tls/key.pem", "-www"]

[checks.insecure]
http = "https://localhost:8443/"
tls-verify = false

[checks.with_ca]
http = "https://localhost:8443/"
ca = "tls/cert.pem"

[checks.verified]
http = "https://localhost:8443/"
timeout = 3

[checks.refused]
http = "http://127.0.0.1:9/"
timeout = 3
"#;

#[test]
fn https_checks_take_tls_verify_or_a_ca_and_say_what_failed() {
    require_docker!();
    let p = Project::prebuilt("tlscheck", TLS);
    self_signed(&p.dir);
    let (image, _) = build_image(&p, "tlscheck");
    let o = p.prove(image.tag(), &["--timeout", "8"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    let line = |start: &str| {
        out.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` in:\n{out}"))
            .to_string()
    };
    assert!(line("ok   check insecure ").contains("OK: https://localhost:8443/ answered HTTP 200"));
    assert!(line("ok   check with_ca ").contains("OK: https://localhost:8443/ answered HTTP 200"));
    assert!(
        line("FAIL check verified ").contains(
            "CRITICAL: https://localhost:8443/: the server's TLS certificate is not trusted"
        ),
        "{out}"
    );
    assert!(
        line("FAIL check refused ")
            .contains("CRITICAL: http://127.0.0.1:9/: connection refused (nothing listens there)"),
        "{out}"
    );
}

/// The rendered http plugin of a check of `url`, written to `dir`; returns its path.
fn http_plugin(dir: &Path, url: &str) -> std::path::PathBuf {
    let manifest = format!(
        "[app]\nname = \"plug\"\nbinary = \"plug\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[services.plug]\n\n[checks.probe]\nhttp = \"{url}\"\ntimeout = 2\n"
    );
    let p = Project::prebuilt("plug", &manifest);
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let o = run_in(&p.dir, &["render", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.join("root/etc/sensu/plugins/http-probe.sh")
}

#[test]
fn the_http_plugin_says_refused_timed_out_and_answered_in_words_of_their_own() {
    require_tool("curl");
    // Real sockets on loopback, served by Python: one that never answers, one that
    // answers 503, and a port nothing listens on.
    let server = r#"
import http.server, socket, sys, threading
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen(8)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503); self.end_headers()
    def log_message(self, *a): pass
busy = http.server.HTTPServer(("127.0.0.1", 0), H)
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); port = closed.getsockname()[1]; closed.close()
print(silent.getsockname()[1], busy.server_address[1], port, flush=True)
threading.Timer(30, lambda: sys.exit(0)).start()
busy.timeout = 1
import time; end = time.time() + 30
while time.time() < end: busy.handle_request()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", server])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    let ports: Vec<&str> = first.split_whitespace().collect();
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (ports[0], 2, "no answer within 2s (timed out)"),
        (ports[1], 1, "answered HTTP 503"),
        (ports[2], 2, "connection refused (nothing listens there)"),
    ];
    for (port, code, words) in cases {
        let url = format!("http://127.0.0.1:{port}/");
        let plugin = http_plugin(tmp.path(), &url);
        let o = std::process::Command::new("sh")
            .arg(&plugin)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{url}: {}", stdout(&o));
        assert!(stdout(&o).contains(words), "{url}: {}", stdout(&o));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A perl one-liner (Debian's perl-base is in every base) serving HTTP on `address`.
fn http_server(address: &str, port: u16) -> String {
    format!(
        "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => '{address}', LocalPort => {port}, Listen => 5, ReuseAddr => 1) or die \"listen: $!\"; while (my $c = $s->accept) {{ print $c \"HTTP/1.0 200 OK\\r\\n\\r\\nok\\n\"; close $c }}"
    )
}

#[test]
fn test_fails_a_port_that_answers_only_inside_and_passes_one_that_answers_outside() {
    require_docker!();
    let manifest = format!(
        "[app]\nname = \"ports\"\nbinary = \"ports\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[image]\nexpose = [8080, 8081]\n\n[services.inside]\ncommand = [\"perl\", \"-e\", {:?}]\n\n[services.outside]\ncommand = [\"perl\", \"-e\", {:?}]\n",
        http_server("127.0.0.1", 8080),
        http_server("0.0.0.0", 8081),
    );
    let (p, image) = built("ports", &manifest, &[]);
    let o = p.prove(image.tag(), &["--timeout", "8"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    assert!(
        out.lines().any(|l| l.starts_with("FAIL port 8080 ") && l.ends_with(
            "port 8080 answers only inside the container: the service listens on 127.0.0.1; listen on 0.0.0.0"
        )),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok   port 8081 ")
                && l.contains("answers from outside (127.0.0.1:")),
        "{out}"
    );
    assert!(stderr(&o).contains("port 8080"), "{}", stderr(&o));
    assert_eq!(test_containers(&image), Vec::<String>::new());
}

#[test]
fn a_crash_loop_shows_its_panic_line_first_and_its_last_lines() {
    require_docker!();
    let manifest = "[app]\nname = \"panics\"\nbinary = \"panics\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n\n[services.app]\ncommand = [\"/bin/sh\", \"-c\", \"echo starting up; echo \\\"thread 'main' panicked at src/main.rs:3:5:\\\"; echo 'no config at /etc/app.toml'; echo 'note: run with RUST_BACKTRACE=1 environment variable to display a backtrace'; exit 101\"]\n";
    let (p, image) = built("panics", manifest, &[]);
    let o = p.prove(image.tag(), &["--timeout", "20"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("FAIL service app "))
        .unwrap_or_else(|| panic!("{out}"));
    let panic = line.find("; thread 'main' panicked at src/main.rs:3:5:; last lines: ");
    let note = line.rfind("note: run with RUST_BACKTRACE=1");
    assert!(panic.is_some() && note.is_some() && panic < note, "{line}");
    assert!(line.contains("no config at /etc/app.toml"), "{line}");
}

#[test]
fn init_in_a_workspace_member_writes_its_package_and_no_service_for_a_client() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"redis\", \"other\"]\nresolver = \"2\"\n",
    );
    write(
        "redis/Cargo.toml",
        "[package]\nname = \"mini-redis\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"mini-redis-server\"\npath = \"src/server.rs\"\n\n[[bin]]\nname = \"mini-redis-cli\"\npath = \"src/cli.rs\"\n",
    );
    write("redis/src/server.rs", "fn main() {}\n");
    write("redis/src/cli.rs", "fn main() {}\n");
    write(
        "other/Cargo.toml",
        "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write("other/src/main.rs", "fn main() {}\n");
    let member = root.join("redis");
    let o = run_in(root, &["init", "--dir", "redis"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(member.join("service.toml")).unwrap();
    assert!(text.contains("\npackage = \"mini-redis\""), "{text}");
    assert!(
        text.contains("binary = [\"mini-redis-server\", \"mini-redis-cli\"]")
            || text.contains("binary = [\"mini-redis-cli\", \"mini-redis-server\"]"),
        "{text}"
    );
    assert!(!text.contains("other"), "another member's binaries: {text}");
    assert!(text.contains("\n[services.mini-redis-server]\n"), "{text}");
    assert!(!text.contains("\n[services.mini-redis-cli]"), "{text}");
    assert!(text.contains("# [services.mini-redis-cli]"), "{text}");
    // Every trailing comment has a space before it.
    assert!(
        !text
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("]#")),
        "{text}"
    );
    let o = run_in(&member, &["check", "--deny-warnings", "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok (1 service, 0 checks)"),
        "{}",
        stdout(&o)
    );
}

/// Issue 27 item 5, on a diesel-API-shaped manifest: the port is in the service's config
/// file (shipped with `[files]`), so the manifest names it only in `expose` and the check;
/// `check --deny-warnings` passes. A database URL with a password in its user-info is
/// warned; the same URL with the password from the run-time environment is not.
#[test]
fn a_port_from_a_config_file_raises_no_warning_and_a_password_in_a_url_does() {
    let p = Project::copy_of("minimal");
    std::fs::write(p.dir.join("api.toml"), "[server]\nport = 3000\n").unwrap();
    p.edit_manifest(|m| {
        m.replace(
            "[services.minimal]\n",
            "[services.minimal]\nenv = { DATABASE_URL = \"postgres://api@db/api\", CONFIG = \"/etc/api.toml\" }\n",
        ) + "\n[image]\nexpose = [3000]\n\n[files]\n\"/etc/api.toml\" = \"api.toml\"\n\n[checks.health]\nhttp = \"http://127.0.0.1:3000/health\"\nservice = \"minimal\"\n"
    });
    let o = p.run(&["check", "--deny-warnings", "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    p.edit_manifest(|m| m.replace("postgres://api@db/api", "postgres://api:hunter2@db/api"));
    let o = p.run(&["check", "--deny-warnings", "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("services.minimal.env.DATABASE_URL: a URL here has a password in it"),
        "{err}"
    );
    assert!(
        err.contains("service.toml: 1 warning and --deny-warnings"),
        "{err}"
    );
    p.edit_manifest(|m| m.replace("api:hunter2@", "api:${DB_PASSWORD}@"));
    let o = p.run(&["check", "--deny-warnings", "-f", "service.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}
