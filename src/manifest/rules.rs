//! The manifest rules serde cannot express: names, in-image paths, target triples, Sensu's
//! rules, exactly one check kind, at least one service, files that must exist, and the
//! characters each value's destination (shell, Dockerfile, JSON) can carry, and that files
//! copied into the image stay inside the project.
//!
//! In: whatever tables of the manifest could be read, and the manifest's directory.
//! Out: every [`Problem`], each with the key path it is about. Reads the file system only to
//! see that referenced files exist; nothing here prints.

use std::collections::BTreeMap;

use camino::Utf8Path;

use crate::diagnostic::KeyPath;
use crate::layout::{self, SENSU_PLUGIN_DIR};
use crate::manifest::{
    App, Base, Binaries, Check, Image, Init, Log, Partial, SUPPORTED_TARGETS, Service, ShippedFile,
    Targets, Task, platform_of,
};
use crate::shell;

mod hardening;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: KeyPath,
    pub message: String,
    /// The problem is the key's name itself (an invalid label key): shown at the key,
    /// not at its value.
    pub at_key: bool,
}

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: KeyPath, message: impl Into<String>) {
        self.0.push(Problem {
            path,
            message: message.into(),
            at_key: false,
        });
    }

    /// Adds a problem with the name of the key at `path` when `check` returns one.
    fn check_key(&mut self, path: KeyPath, check: Result<(), String>) {
        if let Err(message) = check {
            self.0.push(Problem {
                path,
                message,
                at_key: true,
            });
        }
    }

    /// Adds a problem when `check` returns one.
    fn check(&mut self, path: KeyPath, check: Result<(), String>) {
        if let Err(message) = check {
            self.add(path, message);
        }
    }
}

/// Checks every rule on every table that was read.
pub fn validate(m: &Partial, dir: &Utf8Path) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    let root = KeyPath::root();
    if let Some(app) = &m.app {
        validate_app(&mut p, &root.key("app"), app, dir);
    }
    if let Some(image) = &m.image {
        validate_image(&mut p, &root.key("image"), image);
    }
    if let Some(log) = &m.log {
        validate_log(&mut p, &root.key("log"), log);
    }
    if let Some(build) = &m.build {
        validate_build(&mut p, build, m.app.as_ref(), m.image.as_ref());
    }
    if m.services.is_empty() && m.all_services_read {
        p.add(
            root.key("services"),
            "at least one service is required: add a [services.NAME] table",
        );
    }
    for (name, service) in &m.services {
        validate_service(&mut p, &root.key("services"), "service", name, service);
    }
    for (name, task) in &m.tasks {
        validate_service(&mut p, &root.key("tasks"), "task", name, &task.as_service());
    }
    if let Some(image) = &m.image {
        validate_start_up(&mut p, image, &m.tasks, &m.checks);
    }
    if let (Some(app), Some(image)) = (&m.app, &m.image) {
        validate_platform_bases(&mut p, app, image);
    }
    if let (Some(app), Some(log)) = (&m.app, &m.log) {
        install_path_is_no_log_dir(&mut p, app, log, &m.services);
    }
    validate_checks(&mut p, &m.checks, &m.services, dir);
    let log_dirs: Vec<(String, String)> = match &m.log {
        Some(log) => m
            .services
            .iter()
            .filter(|(_, s)| s.log)
            .map(|(name, _)| (name.clone(), format!("{}/{name}", log.dir)))
            .collect(),
        None => Vec::new(),
    };
    for (key, entry) in &m.files {
        validate_file(&mut p, key, entry, m.app.as_ref(), dir);
        file_keeps_off(&mut p, key, &log_dirs);
    }
    validate_users(&mut p, &m.users);
    validate_run_time(&mut p, m, dir);
    if let Some(image) = &m.image {
        validate_volumes(&mut p, &image.volumes, m.app.as_ref(), &log_dirs);
        volumes_over_no_shipped_file(&mut p, &image.volumes, &m.files, dir);
    }
    p.0
}

/// What the image is at run time: `[test]`, `[sensu]`, and the hardening of `[image]`.
fn validate_run_time(p: &mut Problems, m: &Partial, dir: &Utf8Path) {
    if let Some(test) = &m.test {
        validate_test(p, test, dir);
    }
    if let Some(sensu) = &m.sensu {
        validate_sensu(p, sensu);
    }
    if let Some(image) = &m.image {
        hardening::validate(p, m, image);
    }
}

/// `[sensu]`: each format once, a namespace Sensu Go takes, one-line handler names.
fn validate_sensu(p: &mut Problems, sensu: &crate::manifest::SensuSettings) {
    let path = KeyPath::root().key("sensu");
    if sensu.format.is_empty() {
        p.add(
            path.key("format"),
            "at least one format: \"core\", \"go\", or both",
        );
    }
    for (i, format) in sensu.format.iter().enumerate() {
        if sensu.format[..i].contains(format) {
            p.add(path.key("format").index(i), "this format is listed twice");
        }
    }
    let what = "lower-case letters, digits, `_`, `.`, `-` (a Sensu Go namespace)";
    p.check(
        path.key("namespace"),
        matches_set(&sensu.namespace, what, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)
        }),
    );
    if sensu.namespace.len() > 64 {
        p.add(path.key("namespace"), "at most 64 characters");
    }
    for (i, handler) in sensu.handlers.iter().enumerate() {
        if handler.is_empty() {
            p.add(path.key("handlers").index(i), "cannot be empty");
        }
        p.check(path.key("handlers").index(i), one_line(handler));
    }
}

