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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;

use camino::{Utf8Path, Utf8PathBuf};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, KeyPath, Located, SourceMap};
use crate::error::Error;
use crate::{suggest, validate};

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

/// The largest manifest read (1 MiB): far above any real one, and a bound on the memory and
/// time that loading can take, whatever the file.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// How many problems are shown in full; the rest are only counted.
pub const MAX_SHOWN_PROBLEMS: usize = 50;

/// A manifest that loaded and validated, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// The manifest file as given.
    pub path: Utf8PathBuf,
    /// The directory relative paths in the manifest are resolved against.
    pub dir: Utf8PathBuf,
}

/// Why a manifest is invalid: the first [`MAX_SHOWN_PROBLEMS`] problems in source order,
/// each positioned, and how many more there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub diagnostics: Vec<Diagnostic>,
    pub omitted: usize,
}

impl Problems {
    /// Sorts the problems by position, drops repeats, and positions the first few.
    fn new(mut found: Vec<Located>, map: &SourceMap, root: Option<&DeTable<'_>>) -> Self {
        found.sort_by_key(|l| l.span.start);
        found.dedup_by(|a, b| a.span.start == b.span.start && a.message == b.message);
        let omitted = found.len().saturating_sub(MAX_SHOWN_PROBLEMS);
        found.truncate(MAX_SHOWN_PROBLEMS);
        Problems {
            diagnostics: found.into_iter().map(|l| l.resolve(map, root)).collect(),
            omitted,
        }
    }

    /// Every problem, shown or not.
    pub fn total(&self) -> usize {
        self.diagnostics.len() + self.omitted
    }
}

/// Reads, parses and validates the manifest at `path`.
pub fn load(path: &Utf8Path) -> Result<Loaded, Error> {
    let bytes = read_bounded(path)?;
    let dir = manifest_dir(path);
    match parse_bytes(&bytes, &dir) {
        Ok(manifest) => Ok(Loaded {
            manifest,
            path: path.to_owned(),
            dir,
        }),
        Err(problems) => Err(Error::Invalid {
            path: path.to_owned(),
            problems,
        }),
    }
}

/// The bytes of a manifest file: a regular file of at most [`MAX_MANIFEST_BYTES`], read
/// through that limit (so `/dev/zero` or a file that keeps growing costs nothing) and
/// opened without blocking (so a FIFO cannot hang the tool).
fn read_bounded(path: &Utf8Path) -> Result<Vec<u8>, Error> {
    let refuse = |source: io::Error| Error::Read {
        path: path.to_owned(),
        source,
    };
    let too_large = || {
        refuse(io::Error::other(format!(
            "it is larger than {} MiB, the most a manifest may be (is it the right file?)",
            MAX_MANIFEST_BYTES / (1024 * 1024)
        )))
    };
    let meta = std::fs::metadata(path).map_err(refuse)?;
    if !meta.is_file() {
        return Err(refuse(not_regular(&meta)));
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(too_large());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(refuse)?;
    // The path may have changed between the two looks: trust the open file.
    let meta = file.metadata().map_err(refuse)?;
    if !meta.is_file() {
        return Err(refuse(not_regular(&meta)));
    }
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(refuse)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Why a file that is not a regular file is refused, naming what it is.
pub fn not_regular(meta: &std::fs::Metadata) -> io::Error {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    io::Error::other(format!("it is {what}, not a regular file"))
}

/// The directory that holds the manifest (`.` for a bare file name).
pub fn manifest_dir(path: &Utf8Path) -> Utf8PathBuf {
    match path.parent() {
        Some(p) if !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    }
}

/// Parses and validates the bytes of a manifest; invalid UTF-8 is a problem at the line
/// and column of the first bad byte.
pub fn parse_bytes(bytes: &[u8], dir: &Utf8Path) -> Result<Manifest, Problems> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, dir),
        Err(e) => {
            // Up to the bad byte, the lossy text has the same bytes: the same offsets.
            let text = String::from_utf8_lossy(bytes);
            let at = e.valid_up_to();
            let found = vec![Located::at_span(
                at..at + char::REPLACEMENT_CHARACTER.len_utf8(),
                KeyPath::root(),
                "the file is not valid UTF-8 (save it as UTF-8)".into(),
            )];
            Err(Problems::new(found, &SourceMap::new(&text), None))
        }
    }
}

