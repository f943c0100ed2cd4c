//! The manifest: the types of `service.toml` exactly as the user writes them, and loading.
//!
//! In: the path of a manifest. Out: a [`Manifest`] (every key the user wrote, spec defaults
//! for simple values, `Option` where the default depends on other keys), or
//! [`Error::Invalid`] carrying *every* problem found, each with its line, column and key path.
//!
//! Loading has two passes so that one run reports all problems:
//! 1. structure: the document is parsed once with spans, then each table (`[app]`, `[image]`,
//!    `[log]`, each `[services.X]`, each `[checks.X]`) is deserialized on its own, so an
//!    unknown key in one table does not hide a wrong type in another;
//! 2. meaning: the rules serde cannot express (names, paths, Sensu's rules, files that must
//!    exist) live in `validate.rs`.
//!
//! The same types generate `schema/service.schema.json` (see `schema.rs`), so the editor and
//! the command line agree on what a manifest is. Nothing here prints.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, KeyPath, SourceMap};
use crate::error::Error;
use crate::validate;

/// A `service.toml`: the app to build, the image to make, its services and its checks.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "buildkit-lite service.toml")]
pub struct Manifest {
    /// The application binary to compile (or take prebuilt) and install in the image.
    pub app: App,
    /// The image: base, init system, packages, labels, environment, ports.
    #[serde(default)]
    pub image: Image,
    /// The log services: one svlogd per service, run as `log.user`.
    #[serde(default)]
    pub log: Log,
    /// The services runit supervises, by name (at least one). A name is lower-case letters,
    /// digits, `_`, `-`, `.`, starts with a letter or digit, and has at most 64 characters.
    #[schemars(extend("minProperties" = 1, "propertyNames" = {"pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"}))]
    pub services: BTreeMap<String, Service>,
    /// Sensu (Core 1.x) checks, by check name (Sensu's rule: `^[A-Za-z0-9_.-]+$`).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[A-Za-z0-9_.-]+$"}))]
    pub checks: BTreeMap<String, Check>,
}

/// `[app]`: what to compile and where it goes in the image.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct App {
    /// The application's name and the default image name: lower-case letters and digits,
    /// with single `.`, `_` or `-` between them.
    #[schemars(regex(pattern = r"^[a-z0-9]+([._-][a-z0-9]+)*$"))]
    pub name: String,
    /// The cargo binary target to build, and the binary's file name in the image.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub binary: String,
    /// The Rust target triple to compile for (linux/amd64).
    #[schemars(extend("enum" = ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"]))]
    pub target: String,
    /// The cargo package that holds the binary (`cargo build -p`).
    pub package: Option<String>,
    /// Cargo features to enable (`cargo build --features`).
    #[serde(default)]
    pub features: Vec<String>,
    /// The cargo profile to build with (`cargo build --profile`).
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Path of the Cargo.toml to build, relative to the directory of service.toml.
    /// Default: the Cargo.toml next to service.toml.
    pub cargo_manifest: Option<String>,
    /// How the binary is compiled: `auto` picks `cargo` when the host can link for the
    /// target, else `cross` when it and a container engine are present, else `zigbuild`.
    #[serde(default)]
    pub builder: Builder,
    /// Stage this file (relative to service.toml) instead of compiling anything. It must be
    /// an ELF executable for the target's architecture.
    pub prebuilt: Option<String>,
    /// Absolute path of the binary in the image. Default: `/bin/<binary>`.
    #[schemars(regex(pattern = r"^(/[A-Za-z0-9._+@-]+)+$"))]
    pub install_path: Option<String>,
}

/// How the binary is compiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Builder {
    /// `cargo` when the host can link for the target, else `cross`, else `zigbuild`.
    #[default]
    Auto,
    /// `cargo build --target <triple>` on the host.
    Cargo,
    /// The `cross` tool, which builds in a container.
    Cross,
    /// `cargo zigbuild`, which links with zig and needs no container.
    Zigbuild,
}

impl Builder {
    /// The name as the manifest writes it.
    pub fn name(self) -> &'static str {
        match self {
            Builder::Auto => "auto",
            Builder::Cargo => "cargo",
            Builder::Cross => "cross",
            Builder::Zigbuild => "zigbuild",
        }
    }
}