/// `[test]`: variable names, a project env file, a network name, project directories or
/// named volumes.
fn validate_test(p: &mut Problems, test: &crate::manifest::TestSettings, dir: &Utf8Path) {
    let path = KeyPath::root().key("test");
    for (name, value) in &test.env {
        p.check_key(path.key("env").key(name), var_name(name));
        p.check(path.key("env").key(name), no_nul(value));
    }
    if let Some(file) = &test.env_file {
        p.check(
            path.key("env-file"),
            small_project_file(dir, file, "env file"),
        );
    }
    if let Some(network) = &test.network {
        let ok = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
        let what = "letters, digits, `_`, `.`, `-` (a Docker network name)";
        let check = match network.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            true => matches_set(network, what, ok),
            false => Err("a network name starts with a letter or digit".to_string()),
        };
        p.check(path.key("network"), check);
    }
    for (i, volume) in test.volumes.iter().enumerate() {
        let check = super::volume::table_volume(volume, dir).map(|_| ());
        p.check(path.key("volumes").index(i), check);
    }
}

/// No binary can go where a service's log directory is made.
fn install_path_is_no_log_dir(
    p: &mut Problems,
    app: &App,
    log: &Log,
    services: &BTreeMap<String, Service>,
) {
    // Linear in binaries and services: a binary meets a log directory only where its path
    // meets `log.dir`; then it holds every log directory, or is inside the one its next
    // component names.
    let logged: std::collections::BTreeSet<&str> = services
        .iter()
        .filter(|(_, s)| s.log)
        .map(|(name, _)| name.as_str())
        .collect();
    let Some(first) = logged.first().copied() else {
        return;
    };
    let log_dir = |name: &str| format!("{}/{name}", log.dir);
    for (_, install_path) in app.install_paths() {
        if !layout::overlap(&install_path, &log.dir) {
            continue;
        }
        let met = match layout::below(&install_path, &log.dir) {
            Some(rest) => logged
                .get(rest.split('/').next().unwrap_or_default())
                .copied(),
            None => Some(first),
        };
        if let Some(name) = met {
            p.add(
                KeyPath::root().key("app").key("install-path"),
                format!(
                    "`{install_path}` is where the log directory of service `{name}` goes ({}): choose another path",
                    log_dir(name)
                ),
            );
        }
    }
}

/// `[build]`: an image reference and apt packages; and the container builder compiles,
/// so it takes no `prebuilt` binary.
fn validate_build(
    p: &mut Problems,
    build: &crate::manifest::BuildSettings,
    app: Option<&App>,
    image: Option<&Image>,
) {
    let base_per_platform = matches!(
        image.map(|i| &i.base),
        Some(crate::manifest::Base::PerPlatform(_))
    );
    let path = KeyPath::root().key("build");
    if let Some(image) = &build.image {
        p.check(path.key("image"), image_reference(image));
    }
    for (i, package) in build.packages.iter().enumerate() {
        p.check(path.key("packages").index(i), apt_package(package));
    }
    if let Some(cache) = &build.cache {
        p.check(path.key("cache"), cache_reference(cache));
    }
    let container = app.is_some_and(|a| a.builder == crate::manifest::Builder::Container);
    if container && app.is_some_and(|a| a.target.triples().len() > 1) && !base_per_platform {
        p.add(
            KeyPath::root().key("image").key("base"),
            "the container builder builds several platforms from a base a platform: name them, as `base = { \"linux/amd64\" = \"…\", \"linux/arm64\" = \"…\" }` (its build stage runs on the engine's platform and cross-compiles, so docker is given no --platform, and each image is of its base's platform)",
        );
    }
    if container && app.is_some_and(|a| a.prebuilt.is_some()) {
        p.add(
            KeyPath::root().key("app").key("prebuilt"),
            "the container builder compiles the app: leave out `prebuilt`, or choose another builder",
        );
    }
}

/// `[build] cache` (and `build --cache`): an image reference with a tag, which gets a
/// `-runtime` sibling tag.
pub fn cache_reference(reference: &str) -> Result<(), String> {
    image_reference(reference)?;
    let tag = reference
        .rsplit_once('/')
        .map_or(reference, |(_, last)| last);
    match tag.split_once(':') {
        Some((_, tag)) if tag.len() <= 114 => Ok(()),
        Some(_) => Err(format!(
            "the tag of {reference:?} is too long: at most 114 characters (tags such as `<tag>-arm64-runtime` go beside it)"
        )),
        None => Err(format!(
            "{reference:?} has no tag: name one, such as `{reference}:buildcache`"
        )),
    }
}

fn validate_app(p: &mut Problems, path: &KeyPath, app: &App, dir: &Utf8Path) {
    p.check(
        path.key("name"),
        repo_component(&app.name).and_then(|()| image_repository(&app.name)),
    );
    validate_binaries(p, path, app);
    validate_targets(p, path, app);
    if let Some(package) = &app.package {
        p.check(path.key("package"), cargo_name(package));
    }
    for (i, feature) in app.features.iter().enumerate() {
        p.check(
            path.key("features").index(i),
            matches_set(
                feature,
                "letters, digits, `_`, `-`, `+`, `.` and `/`",
                |c| c.is_ascii_alphanumeric() || "_-+./".contains(c),
            ),
        );
    }
    p.check(path.key("profile"), cargo_name(&app.profile));
    if let Some(prebuilt) = &app.prebuilt {
        p.check(
            path.key("prebuilt"),
            project_file(dir, prebuilt, "prebuilt binary"),
        );
    } else {
        let cargo_manifest = app.cargo_manifest.as_deref().unwrap_or("Cargo.toml");
        let key = if app.cargo_manifest.is_some() {
            path.key("cargo-manifest")
        } else {
            path.clone()
        };
        let ok = no_nul(cargo_manifest)
            .and_then(|()| crate::host::project::cargo_manifest(dir, cargo_manifest).map(|_| ()));
        p.check(key, ok);
    }
}

