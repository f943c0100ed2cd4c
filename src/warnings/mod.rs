//! `check`'s warnings: choices that are valid but will hurt later, each at its line and
//! column with a one-line reason. `check --deny-warnings` makes them errors.
//!
//! - a base image without a tag, or with `:latest` (hadolint's DL3006 and DL3007): the
//!   build changes when the tag moves;
//! - ports, only on a contradiction the manifest shows ([`ports`]): an `http` check or an
//!   `image.expose` port that no service sets while some service sets one, or a port a
//!   service listens on that no `expose` and no check names; a service that sets no port
//!   anywhere (a config file, a built-in default) raises none;
//! - a password in a URL's user-info (`postgres://app:secret@db/app`) in an env default, a
//!   command or a check: it is in the image for anyone who has it;
//! - an `app.binary` that is not a bin target of the Cargo.toml, with "did you mean" (asked
//!   of `cargo metadata --no-deps` when cargo is there; without cargo, not looked into);
//! - an `image.volumes` directory that no service's user owns (`[files]` names its owner,
//!   else root): the services cannot write what is mounted there;
//! - an `env` default (image, service or task) whose name says it is a secret (`*_TOKEN`,
//!   `*PASSWORD*`, `*SECRET*`, `*_KEY`): its value is in the image, readable by anyone with
//!   the image (`docker history`, `docker inspect`, the run scripts); pass it at run time
//!   (`docker run -e`) instead;
//! - `builder = "auto"` (the default) for a target that this machine has no way to
//!   compile for (no standard library for it, no cross, no cargo-zigbuild): `build` would
//!   stop, and `builder = "container"` compiles in the Docker engine instead (the same
//!   read-only probes as `build --dry-run`, run from `/`);
//! - a `[files]` `mode` or `file-mode` that anyone may write (`0666`, `0777`): any user in
//!   the container (a compromised service) can change what another one runs or reads.
//!
//! Nothing here prints.

mod ports;

use std::collections::BTreeMap;

use toml::de::DeTable;

use crate::diagnostic::{Diagnostic, KeyPath, Located, SourceMap};
use crate::manifest::{Binaries, Loaded, Manifest};
use crate::plan::Plan;

/// Every warning of a valid manifest, in source order.
pub fn warnings(loaded: &Loaded, plan: &Plan) -> Vec<Diagnostic> {
    let m = &loaded.manifest;
    let mut found = Vec::new();
    base_image(m, &mut found);
    ports::ports(m, &mut found);
    passwords(m, &mut found);
    binaries(m, plan, &mut found);
    secrets(m, &mut found);
    volumes(m, &mut found);
    world_writable(m, &mut found);
    no_builder_here(plan, &mut found);
    if found.is_empty() {
        return Vec::new();
    }
    let map = SourceMap::new(&loaded.text);
    let Ok(root) = DeTable::parse(&loaded.text) else {
        return Vec::new();
    };
    let root = root.get_ref();
    let mut located: Vec<Located> = found
        .into_iter()
        .map(|(key, message)| Located::at_path(root, key, message))
        .collect();
    located.sort_by_key(|l| l.span.start);
    located
        .into_iter()
        .map(|l| l.resolve(&map, Some(root)))
        .collect()
}

type Found = Vec<(KeyPath, String)>;

/// Targets that `auto` finds no way to compile for on this machine.
fn no_builder_here(plan: &Plan, found: &mut Found) {
    use crate::build::builder::{self, ThisHost};
    use crate::manifest::Builder;
    if plan.app.builder != Builder::Auto || plan.app.prebuilt.is_some() {
        return;
    }
    for platform in &plan.platforms {
        let target = platform.target.as_str();
        let trust = crate::host::project::Trust::Nothing;
        let mut host = ThisHost::new(target, &plan.app.cargo_manifest, &plan.manifest_dir, trust);
        if builder::choose(Builder::Auto, target, &mut host).is_ok() {
            continue;
        }
        found.push((
            KeyPath::root().key("app").key("target"),
            format!(
                "this machine has no way to compile for {target} (no standard library for it, cross or cargo-zigbuild): `build` would stop; builder = \"container\" compiles in the Docker engine instead, from [build] image (see docs/manifest.md)"
            ),
        ));
    }
}