/// `[image]`: the image around the binary.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Image {
    /// Image repository, which may include a registry and namespace. Default: `app.name`.
    pub name: Option<String>,
    /// The `FROM` image; v1 assumes an apt-based (Debian-like) base.
    #[serde(default = "default_base")]
    pub base: String,
    /// `runit`: the image's entrypoint is buildkit-lite's runit supervisor (graceful stop,
    /// reaps orphans). `inherit`: the base already runs runit on /etc/service; no CMD or
    /// ENTRYPOINT is set.
    #[serde(default)]
    pub init: Init,
    /// Extra apt packages, installed in one layer with `--no-install-recommends`.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Becomes the `org.opencontainers.image.authors` label.
    pub maintainer: Option<String>,
    /// Image labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Image-wide environment (`ENV`); every service sees it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Ports to `EXPOSE`.
    #[serde(default)]
    #[schemars(inner(range(min = 1, max = 65535)))]
    pub expose: Vec<u16>,
    /// Seconds a graceful stop may take: services get SIGTERM and, after this many seconds
    /// less one, SIGKILL. Match it with `docker stop -t` / `docker run --stop-timeout` when
    /// it is above Docker's default of 10.
    #[serde(default = "default_stop_timeout")]
    #[schemars(range(min = 1))]
    pub stop_timeout: u64,
}

/// The image's init system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// buildkit-lite's entrypoint runs runsvdir on /etc/service and stops services gracefully.
    #[default]
    Runit,
    /// The base image already starts runit on /etc/service; the Dockerfile sets no CMD or
    /// ENTRYPOINT.
    Inherit,
}

/// `[log]`: the svlogd log services.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Log {
    /// The user every log service runs as; created in the image when missing.
    #[serde(default = "default_log_user")]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub user: String,
    /// Absolute directory; service S logs into `<dir>/S` (mode 0700, owned by the log user).
    #[serde(default = "default_log_dir")]
    #[schemars(regex(pattern = r"^(/[A-Za-z0-9._+@-]+)+$"))]
    pub dir: String,
    /// Bytes per log file before svlogd rotates it (svlogd `s`).
    #[schemars(range(min = 2048))]
    pub max_size: Option<u64>,
    /// Rotated files svlogd keeps (svlogd `n`; 0 keeps all).
    pub keep: Option<u64>,
}

/// `[services.NAME]`: one process supervised by runit.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Service {
    /// The argv to exec. Words are literal except `${NAME}`, replaced at run time by that
    /// environment variable; `$${` is a literal `${`. Default: `[app.install-path]`.
    #[schemars(length(min = 1))]
    pub command: Option<Vec<String>>,
    /// Run as this user (created in the image when missing). Default: root.
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub user: Option<String>,
    /// Default environment values; the container's own environment wins.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}))]
    pub env: BTreeMap<String, String>,
    /// Absolute working directory.
    #[serde(default = "default_workdir")]
    pub workdir: String,
    /// `false`: no log service; the output goes to the container's stdout.
    #[serde(default = "default_true")]
    pub log: bool,
}

/// `[checks.NAME]`: a Sensu check. Exactly one of `http`, `command`, `script`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(extend("oneOf" = [{"required": ["http"]}, {"required": ["command"]}, {"required": ["script"]}]))]
pub struct Check {
    /// URL a rendered plugin requests: OK on 2xx, WARNING on another answer, CRITICAL when
    /// nothing answers.
    #[schemars(regex(pattern = r"^https?://\S+$"))]
    pub http: Option<String>,
    /// A command line Sensu runs as written.
    pub command: Option<String>,
    /// A local script (relative to service.toml) installed into /etc/sensu/plugins/.
    pub script: Option<String>,
    /// Arguments appended to `script`'s command, each quoted.
    pub args: Option<Vec<String>>,
    /// Seconds between runs.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 1))]
    pub interval: u64,
    /// Sensu subscriptions; required when `standalone = false`.
    #[serde(default)]
    pub subscribers: Vec<String>,
    /// Scheduled by the client itself rather than the server.
    #[serde(default = "default_true")]
    pub standalone: bool,
    /// Seconds before Sensu kills the check.
    #[schemars(range(min = 1))]
    pub timeout: Option<u64>,
    /// Seconds without a result before Sensu raises an event; greater than `interval`.
    #[schemars(range(min = 2))]
    pub ttl: Option<u64>,
    /// Sensu handlers for the check's events.
    pub handlers: Option<Vec<String>>,
    /// Occurrences before the occurrences filter lets an event through.
    #[schemars(range(min = 1))]
    pub occurrences: Option<u64>,
    /// Seconds between repeated events (occurrences filter).
    #[schemars(range(min = 1))]
    pub refresh: Option<u64>,
}