/// Names of bin targets, at least one, each once; `install-path` and `prebuilt` only with
/// a single binary; no install path that replaces one of the image's own.
fn validate_binaries(p: &mut Problems, path: &KeyPath, app: &App) {
    let names = app.binary.names();
    let at = |i: usize| match &app.binary {
        Binaries::One(_) => path.key("binary"),
        Binaries::Several(_) => path.key("binary").index(i),
    };
    if names.is_empty() {
        p.add(path.key("binary"), "the list needs at least one bin target");
    }
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        p.check(at(i), cargo_name(name));
        if !seen.insert(name) {
            p.add(at(i), format!("`{name}` is listed twice"));
        }
    }
    if let Binaries::Several(_) = app.binary {
        let single = [
            ("install-path", app.install_path.is_some()),
            ("prebuilt", app.prebuilt.is_some()),
        ];
        for (key, _) in single.iter().filter(|(_, set)| *set) {
            p.add(
                path.key(key),
                format!("`{key}` is for a single binary: with a list, each binary is installed at /bin/<name>"),
            );
        }
    }
    for (i, (name, install_path)) in app.install_paths().iter().enumerate() {
        let key = match app.install_path {
            Some(_) => path.key("install-path"),
            None if cargo_name(name).is_err() => continue, // reported above
            None => at(i),
        };
        p.check(
            key,
            image_path(install_path).and_then(|()| not_generated(install_path)),
        );
    }
}

/// An in-image path the manifest takes must not replace or hide one the image relies on.
fn not_generated(path: &str) -> Result<(), String> {
    match layout::collision(path) {
        Some((generated, what)) => Err(format!(
            "`{path}` would replace or hide {what} ({generated}): choose another path"
        )),
        None => Ok(()),
    }
}

/// Every target supported, at most one a platform; `prebuilt` is one target's binary.
fn validate_targets(p: &mut Problems, path: &KeyPath, app: &App) {
    let several = matches!(app.target, Targets::Several(_));
    let mut platforms: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, target) in app.target.triples().iter().enumerate() {
        let at = if several {
            path.key("target").index(i)
        } else {
            path.key("target")
        };
        if !SUPPORTED_TARGETS.contains(&target.as_str()) {
            p.add(
                at,
                format!(
                    "unsupported target `{}`: buildkit-lite builds linux/amd64 and linux/arm64 images, for one of: {}",
                    target.escape_debug(),
                    SUPPORTED_TARGETS.join(", ")
                ),
            );
            continue;
        }
        let platform = platform_of(target).unwrap_or_default();
        if let Some(first) = platforms.insert(platform, target) {
            p.add(
                at,
                format!("`{first}` and `{target}` are both {platform}: one target a platform"),
            );
        }
    }
    if several && app.target.triples().is_empty() {
        p.add(path.key("target"), "at least one target is required");
    }
    if several && app.target.triples().len() > 1 && app.prebuilt.is_some() {
        p.add(
            path.key("prebuilt"),
            "`prebuilt` is one binary for one target: with several targets, let buildkit-lite compile",
        );
    }
}

/// A base table names an image for every platform the targets make, and no other.
fn validate_platform_bases(p: &mut Problems, app: &App, image: &Image) {
    let Base::PerPlatform(table) = &image.base else {
        return;
    };
    let base = KeyPath::root().key("image").key("base");
    let platforms: Vec<(&str, &str)> = app
        .target
        .triples()
        .iter()
        .filter_map(|t| platform_of(t).map(|platform| (platform, t.as_str())))
        .collect();
    for (platform, target) in &platforms {
        if !table.contains_key(*platform) {
            p.add(
                base.clone(),
                format!("image.base has no image for {platform} (target `{target}`): add \"{platform}\" = \"<image>\""),
            );
        }
    }
    for platform in table.keys() {
        if !platforms.iter().any(|(p, _)| p == platform) {
            p.add(
                base.key(platform),
                format!("no target builds {platform}: remove it, or add its target to app.target"),
            );
        }
    }
}

fn validate_image(p: &mut Problems, path: &KeyPath, image: &Image) {
    if let Some(name) = &image.name {
        p.check(path.key("name"), image_repository(name));
    }
    for (platform, base) in image.base.images() {
        let at = match platform {
            Some(platform) => path.key("base").key(platform),
            None => path.key("base"),
        };
        p.check(at, image_reference(base));
    }
    for (i, package) in image.packages.iter().enumerate() {
        p.check(path.key("packages").index(i), apt_package(package));
    }
    if let Some(maintainer) = &image.maintainer {
        p.check(path.key("maintainer"), one_line(maintainer));
    }
    for (key, value) in &image.labels {
        let at = path.key("labels").key(key);
        p.check_key(
            at.clone(),
            matches_set(key, "letters, digits, `.`, `-`, `_` and `/`", |c| {
                c.is_ascii_alphanumeric() || "._-/".contains(c)
            }),
        );
        p.check(at, one_line(value));
    }
    for (key, value) in &image.env {
        let at = path.key("env").key(key);
        p.check_key(at.clone(), var_name(key));
        p.check(at, one_line(value));
    }
    for (i, port) in image.expose.iter().enumerate() {
        if *port == 0 {
            p.add(path.key("expose").index(i), "a port is from 1 to 65535");
        }
    }
    if image.stop_timeout == 0 {
        p.add(path.key("stop-timeout"), "must be at least 1 second");
    }
    p.check(
        path.key("stop-timeout"),
        at_most(Some(image.stop_timeout), MAX_STOP_TIMEOUT),
    );
}

