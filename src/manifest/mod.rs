//! The manifest's types: `service.toml` exactly as the user writes it, with the spec's
//! defaults for simple values and `Option` where the default depends on other keys.
//!
//! A leaf: types, defaults and the descriptions the JSON Schema is generated from
//! (`schema.rs`), so the editor and the command line agree on what a manifest is. Reading a
//! file into these types is `load.rs`; the rules serde cannot express are `validate.rs`.

pub mod load;
pub mod rules;
pub mod schema;
pub mod volume;

use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Files and directories shipped into the image, by absolute in-image path: a project
    /// path (relative to service.toml), or `{ from, owner, mode }` (without `from`, an
    /// empty directory).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^(/[A-Za-z0-9._+@-]+)+$"}))]
    pub files: BTreeMap<String, ShippedFile>,
    /// One-shot start-up tasks, by name (the rule of service names): run once at container
    /// start, in name order, before any service starts; a task that fails stops the start.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"}))]
    pub tasks: BTreeMap<String, Task>,
    /// Fixed ids for users the tool creates, by user name (as `files` owners, service and
    /// log users): `{ uid = 1000 }` (gid defaults to the uid). Users without a table get
    /// system ids.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[a-z_][a-z0-9_-]{0,31}$"}))]
    pub users: BTreeMap<String, UserIds>,
    /// `[build]`: where and with what the container builder compiles (`builder =
    /// "container"`).
    #[serde(default)]
    pub build: BuildSettings,
    /// `[test]`: what `buildkit-lite test` gives the container, as a deployment would (a
    /// database's URL, a network, test data): used by `test` only, never in the image.
    #[serde(default)]
    pub test: TestSettings,
    /// `[sensu]`: which Sensu the checks are written for (Core's JSON, Go's
    /// `CheckConfig` resources, or both), Sensu Go's namespace, and default handlers.
    #[serde(default)]
    pub sensu: SensuSettings,
}

/// `[sensu]`: the formats the checks are written in, and what every check shares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SensuSettings {
    /// `core`: Sensu Core 1.x JSON, one file a check in /etc/sensu/conf.d. `go`: Sensu
    /// Go `CheckConfig` resources in /etc/sensu/checks.yaml, for `sensuctl create -f`.
    /// Default `["core"]`.
    #[serde(default = "default_sensu_formats")]
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub format: Vec<SensuFormat>,
    /// The Sensu Go namespace of the checks. Default `default`.
    #[serde(default = "default_sensu_namespace")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$"))]
    pub namespace: String,
    /// Handlers of every check that names none of its own (both formats).
    #[serde(default)]
    pub handlers: Vec<String>,
}

/// A Sensu check format (`[sensu] format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SensuFormat {
    /// Sensu Core 1.x JSON (end-of-life, still run).
    Core,
    /// Sensu Go `CheckConfig` resources (core/v2).
    Go,
}

impl Default for SensuSettings {
    fn default() -> Self {
        SensuSettings {
            format: default_sensu_formats(),
            namespace: default_sensu_namespace(),
            handlers: Vec::new(),
        }
    }
}

fn default_sensu_formats() -> Vec<SensuFormat> {
    vec![SensuFormat::Core]
}

fn default_sensu_namespace() -> String {
    "default".into()
}

/// `[test]`: the run-time settings of `test`'s container. Never written into the image or
/// the build context; values are never printed (`K=…`). `test --env`, `--env-file`,
/// `--network` and `--volume` win over them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestSettings {
    /// Environment variables for the container (`DATABASE_URL = "postgres://…"`).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}))]
    pub env: BTreeMap<String, String>,
    /// A project file of `KEY=VALUE` lines (docker's env-file format), relative to
    /// service.toml.
    pub env_file: Option<String>,
    /// An existing Docker network for the container to join (one a database runs on).
    pub network: Option<String>,
    /// `SRC:DST` or `SRC:DST:ro`: SRC a project directory (relative to service.toml) or a
    /// named volume, DST an absolute path in the container.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `true`: `test` runs the container hardened, as `test --hardened` does.
    #[serde(default)]
    pub hardened: bool,
    /// `true`: `test` runs the container with a read-only root and a tmpfs on /run, as
    /// `test --read-only` does.
    #[serde(default)]
    pub read_only: bool,
}