/// `[files]` modes that let every user write.
fn world_writable(m: &Manifest, found: &mut Found) {
    for (path, entry) in &m.files {
        for (key, mode) in [("mode", entry.mode()), ("file-mode", entry.file_mode())] {
            let Some(mode) = mode else { continue };
            let bits = crate::manifest::rules::octal_mode(mode).unwrap_or(0);
            if bits & 0o002 != 0 {
                found.push((
                    KeyPath::root().key("files").key(path).key(key),
                    format!(
                        "{key} {mode:?} lets every user in the container write `{path}`: a service (or a process that took one over) could change what the others run or read; drop the last digit's 2 (\"0755\", \"0644\"), and give a shared directory to a group"
                    ),
                ));
            }
        }
    }
}

/// Volumes whose owner no service runs as (with `[image] user`, every service runs as it).
fn volumes(m: &Manifest, found: &mut Found) {
    let default = m.image.user.as_deref().unwrap_or("root");
    let runs_as: std::collections::BTreeSet<&str> = m
        .services
        .values()
        .map(|s| s.user.as_deref().unwrap_or(default))
        .collect();
    for (i, volume) in m.image.volumes.iter().enumerate() {
        let owner = m
            .files
            .get(volume)
            .and_then(|f| f.owner())
            .unwrap_or("root");
        if !runs_as.contains(owner) {
            found.push((
                KeyPath::root().key("image").key("volumes").index(i),
                format!(
                    "volume `{volume}` belongs to {owner}, and no service runs as {owner}: give it the service's user with [files] {volume:?} = {{ owner = \"…\" }}"
                ),
            ));
        }
    }
}

/// Whether an environment variable's name says it holds a secret.
fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    name.ends_with("_TOKEN")
        || name == "TOKEN"
        || name.ends_with("_KEY")
        || name.contains("PASSWORD")
        || name.contains("PASSWD")
        || name.contains("SECRET")
}

/// Env defaults named like secrets: their values are baked into the image.
fn secrets(m: &Manifest, found: &mut Found) {
    let root = KeyPath::root();
    let image = m.image.env.keys().map(|k| (root.key("image"), k));
    let services = m.services.iter().flat_map(|(name, s)| {
        let at = root.key("services").key(name);
        s.env.keys().map(move |k| (at.clone(), k))
    });
    let tasks = m.tasks.iter().flat_map(|(name, t)| {
        let at = root.key("tasks").key(name);
        t.env.keys().map(move |k| (at.clone(), k))
    });
    for (table, name) in image.chain(services).chain(tasks) {
        if secret_name(name) {
            let at = table.key("env").key(name);
            found.push((
                at,
                format!(
                    "`{name}` looks like a secret: its value is in the image for anyone who has it (docker history, docker inspect, the run scripts); pass it at run time with `docker run -e {name}=…`"
                ),
            ));
        }
    }
}

/// The password of a URL's user-info in `value` (`scheme://user:password@host`), unless it
/// is a `${VARIABLE}` expanded at run time.
fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#', ' ']).next()?;
    let (user_info, _) = authority.rsplit_once('@')?;
    let (_, password) = user_info.split_once(':')?;
    (!password.is_empty() && !password.starts_with('$')).then_some(password)
}

/// Env defaults, command words and checks holding a URL with a password.
fn passwords(m: &Manifest, found: &mut Found) {
    let root = KeyPath::root();
    let env = |at: KeyPath, env: &BTreeMap<String, String>| -> Vec<(KeyPath, String)> {
        let values = env.iter().map(|(k, v)| (at.key("env").key(k), v.clone()));
        values.collect()
    };
    let words = |at: KeyPath, words: Option<&Vec<String>>| -> Vec<(KeyPath, String)> {
        let words = words.into_iter().flatten().enumerate();
        words
            .map(|(i, w)| (at.key("command").index(i), w.clone()))
            .collect()
    };
    let mut values = env(root.key("image"), &m.image.env);
    for (name, s) in &m.services {
        let at = root.key("services").key(name);
        values.extend(
            env(at.clone(), &s.env)
                .into_iter()
                .chain(words(at, s.command.as_ref())),
        );
    }
    for (name, t) in &m.tasks {
        let at = root.key("tasks").key(name);
        values.extend(
            env(at.clone(), &t.env)
                .into_iter()
                .chain(words(at, t.command.as_ref())),
        );
    }
    for (name, c) in &m.checks {
        let at = root.key("checks").key(name);
        values.extend(c.http.iter().map(|v| (at.key("http"), v.clone())));
        values.extend(c.command.iter().map(|v| (at.key("command"), v.clone())));
    }
    for (at, value) in values {
        if url_password(&value).is_some() {
            let reason = "a URL here has a password in it (`scheme://user:…@host`): it is in the image for anyone who has it (docker history, docker inspect, the run scripts); pass it at run time (`docker run -e`)".to_string();
            found.push((at, reason));
        }
    }
}