fn validate_log(p: &mut Problems, path: &KeyPath, log: &Log) {
    p.check(path.key("user"), user_name(&log.user));
    p.check(
        path.key("dir"),
        image_path(&log.dir).and_then(|()| log_dir(&log.dir)),
    );
    if log.max_size.is_some_and(|s| s < 2048) {
        p.add(
            path.key("max-size"),
            "svlogd needs at least 2048 bytes per file",
        );
    }
    // svlogd reads both into an unsigned int: a larger number wraps around.
    let most = u64::from(u32::MAX);
    for (key, value) in [("keep", log.keep), ("max-size", log.max_size)] {
        if value.is_some_and(|v| v > most) {
            p.add(
                path.key(key),
                format!(
                    "svlogd takes at most {most} here (a larger number wraps around to a small one)"
                ),
            );
        }
    }
}

/// A service's or a task's name and what it runs: `what` is "service" or "task".
fn validate_service(
    p: &mut Problems,
    section: &KeyPath,
    what: &str,
    name: &str,
    service: &Service,
) {
    let path = section.key(name);
    let name_ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !name_ok {
        p.add(
            path.clone(),
            format!(
                "invalid {what} name {:?}: lower-case letters, digits, `_`, `-` and `.`, starting with a letter or digit, at most 64 characters",
                name
            ),
        );
    }
    if let Some(command) = &service.command {
        if command.is_empty() {
            p.add(path.key("command"), "must hold at least the program to run");
        }
        for (i, word) in command.iter().enumerate() {
            let at = path.key("command").index(i);
            p.check(at.clone(), no_nul(word));
            if let Err(e) = shell::parse_word(word) {
                p.add(at.clone(), e);
            }
            if i == 0 && word.is_empty() {
                p.add(at, "the program to run cannot be empty");
            }
        }
    }
    if let Some(user) = &service.user {
        p.check(path.key("user"), user_name(user));
    }
    for (key, value) in &service.env {
        let at = path.key("env").key(key);
        p.check_key(at.clone(), var_name(key));
        p.check(at, no_nul(value));
    }
    p.check(path.key("workdir"), no_nul(&service.workdir));
    if !service.workdir.starts_with('/') {
        p.add(
            path.key("workdir"),
            "must be an absolute path (start with `/`)",
        );
    }
}

/// `image.healthcheck` names a check, and tasks need buildkit-lite's init.
fn validate_start_up(
    p: &mut Problems,
    image: &Image,
    tasks: &BTreeMap<String, Task>,
    checks: &BTreeMap<String, Check>,
) {
    let image_path = KeyPath::root().key("image");
    match &image.healthcheck {
        Some(crate::manifest::Health::Check(check)) => {
            p.check(image_path.key("healthcheck"), known(check, "check", checks));
        }
        Some(crate::manifest::Health::Enabled(true)) => p.add(
            image_path.key("healthcheck"),
            "`healthcheck = true` is the default: leave it out (the services' own state), name a check, or write `false` for none",
        ),
        Some(crate::manifest::Health::Enabled(false)) | None => {}
    }

    if image.init == Init::Inherit && !tasks.is_empty() {
        p.add(
            KeyPath::root().key("tasks"),
            "start-up tasks need buildkit-lite's init: with image.init = \"inherit\" the base owns start-up (set init = \"runit\", or run the tasks from the base's own start-up)",
        );
    }
}

/// One `[files]` entry: an in-image path of the image's own and no binary's, a source
/// inside the project, a valid owner and an octal mode.
fn validate_file(
    p: &mut Problems,
    key: &str,
    entry: &ShippedFile,
    app: Option<&App>,
    dir: &Utf8Path,
) {
    let at = KeyPath::root().key("files").key(key);
    let binaries = app.map(App::install_paths).unwrap_or_default();
    let taken = binaries.iter().find(|(_, path)| layout::overlap(key, path));
    let path_ok = image_path(key)
        .and_then(|()| not_generated(key))
        .and_then(|()| match taken {
            Some((name, path)) => Err(format!(
                "`{key}` would replace or hide the binary `{name}` ({path})"
            )),
            None => Ok(()),
        });
    p.check(at.clone(), path_ok);
    let key_of = |field: &str| match entry {
        ShippedFile::Source(_) => at.clone(),
        ShippedFile::Table(_) => at.key(field),
    };
    if let Some(from) = entry.from() {
        let resolved =
            no_nul(from).and_then(|()| crate::host::project::check_tree(dir, from, "file to ship"));
        p.check(key_of("from"), resolved);
    }
    if let Some(owner) = entry.owner() {
        p.check(key_of("owner"), user_name(owner));
    }
    if let Some(file_mode) = entry.file_mode() {
        let is_dir = entry.from().is_some_and(|from| dir.join(from).is_dir());
        let ok = octal_mode(file_mode).and_then(|bits| match (bits & 0o6000, is_dir) {
            (_, false) => Err(
                "file-mode is for the files under a shipped directory: for a file, use mode"
                    .to_string(),
            ),
            (0, true) => Ok(()),
            _ if entry.allow_setid() => Ok(()),
            _ => Err(format!(
                "file-mode {file_mode:?} sets the set-user-ID or set-group-ID bit; write allow-setid = true beside it if that is meant"
            )),
        });
        p.check(key_of("file-mode"), ok);
    }
    if let Some(mode) = entry.mode() {
        let setid_ok = entry.allow_setid();
        let ok = octal_mode(mode).and_then(|bits| match bits & 0o6000 {
            0 => Ok(()),
            _ if setid_ok => Ok(()),
            _ => Err(format!(
                "mode {mode:?} sets the set-user-ID or set-group-ID bit: a program that runs as its owner whoever starts it; write allow-setid = true beside it if that is meant"
            )),
        });
        p.check(key_of("mode"), ok);
    }
}