/// Parses and validates manifest text; relative file paths are checked against `dir`.
/// Returns the manifest when it is valid, else every problem found.
///
/// CRLF line ends are read as LF first, so that a manifest saved on Windows means what it
/// says: TOML lets a parser normalise the newlines of multi-line strings, and a shell
/// service must not get `echo one\r`. Lines and columns are unchanged by it.
pub fn parse(text: &str, dir: &Utf8Path) -> Result<Manifest, Problems> {
    let text = if text.contains("\r\n") {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    };
    let map = SourceMap::new(&text);
    let root = match DeTable::parse(&text) {
        Ok(root) => root,
        Err(e) => return Err(Problems::new(vec![Located::from_toml(&e)], &map, None)),
    };
    let root = root.get_ref();
    let mut found = Vec::new();
    let partial = structure(root, &mut found);
    for problem in validate::validate(&partial, dir) {
        found.push(Located::at_path(root, problem.path, problem.message));
    }
    match partial.into_manifest() {
        Some(manifest) if found.is_empty() => Ok(manifest),
        _ => Err(Problems::new(found, &map, Some(root))),
    }
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
fn structure(root: &DeTable<'_>, found: &mut Vec<Located>) -> Partial {
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
            let msg = suggest::unknown_key_message(name, TABLES);
            found.push(Located::at_span(key.span(), path, msg));
            continue;
        }
        if !value.get_ref().is_table() {
            let msg = format!("expected a table, found {}", value.get_ref().type_str());
            found.push(Located::at_span(value.span(), path, msg));
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
                partial.app = de_value(value, found);
            }
            "image" => partial.image = de_value(value, found),
            "log" => partial.log = de_value(value, found),
            "services" => {
                let (entries, all) = de_entries(&path, value, found);
                partial.services = entries;
                partial.all_services_read = all;
            }
            _ => partial.checks = de_entries(&path, value, found).0,
        }
    }
    if !have_app {
        let msg = "missing table [app] (with name, binary and target)".to_string();
        found.push(Located::at_span(0..1, KeyPath::root().key("app"), msg));
    }
    partial
}

/// Deserializes one table, turning each serde error into a located problem.
///
/// Serde stops at the first problem, so the table is read again without the keys at fault
/// until it deserializes: every unknown key and wrong type in the table is reported, and
/// what remains is still validated. All unknown keys go in one pass (serde names the known
/// ones), so the cost stays linear however many there are; the other retries are bounded
/// by the number of known keys. Gives up (returns `None`) when the problem is not one
/// key's (a missing required key).
fn de_value<T: serde::de::DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    found: &mut Vec<Located>,
) -> Option<T> {
    let mut value = value.clone();
    loop {
        let de = toml::de::ValueDeserializer::from(value.clone());
        let err = match T::deserialize(de) {
            Ok(v) => return Some(v),
            Err(err) => err,
        };
        let culprit = err
            .span()
            .and_then(|s| crate::diagnostic::key_at(&value, s.start));
        let DeValue::Table(table) = value.get_mut() else {
            found.push(Located::from_toml(&err));
            return None;
        };
        let before = table.len();
        let known = known_fields(err.message());
        if known.is_none() {
            found.push(Located::from_toml(&err));
        }
        for (k, v) in std::mem::take(table) {
            let keep = match &known {
                // Every unknown key of the table at once.
                Some(known) => {
                    let ok = known.contains(&k.get_ref().as_ref());
                    if !ok {
                        let msg = suggest::unknown_key_message(k.get_ref(), known);
                        found.push(Located::at_unknown_key(k.span(), msg));
                    }
                    ok
                }
                None => culprit.as_deref() != Some(k.get_ref().as_ref()),
            };
            if keep {
                table.insert(k, v);
            }
        }
        if table.len() == before {
            return None;
        }
    }
}

/// The fields serde expected, when `message` is its "unknown field" error.
fn known_fields(message: &str) -> Option<Vec<&str>> {
    message.strip_prefix("unknown field `")?;
    Some(message.split('`').skip(1).step_by(2).skip(1).collect())
}

/// Deserializes each entry of a table of named tables (`[services.X]`, `[checks.X]`) on its
/// own. Returns the entries that were read, and whether all were.
fn de_entries<T: serde::de::DeserializeOwned>(
    path: &KeyPath,
    value: &Spanned<DeValue<'_>>,
    found: &mut Vec<Located>,
) -> (BTreeMap<String, T>, bool) {
    let mut out = BTreeMap::new();
    let mut all = true;
    let Some(table) = value.get_ref().as_table() else {
        return (out, false);
    };
    for (key, entry) in table.iter() {
        let read = if entry.get_ref().is_table() {
            de_value::<T>(entry, found)
        } else {
            let msg = format!("expected a table, found {}", entry.get_ref().type_str());
            found.push(Located::at_span(entry.span(), path.key(key.get_ref()), msg));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let d = parse(text, Utf8Path::new(".")).err().map(|p| p.diagnostics);
        d.unwrap_or_default()
            .iter()
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
}