fn default_profile() -> String {
    "release".into()
}
fn default_base() -> String {
    "debian:bookworm-slim".into()
}
fn default_stop_timeout() -> u64 {
    10
}
fn default_log_user() -> String {
    "syslog".into()
}
fn default_log_dir() -> String {
    "/var/log".into()
}
fn default_workdir() -> String {
    "/".into()
}
fn default_interval() -> u64 {
    60
}
fn default_true() -> bool {
    true
}

impl Default for Image {
    fn default() -> Self {
        Image {
            name: None,
            base: default_base(),
            init: Init::default(),
            packages: Vec::new(),
            maintainer: None,
            labels: BTreeMap::new(),
            env: BTreeMap::new(),
            expose: Vec::new(),
            stop_timeout: default_stop_timeout(),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            user: default_log_user(),
            dir: default_log_dir(),
            max_size: None,
            keep: None,
        }
    }
}

/// The top-level tables, in the order the spec lists them.
const TABLES: &[&str] = &["app", "image", "log", "services", "checks"];

/// A manifest that loaded and validated, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// The manifest file as given.
    pub path: Utf8PathBuf,
    /// The directory relative paths in the manifest are resolved against.
    pub dir: Utf8PathBuf,
}

/// Reads, parses and validates the manifest at `path`.
pub fn load(path: &Utf8Path) -> Result<Loaded, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Invalid {
        path: path.to_owned(),
        diagnostics: vec![Diagnostic::at_offset(
            &SourceMap::new(""),
            e.utf8_error().valid_up_to(),
            KeyPath::root(),
            "the file is not valid UTF-8".into(),
        )],
    })?;
    let dir = manifest_dir(path);
    let (manifest, diagnostics) = parse(&text, &dir);
    match manifest {
        Some(manifest) if diagnostics.is_empty() => Ok(Loaded {
            manifest,
            path: path.to_owned(),
            dir,
        }),
        _ => Err(Error::Invalid {
            path: path.to_owned(),
            diagnostics,
        }),
    }
}

/// The directory that holds the manifest (`.` for a bare file name).
pub fn manifest_dir(path: &Utf8Path) -> Utf8PathBuf {
    match path.parent() {
        Some(p) if !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    }
}

/// Parses and validates manifest text; relative file paths are checked against `dir`.
/// Returns the manifest when it is valid, and every problem found.
pub fn parse(text: &str, dir: &Utf8Path) -> (Option<Manifest>, Vec<Diagnostic>) {
    let map = SourceMap::new(text);
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => return (None, vec![Diagnostic::from_toml(&map, None, &e)]),
    };
    let root = root.get_ref();
    let mut diags = Vec::new();
    let partial = structure(&map, root, &mut diags);
    for problem in validate::validate(&partial, dir) {
        diags.push(Diagnostic::at_path(
            &map,
            root,
            problem.path,
            problem.message,
        ));
    }
    diags.sort_by_key(|d| (d.line, d.column));
    diags.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.message == b.message);
    let manifest = if diags.is_empty() {
        partial.into_manifest()
    } else {
        None
    };
    (manifest, diags)
}

/// What pass 1 could read: every table that deserialized. Validation runs on all of it, so
/// a broken `[services.a]` does not hide a wrong `ttl` in `[checks.b]`.
#[derive(Debug, Default)]
pub struct Partial {
    pub app: Option<App>,
    pub image: Option<Image>,
    pub log: Option<Log>,
    pub services: BTreeMap<String, Service>,
    pub checks: BTreeMap<String, Check>,
    /// False when some `[services.X]` could not be read (so "no service" is not reported).
    pub all_services_read: bool,
}

impl Partial {
    fn into_manifest(self) -> Option<Manifest> {
        Some(Manifest {
            app: self.app?,
            image: self.image?,
            log: self.log?,
            services: self.services,
            checks: self.checks,
        })
    }
}

/// Pass 1: deserializes each table on its own, collecting every structural problem.
fn structure(map: &SourceMap, root: &DeTable<'_>, diags: &mut Vec<Diagnostic>) -> Partial {
    let mut partial = Partial {
        image: Some(Image::default()),
        log: Some(Log::default()),
        all_services_read: true,
        ..Partial::default()
    };
    let mut have_app = false;
    for (key, value) in root.iter() {
        let name: &str = key.get_ref();
        let path = KeyPath::root().key(name);
        if !TABLES.contains(&name) {
            let msg = unknown_key_message(name, TABLES);
            diags.push(Diagnostic::at_span(map, key.span(), path, msg));
            continue;
        }
        if !value.get_ref().is_table() {
            let msg = format!("expected a table, found {}", value.get_ref().type_str());
            diags.push(Diagnostic::at_span(map, value.span(), path, msg));
            if name == "app" {
                have_app = true;
            }
            if name == "services" {
                partial.all_services_read = false;
            }
            continue;
        }
        match name {
            "app" => {
                have_app = true;
                partial.app = de_value(map, root, value, diags);
            }
            "image" => partial.image = de_value(map, root, value, diags),
            "log" => partial.log = de_value(map, root, value, diags),
            "services" => {
                let (entries, all) = de_entries(map, root, value, diags);
                partial.services = entries;
                partial.all_services_read = all;
            }
            _ => partial.checks = de_entries(map, root, value, diags).0,
        }
    }
    if !have_app {
        let msg = "missing table [app] (with name, binary and target)".to_string();
        diags.push(Diagnostic::at_offset(
            map,
            0,
            KeyPath::root().key("app"),
            msg,
        ));
    }
    partial
}