/// `[users.NAME]`: a user name, ids from 1 to 65533, no uid twice, no group id twice.
fn validate_users(p: &mut Problems, users: &BTreeMap<String, crate::manifest::UserIds>) {
    let mut uids = BTreeMap::new();
    for (name, ids) in users {
        let at = KeyPath::root().key("users").key(name);
        p.check(at.clone(), user_name(name));
        if name == "root" {
            p.add(at.clone(), "root's ids are 0 and stay so: no [users.root]");
        }
        for (key, id) in [("uid", Some(ids.uid)), ("gid", ids.gid)] {
            if id.is_some_and(|id| !(1..=65533).contains(&id)) {
                p.add(
                    at.key(key),
                    "an id from 1 to 65533 (0 is root's; 65534 is nobody's)",
                );
            }
        }
        if let Some(other) = uids.insert(ids.uid, name) {
            p.add(
                at.key("uid"),
                format!("uid {} is user `{other}`'s already", ids.uid),
            );
        }
    }
    // Each user gets a group of its own: its gid, else its uid. Two tables may not share one.
    let mut gids: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, ids) in users {
        let gid = ids.gid.unwrap_or(ids.uid);
        if let Some(other) = gids.insert(gid, name) {
            let key = if ids.gid.is_some() { "gid" } else { "uid" };
            p.add(
                KeyPath::root().key("users").key(name).key(key),
                format!(
                    "gid {gid} is the group of user `{other}` already (a user without `gid` has a group of its uid): each user has a group of its own"
                ),
            );
        }
    }
}

/// `image.volumes`: absolute in-image paths, each once, off the image's own paths.
fn validate_volumes(
    p: &mut Problems,
    volumes: &[String],
    app: Option<&App>,
    log_dirs: &[(String, String)],
) {
    let binaries = app.map(App::install_paths).unwrap_or_default();
    for (i, volume) in volumes.iter().enumerate() {
        let at = KeyPath::root().key("image").key("volumes").index(i);
        let ok = image_path(volume).and_then(|()| not_generated(volume));
        let ok =
            ok.and_then(
                |()| match binaries.iter().find(|(_, b)| layout::overlap(volume, b)) {
                    Some((name, path)) => Err(format!(
                        "`{volume}` would hide the binary `{name}` ({path})"
                    )),
                    None => Ok(()),
                },
            );
        p.check(at.clone(), ok);
        if volumes[..i].contains(volume) {
            p.add(at.clone(), format!("`{volume}` is listed twice"));
        }
        file_keeps_off_at(p, at, volume, log_dirs);
    }
}

/// No volume is mounted on a file `[files]` ships, nor below one: docker cannot mount a
/// volume over a file (`cannot mount volume over existing file`). A volume over a shipped
/// directory is fine (docker fills a new volume from it).
fn volumes_over_no_shipped_file(
    p: &mut Problems,
    volumes: &[String],
    files: &BTreeMap<String, crate::manifest::ShippedFile>,
    dir: &Utf8Path,
) {
    let shipped_files: Vec<&String> = files
        .iter()
        .filter(|(_, entry)| entry.from().is_some_and(|from| dir.join(from).is_file()))
        .map(|(path, _)| path)
        .collect();
    for (i, volume) in volumes.iter().enumerate() {
        let over = shipped_files.iter().find(|file| {
            volume == **file || volume.starts_with(&format!("{}/", file.trim_end_matches('/')))
        });
        if let Some(file) = over {
            p.add(
                KeyPath::root().key("image").key("volumes").index(i),
                format!(
                    "`{volume}` would mount a volume over the file `{file}` that [files] ships (docker cannot mount a volume over a file): make the volume its directory, or ship the file elsewhere"
                ),
            );
        }
    }
}

/// A `[files]` path takes no service's log directory, nothing of the kernel's file systems
/// and not the user database.
fn file_keeps_off(p: &mut Problems, key: &str, log_dirs: &[(String, String)]) {
    let at = KeyPath::root().key("files").key(key);
    if let Some(dir) = layout::base_dir(key) {
        p.add(
            at.clone(),
            format!(
                "`{dir}` is one of the base's own directories: shipping it would set its owner and mode (through a link such as /lib, those of /usr/lib); ship into a directory of your own"
            ),
        );
    }
    file_keeps_off_at(p, at, key, log_dirs);
}

/// [`file_keeps_off`] for the in-image path `key`, reported `at`.
fn file_keeps_off_at(p: &mut Problems, at: KeyPath, key: &str, log_dirs: &[(String, String)]) {
    if let Some((taken, what)) = layout::no_files(key) {
        p.add(
            at,
            format!("`{key}` would replace or hide {taken} ({what}): ship files elsewhere"),
        );
    } else if let Some((service, dir)) = log_dirs.iter().find(|(_, d)| layout::overlap(key, d)) {
        p.add(
            at,
            format!(
                "`{key}` would replace or hide the log directory of service `{service}` ({dir}): choose another path"
            ),
        );
    }
}

/// The largest number of seconds (and of occurrences) a check takes: a year. Docker's
/// HEALTHCHECK durations and Sensu's schedule overflow long before `u64::MAX`.
const MAX_SECONDS: u64 = 365 * 24 * 3600;
/// The longest stop-timeout: a day (`docker stop -t` and the init's grace are 32-bit).
const MAX_STOP_TIMEOUT: u64 = 24 * 3600;

fn at_most(value: Option<u64>, max: u64) -> Result<(), String> {
    match value {
        Some(v) if v > max => Err(format!("{v} is too large: at most {max}")),
        _ => Ok(()),
    }
}

/// An octal mode written as a string: `"0640"`, `"755"`.
pub fn octal_mode(mode: &str) -> Result<u32, String> {
    let digits_ok = (3..=4).contains(&mode.len()) && mode.chars().all(|c| ('0'..='7').contains(&c));
    match digits_ok.then(|| u32::from_str_radix(mode, 8)) {
        Some(Ok(bits)) => Ok(bits),
        _ => Err(format!(
            "invalid mode {mode:?}: an octal mode such as \"0644\" or \"0750\""
        )),
    }
}