/// Each `image.base` as written, when it has no tag or `:latest` (a digest pins it anyway).
fn base_image(m: &Manifest, found: &mut Found) {
    for (platform, base) in m.image.base.images() {
        if let Some(reason) = moving_base(base) {
            let at = KeyPath::root().key("image").key("base");
            found.push((platform.map_or(at.clone(), |p| at.key(p)), reason));
        }
    }
}

/// Why `base` moves, if it does.
fn moving_base(base: &str) -> Option<String> {
    if base.contains('@') {
        return None;
    }
    let last = base.rsplit('/').next().unwrap_or(base);
    let reason = match last.split_once(':') {
        None => format!(
            "`{base}` has no tag, so it is `:latest`, which moves: pin a tag (hadolint DL3006)"
        ),
        Some((_, "latest")) => {
            format!("`{base}` moves whenever a new release is tagged: pin a tag (hadolint DL3007)")
        }
        Some(_) => return None,
    };
    Some(reason)
}

/// The port a value names: `8080`, `:8080`, `HOST:8080` (`0.0.0.0:8080`, `[::]:8080`),
/// `--port=8080`, `--listen=0.0.0.0:8080`, or a URL's (`http://host:8080/x`).
pub fn port_in(value: &str) -> Option<u16> {
    let value = value.trim();
    let value = match value.starts_with('-') {
        true => value.split_once('=').map_or(value, |(_, v)| v),
        false => value,
    };
    let digits = if value.bytes().all(|b| b.is_ascii_digit()) {
        value
    } else {
        value.rsplit_once(':')?.1.split('/').next()?
    };
    digits.parse::<u16>().ok().filter(|p| *p > 0)
}