/// `[build]`: the Debian packages the compile needs (for every builder), and the container
/// builder's image, its registry cache, and whether its crates are fetched where
/// buildkit-lite runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSettings {
    /// The image the builder stage starts from: any image with cargo. Default
    /// `rust:1-bookworm`.
    pub image: Option<String>,
    /// Debian packages the compile needs (`protobuf-compiler`, `libpq-dev`, `musl-tools`):
    /// installed in the container builder's stage, or in an image made from cross's; for
    /// cargo and cargo-zigbuild, checked on this host with dpkg-query before compiling.
    #[serde(default)]
    pub packages: Vec<String>,
    /// `true`: `cargo vendor` fetches the crates where buildkit-lite runs (no compile), into
    /// the build context, and the builder compiles offline: for engines that cannot reach
    /// crates.io. `build --vendor` does the same for one run.
    #[serde(default)]
    pub vendor: bool,
    /// A registry image that shares the build's layers between machines
    /// (`registry.example.com/team/app:buildcache`): the build reads its layers first,
    /// and `build --push` writes them. It holds the build stage (the compiled
    /// dependencies); `<cache>-runtime` the image's own layers. `build --cache REF` does
    /// the same for one run.
    pub cache: Option<String>,
}

/// `[users.NAME]`: the ids of a user the tool creates. A base that already has the user
/// with other ids fails the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIds {
    /// The user id, 1 to 65533, unique among `[users]`.
    #[schemars(range(min = 1, max = 65533))]
    pub uid: u32,
    /// The id of the user's own group, 1 to 65533; default: the uid.
    #[schemars(range(min = 1, max = 65533))]
    pub gid: Option<u32>,
}

/// `[files]` entry: a project file or directory to copy, or a table with its owner and mode
/// (without `from`: an empty directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ShippedFile {
    /// A file or directory of the project (relative to service.toml), copied as it is.
    Source(String),
    /// A file or directory with its owner and mode, or, without `from`, an empty directory.
    Table(ShippedTable),
}

/// The table form of a `[files]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippedTable {
    /// The project file or directory to copy, relative to service.toml. Without it: an
    /// empty directory.
    pub from: Option<String>,
    /// The owner: a user, created when missing. Default: root.
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub owner: Option<String>,
    /// An octal mode such as `"0640"`. Default: 0644 for a file (0755 when the source is
    /// executable), 0755 for a directory. For a copied directory it is the directory's own.
    #[schemars(regex(pattern = r"^0?[0-7]{3,4}$"))]
    pub mode: Option<String>,
    /// The mode of every file under a shipped directory, such as `"0600"` for keys
    /// (`mode` stays the directory's own). Default: 0644, or 0755 for an executable source.
    #[serde(rename = "file-mode")]
    #[schemars(regex(pattern = r"^0?[0-7]{3,4}$"))]
    pub file_mode: Option<String>,
    /// Allow a `mode` with the set-user-ID or set-group-ID bit (4000, 2000): refused
    /// otherwise, since such a file runs as its owner whoever starts it.
    #[serde(default, rename = "allow-setid")]
    pub allow_setid: bool,
}

impl ShippedFile {
    /// The project file or directory to copy, if any.
    pub fn from(&self) -> Option<&str> {
        match self {
            ShippedFile::Source(from) => Some(from),
            ShippedFile::Table(t) => t.from.as_deref(),
        }
    }

    pub fn owner(&self) -> Option<&str> {
        match self {
            ShippedFile::Source(_) => None,
            ShippedFile::Table(t) => t.owner.as_deref(),
        }
    }

    pub fn mode(&self) -> Option<&str> {
        match self {
            ShippedFile::Source(_) => None,
            ShippedFile::Table(t) => t.mode.as_deref(),
        }
    }

    pub fn file_mode(&self) -> Option<&str> {
        match self {
            ShippedFile::Source(_) => None,
            ShippedFile::Table(t) => t.file_mode.as_deref(),
        }
    }