/// Every check, and that no two install the same plugin file.
fn validate_checks(
    p: &mut Problems,
    checks: &BTreeMap<String, Check>,
    services: &BTreeMap<String, Service>,
    dir: &Utf8Path,
) {
    let mut installed: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (name, check) in checks {
        let path = KeyPath::root().key("checks").key(name);
        validate_check(p, &path, name, check, dir);
        if let Some(service) = &check.service {
            p.check(path.key("service"), known(service, "service", services));
        }
        for (file, what) in check.installed_files(name) {
            if let Some((other, its)) = installed.insert(file.clone(), (name, what)) {
                p.add(
                    path.clone(),
                    format!(
                        "its {what} {SENSU_PLUGIN_DIR}/{file} is also the {its} of check `{other}`: rename one of them"
                    ),
                );
            }
        }
    }
}

/// One check: its name, what it runs, when, and where its results go.
fn validate_check(p: &mut Problems, path: &KeyPath, name: &str, check: &Check, dir: &Utf8Path) {
    check_name(p, path, name);
    check_kind(p, path, check, dir);
    check_schedule(p, path, check);
    check_routing(p, path, check);
}

/// Sensu's rule for check names.
fn check_name(p: &mut Problems, path: &KeyPath, name: &str) {
    let name_ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !name_ok {
        p.add(
            path.clone(),
            format!("invalid check name {name:?}: Sensu allows letters, digits, `_`, `.` and `-` (and not `.` or `..`)"),
        );
    }
}

/// Exactly one of `http`, `command`, `script`, each valid, and `args` only with `script`.
/// `tls-verify = false` and `ca` go with an `https` URL, and not together; `ca` is a
/// project file.
fn check_tls(p: &mut Problems, path: &KeyPath, check: &Check, dir: &Utf8Path) {
    let https = check
        .http
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let wants_tls = [
        ("tls-verify", !check.tls_verify),
        ("ca", check.ca.is_some()),
    ];
    for (key, _) in wants_tls.iter().filter(|(_, set)| *set && !https) {
        p.add(
            path.key(key),
            format!("`{key}` is for an http check of an https:// URL"),
        );
    }
    if let Some(ca) = &check.ca {
        if !check.tls_verify {
            p.add(
                path.key("ca"),
                "`ca` verifies the certificate and tls-verify = false accepts any: set one",
            );
        }
        p.check(
            path.key("ca"),
            small_project_file(dir, ca, "CA certificate"),
        );
    }
}

fn check_kind(p: &mut Problems, path: &KeyPath, check: &Check, dir: &Utf8Path) {
    let kinds = check.kinds_set();
    match kinds.len() {
        0 => p.add(
            path.clone(),
            "needs exactly one of `http`, `command` or `script`",
        ),
        1 => {}
        _ => p.add(
            path.key(kinds[1]),
            format!(
                "`{}` and `{}` both set: a check has exactly one of `http`, `command` or `script`",
                kinds[0], kinds[1]
            ),
        ),
    }
    if let Some(url) = &check.http {
        p.check(path.key("http"), http_url(url));
        p.check(path.key("http"), shell::parse_word(url).map(|_| ()));
        p.check(path.key("http"), url_port(url));
    }
    if let Some(command) = &check.command {
        p.check(path.key("command"), no_nul(command));
        if command.trim().is_empty() {
            p.add(path.key("command"), "cannot be empty");
        }
    }
    if let Some(script) = &check.script {
        p.check(
            path.key("script"),
            small_project_file(dir, script, "check script"),
        );
    }
    check_tls(p, path, check, dir);
    if let Some(args) = &check.args {
        if check.script.is_none() {
            p.add(
                path.key("args"),
                "`args` goes with `script` only (write a `command` line instead)",
            );
        }
        for (i, arg) in args.iter().enumerate() {
            p.check(path.key("args").index(i), no_nul(arg));
        }
    }
}

fn http_url(url: &str) -> Result<(), String> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        return Ok(());
    }
    Err("must be an http:// or https:// URL with no spaces or control characters".into())
}

/// The port written in a URL, when there is one and it is not read from `${NAME}`.
pub fn literal_port(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (_, port) = host_port.rsplit_once(':')?;
    (!port.contains(['$', ']']) && !port.is_empty()).then_some(port)
}

/// A literal port in a URL is 1–65535 (one from `${NAME}` is read when the check runs).
fn url_port(url: &str) -> Result<(), String> {
    let Some(port) = literal_port(url) else {
        return Ok(());
    };
    match port.parse::<u32>() {
        Ok(1..=65535) => Ok(()),
        _ => Err(format!("the port `{port}` is not a port from 1 to 65535")),
    }
}

/// `name` is a key of `table`, the manifest's `what`s (service, check). A lookup: the
/// list of names is made only for the message.
fn known<V>(name: &str, what: &str, table: &BTreeMap<String, V>) -> Result<(), String> {
    if table.contains_key(name) {
        return Ok(());
    }
    let names: Vec<&str> = table.keys().map(String::as_str).collect();
    let names = names.as_slice();
    let mut msg = format!("no {what} `{name}`");
    if let Some(close) = crate::diagnostic::suggest::did_you_mean(name, names) {
        msg.push_str(&format!(", did you mean `{close}`?"));
    }
    match names {
        [] => msg.push_str(&format!(" (the manifest has no [{what}s.NAME] table)")),
        _ => msg.push_str(&format!(" (the {what}s: {})", names.join(", "))),
    }
    Err(msg)
}

