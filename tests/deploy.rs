//! What deployments need (issue 18): users with fixed ids that own volumes a bind mount
//! can write, `file-mode` under a shipped directory, ports read from every way a manifest
//! writes them, TLS checks, a `test` that sees what users see (a port that answers only
//! inside, a crash loop's panic line), `init` on real workspaces, and no apt cache in the
//! image. Real files, and a real Docker engine where the image is the subject.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::docker::*;
use common::*;

/// A prebuilt project of `manifest` with `files`, built: the image is removed when dropped.
fn built(name: &str, manifest: &str, files: &[(&str, &str)]) -> (Project, Image) {
    let p = with_files(name, manifest, files);
    let (image, _) = build_image(&p, name);
    (p, image)
}

fn with_files(name: &str, manifest: &str, files: &[(&str, &str)]) -> Project {
    let p = Project::prebuilt(name, manifest);
    for (path, text) in files {
        let path = p.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    p
}

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