/// Each binary that is not a bin target of the cargo package or workspace.
fn binaries(m: &Manifest, plan: &Plan, found: &mut Found) {
    if plan.app.prebuilt.is_some() || !plan.app.cargo_manifest.is_file() {
        return;
    }
    let Ok(metadata) = crate::build::compile::metadata(
        &plan.app,
        &plan.manifest_dir,
        crate::host::project::Trust::Nothing,
    ) else {
        return;
    };
    let known: Vec<&str> = metadata.bins.iter().map(String::as_str).collect();
    let at = KeyPath::root().key("app").key("binary");
    let names: Vec<(KeyPath, &str)> = match &m.app.binary {
        Binaries::One(name) => vec![(at, name.as_str())],
        Binaries::Several(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| (at.index(i), n.as_str()))
            .collect(),
    };
    let known_set: std::collections::HashSet<&str> = known.iter().copied().collect();
    for (key, name) in names {
        if let Some(off) = metadata.unmet_features.get(name) {
            found.push((
                key,
                format!(
                    "bin target `{name}` needs the features {}, which [app] features (with the default features) leave off: the build would stop (add them to features, or leave the bin out)",
                    off.join(", ")
                ),
            ));
            continue;
        }
        if known_set.contains(name) {
            continue;
        }
        let mut reason = format!("{} has no bin target `{name}`", plan.app.cargo_manifest);
        if let Some(close) = crate::diagnostic::suggest::did_you_mean(name, &known) {
            reason.push_str(&format!(", did you mean `{close}`?"));
        }
        reason.push_str(&format!(
            " (its binaries: {}); the build would stop",
            known.join(", ")
        ));
        found.push((key, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warned(extra: &str) -> Vec<String> {
        let dir = camino::Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let text = format!(
            "[app]\nname = \"demo\"\nbinary = \"demo\"\ntarget = \"x86_64-unknown-linux-musl\"\nprebuilt = \"app.bin\"\n{extra}"
        );
        let loaded = crate::manifest::load::from_text(&text, &dir).unwrap();
        let plan = crate::plan::resolve(&loaded);
        warnings(&loaded, &plan)
            .iter()
            .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.key, d.message))
            .collect()
    }

    #[test]
    fn ports_are_read_however_they_are_written() {
        for (value, port) in [
            ("8080", Some(8080)),
            (":8080", Some(8080)),
            ("0.0.0.0:8080", Some(8080)),
            ("[::]:8080", Some(8080)),
            ("--port=8080", Some(8080)),
            ("--listen=0.0.0.0:8080", Some(8080)),
            ("http://127.0.0.1:8080/ping", Some(8080)),
            ("http://example.com/x", None),
            ("--verbose", None),
            ("0", None),
            ("70000", None),
        ] {
            assert_eq!(port_in(value), port, "{value}");
        }
    }

    #[test]
    fn unpinned_bases_and_ports_no_service_has_are_warned() {
        let w = warned(
            "[image]\nbase = \"debian\"\n[services.web]\nenv = { PORT = \"8080\" }\n[checks.ping]\nhttp = \"http://127.0.0.1:9090/ping\"\n",
        );
        // The check asks 9090, the service listens on 8080: each side of it is named.
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].starts_with("7:8 image.base: `debian` has no tag"),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("9:16 services.web.env.PORT: service `web` listens on port 8080"),
            "{w:?}"
        );
        assert!(
            w[2].starts_with("11:8 checks.ping.http: port 9090 is no service's env default"),
            "{w:?}"
        );
        assert!(
            w[2].contains("write `${PORT}` in the URL and service = \"web\""),
            "{w:?}"
        );
        // A variable with PORT in its name but no port as its value gives no such hint.
        let w = warned(
            "[image]\nbase = \"debian:12\"\n[services.web]\nenv = { REPORT_DIR = \"/tmp\", PORT_RANGE = \"8000-9000\" }\n[checks.ping]\nhttp = \"http://127.0.0.1:9090/ping\"\n",
        );
        // No service sets a port at all (the port is in a config file, or built in):
        // nothing contradicts the check's port.
        assert_eq!(w, Vec::<String>::new());
        let w = warned("[image]\nbase = \"debian:latest\"\n[services.web]\n");
        assert!(w[0].contains("DL3007"), "{w:?}");
        let w = warned(
            "[image]\nbase = \"debian:12\"\nexpose = [8080, 9000, 7070]\n[services.web]\nenv = { PORT = \"8080\" }\n[services.admin]\ncommand = [\"/bin/admin\", \"--listen=:9000\"]\n",
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("8:23 image.expose[2]: port 7070 is no service's env default"),
            "{w:?}"
        );
        let fine = warned(
            "[image]\nbase = \"debian@sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n[services.web]\nenv = { PORT = \"8080\" }\n[checks.ping]\nhttp = \"http://127.0.0.1:8080/\"\n",
        );
        assert_eq!(fine, Vec::<String>::new());
    }

    #[test]
    fn ports_are_warned_only_on_a_contradiction() {
        // Set nowhere: an expose and a check on a port from a config file are fine.
        let w = warned(
            "[image]\nbase = \"debian:12\"\nexpose = [3000]\n[services.web]\ncommand = [\"/bin/web\", \"--config\", \"/etc/web.toml\"]\n[checks.up]\nhttp = \"http://127.0.0.1:3000/\"\n",
        );
        assert_eq!(w, Vec::<String>::new());
        // Set (a flag and its next word) and exposed; a database URL's port is not one
        // the service listens on.
        let w = warned(
            "[image]\nbase = \"debian:12\"\nexpose = [8080]\n[services.web]\ncommand = [\"/bin/web\", \"--port\", \"8080\"]\nenv = { DATABASE_URL = \"postgres://db:5432/app\" }\n",
        );
        assert_eq!(w, Vec::<String>::new());
        // Set, and named by nothing.
        let w =
            warned("[image]\nbase = \"debian:12\"\n[services.web]\nenv = { PORT = \"8080\" }\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("9:16 services.web.env.PORT: service `web` listens on port 8080, which no `image.expose` and no check names"),
            "{w:?}"
        );
        // A check that follows the variable names it.
        let w = warned(
            "[image]\nbase = \"debian:12\"\n[services.web]\nenv = { PORT = \"8080\" }\n[checks.up]\nhttp = \"http://127.0.0.1:${PORT}/\"\nservice = \"web\"\n",
        );
        assert_eq!(w, Vec::<String>::new());
    }

    #[test]
    fn a_password_in_a_url_is_warned_unless_it_is_a_variable() {
        let w = warned(
            "[image]\nbase = \"debian:12\"\n[services.api]\ncommand = [\"/bin/api\", \"--db\", \"postgres://app:s3cret@db:5432/app\"]\nenv = { DATABASE_URL = \"postgres://app:s3cret@db/app\", CACHE = \"redis://:hunter2@cache:6379\", OK = \"postgres://app:${DB_PASSWORD}@db/app\", PLAIN = \"postgres://app@db/app\" }\n[checks.admin]\nhttp = \"http://admin:pw@127.0.0.1:9000/\"\n",
        );
        let keys: Vec<&str> = w.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
        assert_eq!(
            keys,
            [
                "services.api.command[2]:",
                "services.api.env.DATABASE_URL:",
                "services.api.env.CACHE:",
                "checks.admin.http:"
            ],
            "{w:?}"
        );
        assert!(w[0].contains("has a password in it"), "{w:?}");
        assert!(!w.iter().any(|l| l.contains("s3cret")), "{w:?}");
    }
}