/// `interval`, `timeout`, `occurrences`, `refresh` at least 1; `ttl` above `interval`.
fn check_schedule(p: &mut Problems, path: &KeyPath, check: &Check) {
    let positive = [
        ("interval", Some(check.interval)),
        ("timeout", check.timeout),
        ("occurrences", check.occurrences),
        ("refresh", check.refresh),
    ];
    for (key, value) in positive {
        if value == Some(0) {
            p.add(path.key(key), "must be at least 1");
        }
    }
    let seconds = [
        ("interval", Some(check.interval)),
        ("timeout", check.timeout),
        ("ttl", check.ttl),
        ("refresh", check.refresh),
        ("occurrences", check.occurrences),
    ];
    for (key, value) in seconds {
        p.check(path.key(key), at_most(value, MAX_SECONDS));
    }
    if let Some(ttl) = check.ttl
        && ttl <= check.interval
    {
        p.add(
            path.key("ttl"),
            format!(
                "ttl ({ttl}) must be greater than interval ({})",
                check.interval
            ),
        );
    }
}

/// Subscribers (required when not standalone) and handlers: non-empty, one-line names.
fn check_routing(p: &mut Problems, path: &KeyPath, check: &Check) {
    if !check.standalone && check.subscribers.is_empty() {
        p.add(
            path.key("subscribers"),
            "a check with `standalone = false` needs at least one subscriber",
        );
    }
    let lists = [
        ("subscribers", Some(&check.subscribers)),
        ("handlers", check.handlers.as_ref()),
    ];
    for (key, list) in lists {
        for (i, item) in list.into_iter().flatten().enumerate() {
            if item.is_empty() {
                p.add(path.key(key).index(i), "cannot be empty");
            }
            p.check(path.key(key).index(i), one_line(item));
        }
    }
}

// ---- single-value rules, each returning the message for the user ----

fn no_nul(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err("contains a NUL character, which no program argument or file can carry".into());
    }
    Ok(())
}

/// For values that land on one Dockerfile line (labels, ENV, maintainer) or in Sensu fields.
fn one_line(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "contains the control character {:?}, which a Dockerfile line cannot carry",
            c
        )),
        None => Ok(()),
    }
}

fn matches_set(s: &str, what: &str, ok: impl Fn(char) -> bool) -> Result<(), String> {
    if s.is_empty() || !s.chars().all(ok) {
        return Err(format!("invalid value {:?}: use only {what}", s));
    }
    Ok(())
}

/// The rule of a cargo name (a bin target, a package): what `app.binary` takes.
pub fn cargo_name(s: &str) -> Result<(), String> {
    matches_set(s, "letters, digits, `_` and `-`", |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    })
}

fn var_name(s: &str) -> Result<(), String> {
    if shell::is_var_name(s) {
        return Ok(());
    }
    Err(format!(
        "invalid variable name {:?}: letters, digits and `_`, not starting with a digit",
        s
    ))
}

/// Groups of a Debian base that have no user of the same name: a user created under one
/// of these names would join a group with special rights (`shadow` reads /etc/shadow,
/// `disk` the raw disks, …), so they are refused. (On other bases the image's `groupadd`
/// refuses any group that already exists: a new user never joins one.)
const SYSTEM_GROUPS: &[&str] = &[
    "adm",
    "audio",
    "cdrom",
    "dialout",
    "dip",
    "disk",
    "docker",
    "fax",
    "floppy",
    "input",
    "kmem",
    "kvm",
    "netdev",
    "nogroup",
    "operator",
    "plugdev",
    "render",
    "sasl",
    "sgx",
    "shadow",
    "src",
    "staff",
    "sudo",
    "systemd-journal",
    "tape",
    "tty",
    "users",
    "utmp",
    "video",
    "voice",
    "wheel",
];

/// A user name `useradd` accepts on Debian (and `chpst -u` can use), and not the name of a
/// privileged system group.
fn user_name(s: &str) -> Result<(), String> {
    if SYSTEM_GROUPS.contains(&s) {
        return Err(format!(
            "`{s}` is a system group of the base image: a user of that name would be created in it and get its rights; choose another name"
        ));
    }
    let ok = s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        return Ok(());
    }
    Err(format!(
        "invalid user name {:?}: lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters",
        s
    ))
}

/// `log.dir`: not a system directory, where a service's log directory could replace one of
/// the base's own files (a service `passwd` logging into `/etc`).
fn log_dir(dir: &str) -> Result<(), String> {
    match layout::system_dir(dir) {
        Some(system) => Err(format!(
            "`{dir}` is in the system directory {system}, where a service's log directory could replace a file of the base: use /var/log (the default) or a data directory"
        )),
        None => Ok(()),
    }
}

/// An absolute in-image path that can stand unquoted in a Dockerfile: `/`-separated
/// components of letters, digits, `.`, `_`, `-`, `+`, `@`, with no `.` or `..` component.
fn image_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!(
            "{:?} is not an absolute path (start it with `/`)",
            s
        ));
    }
    if s == "/" {
        return Err("cannot be `/` itself".into());
    }
    for component in s[1..].split('/') {
        let ok = !component.is_empty()
            && component != "."
            && component != ".."
            && component
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+@".contains(c));
        if !ok {
            return Err(format!(
                "invalid in-image path {:?}: components of letters, digits, `.`, `_`, `-`, `+`, `@`, with no empty, `.` or `..` component",
                s
            ));
        }
    }
    Ok(())
}

/// A file copied into the image: a regular file inside the project (see `project.rs`).
fn project_file(dir: &Utf8Path, rel: &str, what: &str) -> Result<(), String> {
    no_nul(rel)?;
    crate::host::project::resolve(dir, rel, what).map(|_| ())
}

/// The most a CA bundle or a check script may hold: they are kilobytes, and a larger one
/// is a mistake (or an attempt to make the tool hold gigabytes).
pub const SMALL_FILE_MAX: u64 = 1 << 20;