    pub fn allow_setid(&self) -> bool {
        matches!(self, ShippedFile::Table(t) if t.allow_setid)
    }
}

impl<'de> Deserialize<'de> for ShippedFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ShippedFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a project path, or a table with `from`, `owner`, `mode` and `file-mode`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, from: &str) -> Result<ShippedFile, E> {
                Ok(ShippedFile::Source(from.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ShippedFile, A::Error> {
                let de = serde::de::value::MapAccessDeserializer::new(map);
                ShippedTable::deserialize(de).map(ShippedFile::Table)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[app]`: what to compile and where it goes in the image.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct App {
    /// The application's name and the default image name: lower-case letters and digits,
    /// with single `.`, `_` or `-` between them.
    #[schemars(regex(pattern = r"^[a-z0-9]+([._-][a-z0-9]+)*$"))]
    pub name: String,
    /// The cargo binary target to build, and the binary's file name in the image; or a
    /// non-empty list of them, compiled by one cargo invocation, each installed at
    /// `/bin/<name>`.
    pub binary: Binaries,
    /// The Rust target triple to compile for: `x86_64-*` makes a linux/amd64 image,
    /// `aarch64-*` a linux/arm64 one. A list (at most one target a platform) makes one
    /// image a platform, under one image index when pushed.
    pub target: Targets,
    /// The cargo package that holds the binary (`cargo build -p`).
    pub package: Option<String>,
    /// Cargo features to enable (`cargo build --features`).
    #[serde(default)]
    pub features: Vec<String>,
    /// `false` builds without the package's default features (`cargo build
    /// --no-default-features`), as for a project that builds without C code only so.
    #[serde(default = "default_true")]
    pub default_features: bool,
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
    /// Compile with `--locked` when the cargo workspace has a `Cargo.lock`, so the image is
    /// built from the committed lockfile. `false` opts out.
    #[serde(default = "default_true")]
    pub locked: bool,
}

impl App {
    /// Each binary's name and its path in the image: `install-path` for a single binary
    /// that sets it, else `/bin/<name>`.
    pub fn install_paths(&self) -> Vec<(&str, String)> {
        let names = self.binary.names();
        match (&self.install_path, &self.binary) {
            (Some(path), Binaries::One(name)) => vec![(name.as_str(), path.clone())],
            _ => names
                .iter()
                .map(|n| (n.as_str(), format!("/bin/{n}")))
                .collect(),
        }
    }
}

/// `app.binary`: one cargo bin target, or a non-empty list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Binaries {
    /// One bin target.
    One(#[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))] String),
    /// Several bin targets.
    Several(#[schemars(length(min = 1), inner(regex(pattern = r"^[A-Za-z0-9_-]+$")))] Vec<String>),
}

impl Binaries {
    /// Every name, in the order written.
    pub fn names(&self) -> &[String] {
        match self {
            Binaries::One(name) => std::slice::from_ref(name),
            Binaries::Several(names) => names,
        }
    }

    /// The first name (the one a service without `command` runs when none has its name).
    pub fn first(&self) -> &str {
        self.names().first().map_or("", String::as_str)
    }
}

impl<'de> Deserialize<'de> for Binaries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match one_or_many(
                deserializer,
                "a bin target name, or a list of bin target names",
            )? {
                OneOrMany::One(one) => Binaries::One(one),
                OneOrMany::Many(many) => Binaries::Several(many),
            },
        )
    }
}

/// The target triples the manifest may name (the schema's enum and `check`'s rule).
pub const SUPPORTED_TARGETS: &[&str] = &[
    "x86_64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-gnu",
    "aarch64-unknown-linux-musl",
];

/// `app.target`: one target triple, or a list of them (one a platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Targets {
    /// One target: one image, as in v1.
    One(String),
    /// Several targets: one image a platform.
    Several(Vec<String>),
}

impl JsonSchema for Targets {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Targets".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string", "enum": SUPPORTED_TARGETS },
                {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": true,
                    "items": { "type": "string", "enum": SUPPORTED_TARGETS }
                }
            ]
        })
    }
}