/// Deserializes one table, turning each serde error into a positioned diagnostic.
///
/// Serde stops at the first problem, so after each one the offending key is taken out of a
/// copy of the table and the rest is read again: every unknown key and wrong type in the
/// table is reported, and what remains is still validated. Gives up (returns `None`) when
/// the problem is not one key's (a missing required key).
fn de_value<T: serde::de::DeserializeOwned>(
    map: &SourceMap,
    root: &DeTable<'_>,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let mut value = value.clone();
    loop {
        let de = toml::de::ValueDeserializer::from(value.clone());
        let err = match T::deserialize(de) {
            Ok(v) => return Some(v),
            Err(err) => err,
        };
        diags.push(Diagnostic::from_toml(map, Some(root), &err));
        let offset = err.span().map(|s| s.start)?;
        let culprit = crate::diagnostic::key_at(&value, offset)?;
        let DeValue::Table(table) = value.get_mut() else {
            return None;
        };
        let before = table.len();
        for (k, v) in std::mem::take(table) {
            if k.get_ref() != culprit.as_str() {
                table.insert(k, v);
            }
        }
        if table.len() == before {
            return None;
        }
    }
}

/// Deserializes each entry of a table of named tables (`[services.X]`, `[checks.X]`) on its
/// own. Returns the entries that were read, and whether all were.
fn de_entries<T: serde::de::DeserializeOwned>(
    map: &SourceMap,
    root: &DeTable<'_>,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> (BTreeMap<String, T>, bool) {
    let mut out = BTreeMap::new();
    let mut all = true;
    let Some(table) = value.get_ref().as_table() else {
        return (out, false);
    };
    for (key, entry) in table.iter() {
        let read = if entry.get_ref().is_table() {
            de_value::<T>(map, root, entry, diags)
        } else {
            let msg = format!("expected a table, found {}", entry.get_ref().type_str());
            diags.push(Diagnostic::from_span_in(map, root, entry.span(), msg));
            None
        };
        match read {
            Some(v) => {
                out.insert(key.get_ref().to_string(), v);
            }
            None => all = false,
        }
    }
    (out, all)
}

/// "unknown key `x`", with a "did you mean" when a known key is close (clap's own rule).
pub fn unknown_key_message(bad: &str, known: &[&str]) -> String {
    let mut msg = format!("unknown key `{bad}`");
    if let Some(best) = did_you_mean(bad, known) {
        msg.push_str(&format!(", did you mean `{best}`?"));
    }
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    msg.push_str(&format!(" (expected one of {})", list.join(", ")));
    msg
}

/// The known name closest to `bad`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(bad: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro(bad, k), *k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let (_, d) = parse(text, Utf8Path::new("."));
        d.iter()
            .map(|d| format!("{}:{} {} {}", d.line, d.column, d.key, d.message))
            .collect()
    }

    const OK: &str = r#"
[app]
name = "demo"
binary = "demo"
target = "x86_64-unknown-linux-musl"
prebuilt = "Cargo.toml"

[services.demo]
"#;

    #[test]
    fn unknown_keys_in_two_tables_are_both_reported() {
        let text = OK.replace("binary = \"demo\"", "binary = \"demo\"\nnmae = 1")
            + "command = [\"/bin/demo\"]\ncommnd = 2\n";
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("app.nmae") && p[0].contains("did you mean `name`"),
            "{p:?}"
        );
        assert!(
            p[1].contains("services.demo.commnd") && p[1].contains("did you mean `command`"),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_error_has_a_position() {
        let p = problems("[app\nname = 1");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("1:"), "{p:?}");
    }

    #[test]
    fn did_you_mean_needs_a_close_name() {
        assert_eq!(
            did_you_mean("intervall", &["interval", "ttl"]),
            Some("interval")
        );
        assert_eq!(did_you_mean("zzz", &["interval", "ttl"]), None);
    }
}