/// [`project_file`], of at most [`SMALL_FILE_MAX`] bytes.
fn small_project_file(dir: &Utf8Path, rel: &str, what: &str) -> Result<(), String> {
    no_nul(rel)?;
    let real = crate::host::project::resolve(dir, rel, what)?;
    let len = std::fs::metadata(&real).map_or(0, |m| m.len());
    if len > SMALL_FILE_MAX {
        return Err(format!(
            "{what} `{rel}` is {len} bytes: at most 1 MiB ({SMALL_FILE_MAX} bytes); a {what} is kilobytes"
        ));
    }
    Ok(())
}

fn is_component(s: &str) -> bool {
    // Docker: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let mut prev_alnum = false;
    let mut run = String::new();
    for c in s.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if !prev_alnum && !run.is_empty() {
                let ok = run == "." || run == "_" || run == "__" || run.chars().all(|r| r == '-');
                if !ok {
                    return false;
                }
            }
            run.clear();
            prev_alnum = true;
        } else if ".-_".contains(c) {
            if run.is_empty() && !prev_alnum {
                return false;
            }
            run.push(c);
            prev_alnum = false;
        } else {
            return false;
        }
    }
    prev_alnum
}

/// `app.name`: one repository path component with single separators, as the spec says.
fn repo_component(s: &str) -> Result<(), String> {
    // is_component already requires letters or digits at both ends.
    let ok = is_component(s) && !s.contains("__") && !s.contains("--");
    if ok {
        return Ok(());
    }
    Err(format!(
        "invalid name {:?}: lower-case letters and digits, with single `.`, `_` or `-` between them (it is the default image name)",
        s
    ))
}

/// Docker's limit on a repository name, counted as the engine counts it: with the
/// `docker.io/` (and `library/`) it adds to a name without a registry.
const REPOSITORY_MAX: usize = 255;

/// `image.name`: `[host[:port]/]path/component`, no tag, in Docker's reference grammar
/// (a host of dot-separated labels, each letters, digits and inner `-`), and at most
/// [`REPOSITORY_MAX`] characters once the engine has named its registry.
fn image_repository(s: &str) -> Result<(), String> {
    let err = || {
        Err(format!(
            "invalid image repository {:?}: [registry[:port]/]path with lower-case components (the tag comes from `build TAG`)",
            s
        ))
    };
    let mut parts: Vec<&str> = s.split('/').collect();
    let mut host = None;
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            let (name, port) = first.split_once(':').unwrap_or((first, "1"));
            let port_ok =
                !port.is_empty() && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit());
            if !host_name(name) || !port_ok {
                return err();
            }
            host = Some(first);
            parts.remove(0);
        }
    }
    if !parts.iter().all(|c| is_component(c)) {
        return err();
    }
    let engine_prefix = match (host, parts.len()) {
        (Some(_), _) => "",
        (None, 1) => "docker.io/library/",
        (None, _) => "docker.io/",
    };
    let length = engine_prefix.len() + s.len();
    if length > REPOSITORY_MAX {
        return Err(format!(
            "image repository {:?} is too long: Docker allows {REPOSITORY_MAX} characters, and this one has {length} as the engine names it ({engine_prefix}…)",
            s.chars().take(40).collect::<String>() + "…"
        ));
    }
    Ok(())
}

/// A registry host name: labels of letters, digits and inner `-`, separated by single dots.
fn host_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `image.base`: a repository with an optional `:tag` and `@sha256:…` digest.
fn image_reference(s: &str) -> Result<(), String> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (rest, None),
    };
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    });
    let digest_ok = digest.is_none_or(|d| {
        d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg.chars().all(|c| c.is_ascii_alphanumeric())
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
    });
    if tag_ok && digest_ok && image_repository(repo).is_ok() {
        return Ok(());
    }
    Err(format!(
        "invalid base image {:?}: expected REPOSITORY[:TAG][@DIGEST], such as debian:bookworm-slim",
        s
    ))
}

/// A Debian package name, optionally `=version`.
fn apt_package(s: &str) -> Result<(), String> {
    let (name, version) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (s, None),
    };
    let name_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let version_ok = version.is_none_or(|v| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
    });
    if name_ok && version_ok {
        return Ok(());
    }
    Err(format!(
        "invalid apt package {:?}: a Debian package name, optionally NAME=VERSION",
        s
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert!(image_repository("registry.example.com:5000/acme/app").is_ok());
        assert!(image_repository("acme/healthcheck-app").is_ok());
        assert!(image_repository("Acme/app").is_err());
        assert!(image_repository("a..b/c").is_err());
        assert!(image_repository("-a.b/c").is_err());
        assert!(image_repository("localhost:5000/c").is_ok());
        assert!(image_repository(&"a".repeat(237)).is_ok());
        let too_long = image_repository(&"a".repeat(238)).unwrap_err();
        assert!(too_long.contains("too long"), "{too_long}");
        assert!(image_repository(&format!("r.io/{}", "a".repeat(250))).is_ok());
        assert!(image_repository("app:v1").is_err());
        assert!(image_reference("debian:bookworm-slim").is_ok());
        assert!(image_reference("localhost:5000/x/y:1.0").is_ok());
        assert!(image_reference("debian:bookworm slim").is_err());
        assert!(repo_component("healthcheck-app").is_ok());
        assert!(repo_component("a__b").is_err());
        assert!(repo_component("-a").is_err());
    }

    #[test]
    fn paths_and_names() {
        assert!(image_path("/bin/app").is_ok());
        assert!(image_path("bin/app").is_err());
        assert!(image_path("/bin/../etc").is_err());
        assert!(image_path("/bin/a b").is_err());
        assert!(user_name("syslog").is_ok());
        assert!(user_name("Root").is_err());
        assert!(apt_package("ca-certificates").is_ok());
        assert!(apt_package("curl=7.88.1-10+deb12u5").is_ok());
        assert!(apt_package("curl; rm -rf /").is_err());
    }
}