impl Targets {
    /// Every target, in the order written.
    pub fn triples(&self) -> &[String] {
        match self {
            Targets::One(target) => std::slice::from_ref(target),
            Targets::Several(targets) => targets,
        }
    }

    /// The first target (the image `<name>:<TAG>` names on a host of no listed platform).
    pub fn first(&self) -> &str {
        self.triples().first().map_or("", String::as_str)
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match one_or_many(deserializer, "a target triple, or a list of target triples")? {
                OneOrMany::One(one) => Targets::One(one),
                OneOrMany::Many(many) => Targets::Several(many),
            },
        )
    }
}

/// The platform (`linux/amd64`, `linux/arm64`) a target triple's binaries run on; also of
/// an architecture alone (`std::env::consts::ARCH`: `x86_64`, `aarch64`).
pub fn platform_of(target: &str) -> Option<&'static str> {
    match target.split('-').next() {
        Some("x86_64") => Some("linux/amd64"),
        Some("aarch64") => Some("linux/arm64"),
        _ => None,
    }
}

/// `image.base`: one image (for several platforms, a multi-platform one), or an image a
/// platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Base {
    /// One image, every platform's variant of it.
    One(String),
    /// An image a platform (`"linux/amd64" = "debian:bookworm-slim"`): local or air-gapped
    /// bases of one architecture each. It must name every platform the targets make.
    PerPlatform(BTreeMap<String, String>),
}

impl JsonSchema for Base {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Base".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "minProperties": 1,
                    "properties": {
                        "linux/amd64": { "type": "string" },
                        "linux/arm64": { "type": "string" }
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl Base {
    /// The base of `platform`; none when a table does not name it.
    pub fn of(&self, platform: &str) -> Option<&str> {
        match self {
            Base::One(image) => Some(image),
            Base::PerPlatform(table) => table.get(platform).map(String::as_str),
        }
    }

    /// Every image named, with the key it is under (`base`, or `base."linux/arm64"`).
    pub fn images(&self) -> Vec<(Option<&str>, &str)> {
        match self {
            Base::One(image) => vec![(None, image)],
            Base::PerPlatform(table) => table
                .iter()
                .map(|(platform, image)| (Some(platform.as_str()), image.as_str()))
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Base {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Base;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an image reference, or a table of one a platform")
            }
            fn visit_str<E: serde::de::Error>(self, image: &str) -> Result<Base, E> {
                Ok(Base::One(image.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Base, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((platform, image)) = map.next_entry::<String, String>()? {
                    table.insert(platform, image);
                }
                Ok(Base::PerPlatform(table))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The two forms of `binary` and `target`: a string, or a list of strings.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Reads a string or a list of strings; `expecting` names them in the error for anything
/// else.
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    expecting: &'static str,
) -> Result<OneOrMany, D::Error> {
    struct Visitor(&'static str);
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = OneOrMany;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: serde::de::Error>(self, one: &str) -> Result<OneOrMany, E> {
            Ok(OneOrMany::One(one.to_string()))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<OneOrMany, A::Error> {
            let mut many = Vec::new();
            while let Some(one) = seq.next_element::<String>()? {
                many.push(one);
            }
            Ok(OneOrMany::Many(many))
        }
    }
    deserializer.deserialize_any(Visitor(expecting))
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
    /// A build stage of the image's own Dockerfile, from `[build] image`: nothing is
    /// compiled where buildkit-lite runs, and a remote engine compiles there.
    Container,
}

impl Builder {
    /// The name as the manifest writes it.
    pub fn name(self) -> &'static str {
        match self {
            Builder::Auto => "auto",
            Builder::Cargo => "cargo",
            Builder::Cross => "cross",
            Builder::Zigbuild => "zigbuild",
            Builder::Container => "container",
        }
    }
}

/// `[image]`: the image around the binary.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Image {
    /// Image repository, which may include a registry and namespace. Default: `app.name`.
    pub name: Option<String>,
    /// The `FROM` image; v1 assumes an apt-based (Debian-like) base. For several
    /// targets, a multi-platform image, or a table of one image a platform.
    #[serde(default = "default_base")]
    pub base: Base,
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
    /// `VOLUME`s: absolute in-image directories, created in the image (owned as `[files]`
    /// says when it names the path, else by root).
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Seconds a graceful stop may take: services get SIGTERM and, after this many seconds
    /// less one, SIGKILL. Match it with `docker stop -t` / `docker run --stop-timeout` when
    /// it is above Docker's default of 10.
    #[serde(default = "default_stop_timeout")]
    #[schemars(range(min = 1))]
    pub stop_timeout: u64,
    /// Docker's `HEALTHCHECK`. The name of a check (`[checks.NAME]`): its command, its
    /// `interval`, its `timeout` (default 10) and `occurrences` as the retries (default
    /// 3). Unset, with `init = "runit"`: the services' own state (every service runs, up at
    /// least 2 s, its log service too), so `docker ps` shows a crash loop as `unhealthy`.
    /// `false`: no HEALTHCHECK.
    pub healthcheck: Option<Health>,
    /// `true`: the image runs with a read-only root (`docker run --read-only --tmpfs /run`,
    /// Kubernetes' `readOnlyRootFilesystem`): runit's state and the init's are in `/run`,
    /// the log directories are volumes. Needs `init = "runit"`.
    #[serde(default)]
    pub read_only: bool,
    /// The one non-root user the whole tree runs as (init, runsv, services, svlogd), with
    /// fixed ids from `[users.NAME]`: the Dockerfile ends with `USER uid:gid`; services
    /// and the log user must be this user or unset. Needs `init = "runit"`.
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub user: Option<String>,
}

/// `image.healthcheck`: a check's name, or `false`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Health {
    /// The check whose command Docker runs.
    Check(String),
    /// `false`: no HEALTHCHECK (`true` is the default, and is left out).
    Enabled(bool),
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
    /// `true`: every log line also goes to the container's stdout (`docker logs`), prefixed
    /// with the service's name, while svlogd still writes the files.
    #[serde(default)]
    pub stdout: bool,
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

/// `[tasks.NAME]`: a one-shot command run at container start, before any service. The
/// keys and word rules of a service, without `log`: its output goes to the container's
/// stdout.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Task {
    /// The argv to exec. Words are literal except `${NAME}`, replaced at run time by that
    /// environment variable; `$${` is a literal `${`. Default: the binary with the task's
    /// name, else the first binary.
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
}

impl Task {
    /// The task as a service without a log service: what it runs is checked, resolved and
    /// rendered by the same rules.
    pub fn as_service(&self) -> Service {
        Service {
            command: self.command.clone(),
            user: self.user.clone(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            log: false,
        }
    }
}

/// `[checks.NAME]`: a Sensu check. Exactly one of `http`, `command`, `script`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(extend("oneOf" = [{"required": ["http"]}, {"required": ["command"]}, {"required": ["script"]}]))]
pub struct Check {
    /// URL a rendered plugin requests: OK on 2xx, WARNING on another answer, CRITICAL when
    /// nothing answers. `${NAME}` is read from the environment when the check runs (`$${` is
    /// a literal `${`).
    #[schemars(regex(pattern = r"^https?://\S+$"))]
    pub http: Option<String>,
    /// A command line Sensu runs as written.
    pub command: Option<String>,
    /// A local script (relative to service.toml) installed into /etc/sensu/plugins/.
    pub script: Option<String>,
    /// Arguments appended to `script`'s command, each quoted.
    pub args: Option<Vec<String>>,
    /// The service this check follows: it runs with that service's `env` defaults (where
    /// the environment lacks the variable), so `${PORT}` in `http` or a `command` moves
    /// with `docker run -e PORT=…`.
    pub service: Option<String>,
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
    /// For an `https` check: `false` accepts any certificate (a self-signed one, say).
    #[serde(default = "default_true")]
    pub tls_verify: bool,
    /// For an `https` check: a CA certificate (a project file, relative to service.toml)
    /// that the server's certificate must chain to; installed beside the plugin.
    pub ca: Option<String>,
}

/// What a check runs: the one of `http`, `command` and `script` that is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind<'a> {
    /// A URL the rendered plugin requests.
    Http { url: &'a str },
    /// A command line Sensu runs as written.
    Command { line: &'a str },
    /// A project file installed as a plugin, run with its arguments.
    Script { path: &'a str, args: &'a [String] },
}

impl Check {
    /// The keys among `http`, `command` and `script` that are set, in that order.
    pub fn kinds_set(&self) -> Vec<&'static str> {
        [
            ("http", self.http.is_some()),
            ("command", self.command.is_some()),
            ("script", self.script.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// The check's kind, when exactly one of `http`, `command` and `script` is set
    /// (validation makes sure every check of a loaded manifest has one).
    pub fn kind(&self) -> Option<CheckKind<'_>> {
        match (&self.http, &self.command, &self.script) {
            (Some(url), None, None) => Some(CheckKind::Http { url }),
            (None, Some(line), None) => Some(CheckKind::Command { line }),
            (None, None, Some(path)) => Some(CheckKind::Script {
                path,
                args: self.args.as_deref().unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

impl CheckKind<'_> {
    /// The file the check `name` installs into the plugin directory, if any.
    pub fn plugin_file(&self, name: &str) -> Option<String> {
        match self {
            CheckKind::Http { .. } => Some(http_plugin_file(name)),
            CheckKind::Command { .. } => None,
            CheckKind::Script { path, .. } => Some(script_plugin_file(path)),
        }
    }
}

impl Check {
    /// Every file the check `name` installs into the plugin directory, each with what it
    /// is: its plugin, and an http check's `ca` certificate beside it.
    pub fn installed_files(&self, name: &str) -> Vec<(String, &'static str)> {
        let Some(kind) = self.kind() else {
            return Vec::new();
        };
        let mut files: Vec<(String, &'static str)> = kind
            .plugin_file(name)
            .map(|file| (file, "plugin"))
            .into_iter()
            .collect();
        if let (CheckKind::Http { .. }, Some(_)) = (&kind, &self.ca) {
            files.push((http_ca_file(name), "CA certificate"));
        }
        files
    }
}

/// The in-plugin-directory name of an `http` check's `ca` certificate:
/// `http-NAME.sh.ca.pem`.
pub fn http_ca_file(check: &str) -> String {
    format!("{}.ca.pem", http_plugin_file(check))
}

/// The plugin rendered for an `http` check: `http-NAME.sh`.
pub fn http_plugin_file(check: &str) -> String {
    format!("http-{check}.sh")
}

/// The plugin a `script` check installs: the script's file name.
pub fn script_plugin_file(path: &str) -> String {
    camino::Utf8Path::new(path)
        .file_name()
        .unwrap_or(path)
        .to_string()
}

fn default_profile() -> String {
    "release".into()
}
fn default_base() -> Base {
    Base::One("debian:bookworm-slim".into())
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
            volumes: Vec::new(),
            stop_timeout: default_stop_timeout(),
            healthcheck: None,
            read_only: false,
            user: None,
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
            stdout: false,
        }
    }
}

/// A manifest that loaded and validated, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// The manifest file as given.
    pub path: Utf8PathBuf,
    /// The directory relative paths in the manifest are resolved against.
    pub dir: Utf8PathBuf,
    /// The manifest's text (LF line ends), for positions of later findings (warnings).
    pub text: String,
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
    pub files: BTreeMap<String, ShippedFile>,
    pub tasks: BTreeMap<String, Task>,
    pub users: BTreeMap<String, UserIds>,
    pub build: Option<BuildSettings>,
    pub test: Option<TestSettings>,
    pub sensu: Option<SensuSettings>,
    /// False when some `[services.X]` could not be read (so "no service" is not reported).
    pub all_services_read: bool,
}

impl Partial {
    pub fn into_manifest(self) -> Option<Manifest> {
        Some(Manifest {
            app: self.app?,
            image: self.image?,
            log: self.log?,
            services: self.services,
            checks: self.checks,
            files: self.files,
            tasks: self.tasks,
            users: self.users,
            build: self.build?,
            test: self.test?,
            sensu: self.sensu?,
        })
    }
}
