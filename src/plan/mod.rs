//! The resolved build plan and the pure [`resolve`] that makes it from a valid manifest.
//!
//! Every default is applied and every decision is taken here: the image repository, the apt
//! packages the image needs, the users to create, each service's argv and log directory,
//! each check's Sensu definition and plugin. Templates see only a [`Plan`]: no `Option`s for
//! them to default and no logic for them to hide. Nothing here touches the file system.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use crate::manifest::{
    App, Base, Builder, Check, CheckKind, Health, Init, Loaded, Log, Manifest, SensuFormat,
    Service, ShippedFile, UserIds, http_plugin_file, platform_of, script_plugin_file,
};
use crate::shell::{self, Piece};

use crate::layout::{INIT_PATH, INIT_STATE, RUNIT_STATE, SENSU_PLUGIN_DIR, TASKS_DIR};
/// Seconds the http plugin waits for an answer when the check sets no `timeout`.
pub const HTTP_TIMEOUT: u64 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The manifest file, as given on the command line.
    pub manifest_path: Utf8PathBuf,
    /// The directory relative paths are resolved against.
    pub manifest_dir: Utf8PathBuf,
    pub app: AppPlan,
    pub image: ImagePlan,
    pub log: LogPlan,
    pub services: Vec<ServicePlan>,
    /// Start-up tasks, in the order they run (by name); never with a log service.
    pub tasks: Vec<ServicePlan>,
    pub checks: Vec<CheckPlan>,
    /// The Sensu formats the checks are written in (`[sensu]`).
    pub sensu: SensuPlan,
    /// Users to create in the image when the base lacks them (sorted, never `root`).
    pub users: Vec<UserPlan>,
    /// Files and directories shipped into the image (`[files]`), by in-image path.
    pub files: Vec<ShippedPlan>,
    /// Every platform the manifest builds, one a target, in the order written.
    pub platforms: Vec<PlatformPlan>,
    /// The one of several platforms this plan builds ([`Plan::for_platform`]); none when
    /// the manifest has one target.
    pub platform: Option<PlatformPlan>,
    /// The commands (argv) of the `RUN` after the copies of shipped paths: empty
    /// directories to make, owners and explicit modes to set.
    pub file_setup: Vec<Vec<String>>,
    /// The container builder's settings (`[build]`), with their defaults.
    pub build: BuildPlan,
    /// `[test]`: for `test`'s container only; never serialized (its values are secrets).
    #[serde(skip)]
    pub test: crate::manifest::TestSettings,
}

/// `[sensu]`, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct SensuPlan {
    /// Sensu Core JSON, one file a check in [`SENSU_CONF_DIR`](crate::layout::SENSU_CONF_DIR).
    pub core: bool,
    /// Sensu Go `CheckConfig` resources in [`SENSU_GO_CHECKS`](crate::layout::SENSU_GO_CHECKS).
    pub go: bool,
    pub namespace: String,
    /// The Sensu Go subscription of a check Core would schedule on the client itself
    /// (`standalone` with no `subscribers`): the app's name, which the agent beside the
    /// app subscribes to.
    pub own_subscription: String,
}

impl SensuPlan {
    fn of(m: &Manifest) -> SensuPlan {
        SensuPlan {
            core: m.sensu.format.contains(&SensuFormat::Core),
            go: m.sensu.format.contains(&SensuFormat::Go),
            namespace: m.sensu.namespace.clone(),
            own_subscription: m.app.name.clone(),
        }
    }
}

/// `[build]`, resolved: what the container builder's build stage starts from and installs.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    /// The builder stage's image (default [`DEFAULT_BUILD_IMAGE`]).
    pub image: String,
    /// Debian packages the compile needs.
    pub packages: Vec<String>,
    /// The crates are vendored into the context (`cargo vendor`) and compiled offline.
    pub vendor: bool,
    /// The registry image of the build stage's layers (`[build] cache`, `--cache`); its
    /// `-runtime` tag holds the image's own.
    pub cache: Option<String>,
}

impl BuildPlan {
    /// The cache's two images: the build stage's, and the runtime stage's (`<cache>-runtime`);
    /// for one of several platforms, `<cache>-<arch>` and `<cache>-<arch>-runtime`.
    pub fn cache_images(&self, platform: Option<&PlatformPlan>) -> Option<[String; 2]> {
        let cache = self.cache.as_ref()?;
        let cache = match platform {
            Some(p) => format!("{cache}-{}", p.arch),
            None => cache.clone(),
        };
        Some([cache.clone(), format!("{cache}-runtime")])
    }
}

/// The builder image when `[build] image` is not set.
pub const DEFAULT_BUILD_IMAGE: &str = "rust:1-bookworm";

/// One platform's image: its target and its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformPlan {
    /// `linux/amd64`, `linux/arm64`.
    pub name: String,
    /// `amd64`, `arm64`: the suffix of its local tags (`<name>:<TAG>-<arch>`).
    pub arch: String,
    pub target: String,
    pub base: String,
}

impl PlatformPlan {
    /// The local reference of this platform's image for `tag`: `<repository>:<tag>-<arch>`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("{repository}:{tag}-{}", self.arch)
    }
}

impl Plan {
    /// Whether the manifest builds several platforms.
    pub fn several_platforms(&self) -> bool {
        self.platforms.len() > 1
    }

    /// Whether the container builder compiles the app (`builder = "container"`).
    pub fn in_container(&self) -> bool {
        self.app.builder == Builder::Container
    }

    /// The plan with `build`'s command-line choices: `--builder` over `app.builder`,
    /// `--vendor` turning vendoring on, `--cache` over `[build] cache`.
    pub fn with_overrides(
        &self,
        builder: Option<Builder>,
        vendor: bool,
        cache: Option<&str>,
    ) -> Plan {
        let mut plan = self.clone();
        if let Some(builder) = builder {
            plan.app.builder = builder;
        }
        plan.build.vendor |= vendor;
        if let Some(cache) = cache {
            plan.build.cache = Some(cache.to_string());
        }
        plan
    }

    /// The plan of one of several platforms: its target and its base.
    pub fn for_platform(&self, platform: &PlatformPlan) -> Plan {
        let mut plan = self.clone();
        plan.app.target = platform.target.clone();
        plan.image.base = platform.base.clone();
        plan.platform = Some(platform.clone());
        plan
    }
}

/// A user the image needs: created when the base lacks it, in a new group of its own
/// name; with `[users.NAME]` ids, with those (and a base that has it with other ids fails
/// the build).
#[derive(Debug, Clone, Serialize)]
pub struct UserPlan {
    pub name: String,
    pub uid: Option<u32>,
    /// The group id: the uid unless `[users]` gives one.
    pub gid: Option<u32>,
}

/// A file or directory shipped into the image (`[files]`).
#[derive(Debug, Clone, Serialize)]
pub struct ShippedPlan {
    /// Absolute path in the image.
    pub path: String,
    /// The project file or directory to copy (joined to the manifest's directory); none
    /// for an empty directory.
    pub from: Option<Utf8PathBuf>,
    /// Where the copy sits in the build context (`root<path>`), when there is one.
    pub context_path: Option<String>,
    /// The owner, set by the `RUN` after the copies (see [`FileSetup`]); none for root.
    pub owner: Option<String>,
    /// The explicit mode, if one was given.
    pub mode: Option<u32>,
    /// The mode of every file under a shipped directory (`file-mode`).
    pub file_mode: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppPlan {
    pub name: String,
    /// Every binary: compiled by one cargo invocation (or the one `prebuilt` file).
    pub binaries: Vec<BinaryPlan>,
    pub target: String,
    pub package: Option<String>,
    pub features: Vec<String>,
    pub profile: String,
    /// The Cargo.toml to build.
    pub cargo_manifest: Utf8PathBuf,
    pub builder: Builder,
    /// A file to stage instead of compiling (with a single binary only).
    pub prebuilt: Option<Utf8PathBuf>,
    /// Compile with `--locked` when the workspace has a `Cargo.lock`.
    pub locked: bool,
    /// `false`: `--no-default-features`.
    pub default_features: bool,
}

/// A target a compile builds for, and how cargo links it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub triple: &'a str,
    /// Link with rust-lld (see `builder.rs`): `--config target.<triple>.linker="rust-lld"`,
    /// which applies to this target only.
    pub rust_lld: bool,
}

impl AppPlan {
    /// What `cargo build` takes after its manifest path, for each of `targets`: the host
    /// builders run it, and the container builder's build stage runs it too, so both
    /// compile the same way.
    pub fn cargo_args(&self, targets: &[Target], locked: bool) -> Vec<String> {
        let mut args = Vec::new();
        for target in targets {
            args.extend(["--target".to_string(), target.triple.to_string()]);
        }
        for target in targets.iter().filter(|t| t.rust_lld) {
            let linker = format!("target.{}.linker=\"rust-lld\"", target.triple);
            args.extend(["--config".to_string(), linker]);
        }
        args.extend(["--profile".to_string(), self.profile.clone()]);
        for binary in &self.binaries {
            args.extend(["--bin".to_string(), binary.name.clone()]);
        }
        if let Some(package) = &self.package {
            args.extend(["--package".to_string(), package.clone()]);
        }
        if !self.features.is_empty() {
            args.extend(["--features".to_string(), self.features.join(",")]);
        }
        if !self.default_features {
            args.push("--no-default-features".to_string());
        }
        if locked {
            args.push("--locked".to_string());
        }
        args
    }

    /// The directory cargo's `--profile` writes into, below `target/<triple>/`.
    pub fn profile_dir(&self) -> &str {
        match self.profile.as_str() {
            "dev" | "test" => "debug",
            "release" | "bench" => "release",
            other => other,
        }
    }
}

/// One binary of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryPlan {
    /// The cargo bin target.
    pub name: String,
    /// Absolute path in the image.
    pub install_path: String,
    /// Path in the build context (`root/…`).
    pub context_path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImagePlan {
    /// The repository the image is tagged into.
    pub repository: String,
    /// The `FROM` image (the first platform's, for several).
    pub base: String,
    /// `image.base` is a table of one image a platform: the Dockerfile takes the base as
    /// the build argument `BUILDKIT_LITE_BASE`, which `build` sets for each platform.
    pub base_arg: bool,
    pub init: Init,
    /// Whether the image's entrypoint is buildkit-lite's runit init.
    pub runit_init: bool,
    pub init_path: &'static str,
    /// Where the start-up tasks' scripts go.
    pub tasks_dir: &'static str,
    /// apt packages to install (the user's and what the image needs), sorted.
    pub packages: Vec<String>,
    /// Labels written into the Dockerfile (title, authors and the user's).
    pub labels: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    pub expose: Vec<u16>,
    /// `VOLUME`s, made in the image first (see `file_setup`).
    pub volumes: Vec<String>,
    pub stop_timeout: u64,
    /// Seconds the init gives services to stop before it kills them.
    pub grace: u64,
    /// Docker's `HEALTHCHECK`, from the check `image.healthcheck` names.
    pub healthcheck: Option<Healthcheck>,
    /// `[image] read-only`: the log directories are among `volumes`.
    pub read_only: bool,
    /// `[image] user`, with its fixed ids: the Dockerfile ends with `USER uid:gid`.
    pub user: Option<UserPlan>,
    /// runit's `supervise` directories are links into [`RUNIT_STATE`](crate::layout::RUNIT_STATE)
    /// (read-only or non-root: the image's /etc is not written at run time).
    pub supervise_in_run: bool,
    pub runit_state: &'static str,
    /// Where the init keeps its state, and `[log] stdout`'s FIFOs go in a read-only or
    /// non-root image.
    pub init_state: &'static str,
}

/// The image's `HEALTHCHECK`: a check's command, on the check's schedule; or the
/// services' own state, asked of the init.
#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    /// The check it runs; none for the services' state.
    pub check: Option<String>,
    /// The exec-form command: the check's command in `sh -c`, with any failure as exit 1
    /// (Sensu's CRITICAL, 2, is a code Docker reserves).
    pub argv: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub retries: u64,
    /// Seconds after the start in which failures do not count (`--start-period`).
    pub start_period: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogPlan {
    pub user: String,
    pub dir: String,
    /// `[log] stdout`: log lines also go to the container's stdout, prefixed with the
    /// service's name.
    pub stdout: bool,
    /// The log directory of every service with a log service, to create in the image.
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    /// The argv: each word a list of literal and `${VAR}` pieces.
    pub argv: Vec<Vec<Piece>>,
    pub user: Option<String>,
    /// Environment defaults, applied only where the environment lacks the variable.
    pub env: Vec<EnvDefault>,
    pub workdir: String,
    /// The log service, when `log = true`.
    pub log: Option<ServiceLog>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvDefault {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceLog {
    /// `<log.dir>/<service>`.
    pub dir: String,
    /// Lines of svlogd's `config` file (`s…`, `n…`, and `e*` to copy every line to its
    /// stderr for `[log] stdout`); empty for svlogd's defaults.
    pub config: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckPlan {
    pub name: String,
    /// The env defaults of the service the check follows (`check.service`), applied where
    /// the environment lacks the variable, as the service applies them.
    pub env: Vec<EnvDefault>,
    /// The check definition, with Sensu's own attribute names.
    pub sensu: SensuCheck,
    pub plugin: Option<Plugin>,
}

/// A Sensu Core 1.x check definition (the value under `checks.<name>`).
#[derive(Debug, Clone, Serialize)]
pub struct SensuCheck {
    pub command: String,
    pub interval: u64,
    pub subscribers: Vec<String>,
    pub standalone: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handlers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<u64>,
}

/// A file installed into /etc/sensu/plugins/.
#[derive(Debug, Clone, Serialize)]
pub struct Plugin {
    /// File name in the plugin directory.
    pub file: String,
    pub source: PluginSource,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PluginSource {
    /// Rendered from the http plugin template; the URL is a word of literal and `${VAR}`
    /// pieces, read when the check runs.
    Http {
        url: Vec<Piece>,
        timeout: u64,
        /// `tls-verify = false`: any certificate is accepted.
        insecure: bool,
        /// `ca`: the project file, installed beside the plugin as `<plugin>.ca.pem`.
        ca: Option<Utf8PathBuf>,
    },
    /// Copied from the user's tree.
    Script { path: Utf8PathBuf },
}

/// Applies every default and takes every decision. `loaded` must have passed validation.
pub fn resolve(loaded: &Loaded) -> Plan {
    let m = &loaded.manifest;
    let app = resolve_app(&m.app, &loaded.dir);
    let by_name: BTreeMap<&str, &str> = app
        .binaries
        .iter()
        .map(|b| (b.name.as_str(), b.install_path.as_str()))
        .collect();
    let binary_of = |name: &str| default_binary(&by_name, &app.binaries, name);
    // With `[image] user`, every process runs as that user already: no `chpst -u`.
    let as_image = |mut s: ServicePlan| {
        s.user = s.user.filter(|u| Some(u) != m.image.user.as_ref());
        s
    };
    let services: Vec<ServicePlan> = (m.services.iter())
        .map(|(name, s)| as_image(resolve_service(name, s, binary_of(name), &m.log)))
        .collect();
    let tasks: Vec<ServicePlan> = (m.tasks.iter())
        .map(|(name, t)| resolve_service(name, &t.as_service(), binary_of(name), &m.log))
        .map(as_image)
        .collect();
    let checks: Vec<CheckPlan> = m
        .checks
        .iter()
        .map(|(name, c)| resolve_check(name, c, m, &loaded.dir))
        .collect();
    let files: Vec<ShippedPlan> = m
        .files
        .iter()
        .map(|(path, f)| resolve_file(path, f, &loaded.dir))
        .collect();
    Plan {
        manifest_path: loaded.path.clone(),
        manifest_dir: loaded.dir.clone(),
        log: resolve_log(&m.log, &services),
        image: resolve_image(m, &checks, &services),
        users: users(&services, &tasks, &m.log, &files, &m.users),
        file_setup: file_setup(&files, &m.image.volumes),
        files,
        app,
        services,
        tasks,
        checks,
        sensu: SensuPlan::of(m),
        platforms: platforms(m),
        platform: None,
        build: BuildPlan {
            image: (m.build.image.as_deref())
                .unwrap_or(DEFAULT_BUILD_IMAGE)
                .to_string(),
            packages: m.build.packages.clone(),
            vendor: m.build.vendor,
            cache: m.build.cache.clone(),
        },
        test: m.test.clone(),
    }
}

/// One platform a target, with its base.
fn platforms(m: &Manifest) -> Vec<PlatformPlan> {
    m.app
        .target
        .triples()
        .iter()
        .map(|target| {
            let name = platform_of(target).unwrap_or_default();
            PlatformPlan {
                name: name.to_string(),
                arch: name.trim_start_matches("linux/").to_string(),
                target: target.clone(),
                base: m.image.base.of(name).unwrap_or_default().to_string(),
            }
        })
        .collect()
}

fn resolve_app(app: &App, dir: &Utf8Path) -> AppPlan {
    AppPlan {
        name: app.name.clone(),
        binaries: app
            .install_paths()
            .into_iter()
            .map(|(name, install_path)| BinaryPlan {
                name: name.to_string(),
                context_path: format!("root{install_path}"),
                install_path,
            })
            .collect(),
        target: app.target.first().to_string(),
        package: app.package.clone(),
        features: app.features.clone(),
        profile: app.profile.clone(),
        cargo_manifest: dir.join(app.cargo_manifest.as_deref().unwrap_or("Cargo.toml")),
        builder: app.builder,
        prebuilt: app.prebuilt.as_ref().map(|p| dir.join(p)),
        locked: app.locked,
        default_features: app.default_features,
    }
}

/// What a service without `command` runs: the binary with the service's name, else the
/// first.
fn default_binary<'a>(
    by_name: &BTreeMap<&str, &'a str>,
    binaries: &'a [BinaryPlan],
    service: &str,
) -> &'a str {
    match by_name.get(service) {
        Some(path) => path,
        None => binaries.first().map_or("", |b| b.install_path.as_str()),
    }
}

fn resolve_service(name: &str, s: &Service, install_path: &str, log: &Log) -> ServicePlan {
    let words = s
        .command
        .clone()
        .unwrap_or_else(|| vec![install_path.to_string()]);
    ServicePlan {
        name: name.to_string(),
        argv: words
            .iter()
            .map(|w| shell::parse_word(w).expect("validated command word"))
            .collect(),
        user: s.user.clone().filter(|u| u != "root"),
        env: env_defaults(&s.env),
        workdir: s.workdir.clone(),
        log: s.log.then(|| ServiceLog {
            dir: format!("{}/{}", log.dir.trim_end_matches('/'), name),
            config: svlogd_config(log),
        }),
    }
}

fn resolve_check(name: &str, c: &Check, m: &Manifest, dir: &Utf8Path) -> CheckPlan {
    let env = c
        .service
        .as_ref()
        .and_then(|s| m.services.get(s))
        .map(|s| env_defaults(&s.env))
        .unwrap_or_default();
    let kind = c
        .kind()
        .expect("a validated check has exactly one of http, command and script");
    let (command, plugin) = match kind {
        CheckKind::Command { line } => (line.to_string(), None),
        CheckKind::Http { url } => installed(
            http_plugin_file(name),
            &[],
            PluginSource::Http {
                url: shell::parse_word(url).expect("validated URL word"),
                timeout: c.timeout.unwrap_or(HTTP_TIMEOUT),
                insecure: !c.tls_verify,
                ca: c.ca.as_ref().map(|ca| dir.join(ca)),
            },
        ),
        CheckKind::Script { path, args } => installed(
            script_plugin_file(path),
            args,
            PluginSource::Script {
                path: dir.join(path),
            },
        ),
    };
    // The http plugin applies the defaults itself; other commands get them in front.
    let command = match kind {
        CheckKind::Http { .. } => command,
        _ => with_env_defaults(&env, command),
    };
    CheckPlan {
        name: name.to_string(),
        sensu: sensu_check(c, command, &m.sensu.handlers),
        plugin,
        env,
    }
}

/// `command`, after the env defaults, applied as a service's run script applies them.
fn with_env_defaults(env: &[EnvDefault], command: String) -> String {
    let mut line: String = env
        .iter()
        .map(|v| {
            let value = shell::quote(&v.value);
            format!("printenv {0} >/dev/null || export {0}={value}; ", v.name)
        })
        .collect();
    line.push_str(&command);
    line
}

fn env_defaults(env: &BTreeMap<String, String>) -> Vec<EnvDefault> {
    env.iter()
        .map(|(k, v)| EnvDefault {
            name: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// A plugin installed as `file` and the check command that runs it with `args`.
fn installed(file: String, args: &[String], source: PluginSource) -> (String, Option<Plugin>) {
    let mut words = vec![shell::quote(&format!("{SENSU_PLUGIN_DIR}/{file}"))];
    words.extend(args.iter().map(|a| shell::quote(a)));
    (words.join(" "), Some(Plugin { file, source }))
}

/// A check's Sensu definition; `handlers` are `[sensu] handlers`, for a check without its own.
fn sensu_check(c: &Check, command: String, handlers: &[String]) -> SensuCheck {
    let shared = (!handlers.is_empty()).then(|| handlers.to_vec());
    SensuCheck {
        command,
        interval: c.interval,
        subscribers: c.subscribers.clone(),
        standalone: c.standalone,
        timeout: c.timeout,
        ttl: c.ttl,
        handlers: c.handlers.clone().or(shared),
        occurrences: c.occurrences,
        refresh: c.refresh,
    }
}

fn resolve_image(m: &Manifest, checks: &[CheckPlan], services: &[ServicePlan]) -> ImagePlan {
    let image = &m.image;
    let healthcheck = match &image.healthcheck {
        Some(Health::Check(name)) => {
            let check = (checks.iter().find(|c| &c.name == name))
                .expect("a validated healthcheck names a check");
            Some(healthcheck(check))
        }
        Some(Health::Enabled(false)) => None,
        _ if image.init == Init::Runit => Some(services_health()),
        _ => None,
    };
    ImagePlan {
        repository: image.name.clone().unwrap_or_else(|| m.app.name.clone()),
        base: image
            .base
            .of(platform_of(m.app.target.first()).unwrap_or_default())
            .unwrap_or_default()
            .to_string(),
        base_arg: matches!(image.base, Base::PerPlatform(_)),
        init: image.init,
        runit_init: image.init == Init::Runit,
        init_path: INIT_PATH,
        tasks_dir: TASKS_DIR,
        packages: packages(m),
        labels: labels(m),
        env: image.env.clone(),
        expose: image.expose.clone(),
        volumes: volumes(m, services),
        stop_timeout: image.stop_timeout,
        // A second is kept for the log services and the init itself (at least one for
        // the services, so a stop-timeout of 1 may run a little over).
        grace: image.stop_timeout.saturating_sub(1).max(1),
        healthcheck,
        read_only: image.read_only,
        user: image.user.as_ref().map(|name| {
            let ids = m.users.get(name);
            UserPlan {
                name: name.clone(),
                uid: ids.map(|i| i.uid),
                gid: ids.map(|i| i.gid.unwrap_or(i.uid)),
            }
        }),
        supervise_in_run: image.read_only || image.user.is_some(),
        runit_state: RUNIT_STATE,
        init_state: INIT_STATE,
    }
}

/// `[image] volumes`; with `read-only`, then the services' log directories (what svlogd
/// writes).
fn volumes(m: &Manifest, services: &[ServicePlan]) -> Vec<String> {
    let mut volumes = m.image.volumes.clone();
    if m.image.read_only {
        volumes.extend(
            services
                .iter()
                .filter_map(|s| Some(s.log.as_ref()?.dir.clone())),
        );
    }
    volumes
}

/// The default `HEALTHCHECK` of runit's init: every service runs, up at least 2 seconds
/// (not restarting), its log service too (`buildkit-lite-init health`, from `sv status`).
/// Asked every 5 seconds, three failures in a row make it `unhealthy`; the first 10
/// seconds (services starting) do not count.
fn services_health() -> Healthcheck {
    Healthcheck {
        check: None,
        argv: vec![INIT_PATH.to_string(), "health".to_string()],
        interval: 5,
        timeout: 5,
        retries: 3,
        start_period: Some(10),
    }
}

/// The `HEALTHCHECK` that runs `check`: its interval, its timeout (else the http plugin's
/// default), its occurrences as the retries (else 3).
///
/// The command runs under `timeout -s KILL`: Docker gives up on a health command at its
/// timeout but leaves the process running, so a hanging check would pile up a process
/// per interval. `timeout` kills the command's whole process group instead.
fn healthcheck(check: &CheckPlan) -> Healthcheck {
    let sensu = &check.sensu;
    let timeout = sensu.timeout.unwrap_or(HTTP_TIMEOUT);
    Healthcheck {
        check: Some(check.name.clone()),
        // The command is sh's `$0`, so no quoting of it is needed.
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("timeout -s KILL {timeout} /bin/sh -c \"$0\" || exit 1"),
            sensu.command.clone(),
        ],
        interval: sensu.interval,
        timeout,
        retries: sensu.occurrences.unwrap_or(3),
        start_period: None,
    }
}

/// The user's apt packages and what the image needs: runit for the init, curl and CA
/// certificates for http checks. Sorted, once each.
fn packages(m: &Manifest) -> Vec<String> {
    let mut packages: Vec<String> = m.image.packages.clone();
    if m.image.init == Init::Runit {
        packages.push("runit".into());
    }
    if m.checks.values().any(|c| c.http.is_some()) {
        packages.extend(["curl".into(), "ca-certificates".into()]);
    }
    packages.sort();
    packages.dedup();
    packages
}

/// The title, the authors (from `maintainer`) and the user's labels, which win.
fn labels(m: &Manifest) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.title".to_string(),
        m.app.name.clone(),
    );
    if let Some(maintainer) = &m.image.maintainer {
        labels.insert(
            "org.opencontainers.image.authors".to_string(),
            maintainer.clone(),
        );
    }
    labels.extend(m.image.labels.clone());
    labels
}

/// The users to create: every service's and task's, the log user when some service logs,
/// and the owners of shipped files.
fn users(
    services: &[ServicePlan],
    tasks: &[ServicePlan],
    log: &Log,
    files: &[ShippedPlan],
    ids: &BTreeMap<String, UserIds>,
) -> Vec<UserPlan> {
    let mut users: Vec<String> = services
        .iter()
        .chain(tasks)
        .filter_map(|s| s.user.clone())
        .collect();
    users.extend(files.iter().filter_map(|f| f.owner.clone()));
    if services.iter().any(|s| s.log.is_some()) {
        users.push(log.user.clone());
    }
    users.extend(ids.keys().cloned());
    users.retain(|u| u != "root");
    users.sort();
    users.dedup();
    users
        .into_iter()
        .map(|name| {
            let fixed = ids.get(&name);
            UserPlan {
                uid: fixed.map(|i| i.uid),
                gid: fixed.map(|i| i.gid.unwrap_or(i.uid)),
                name,
            }
        })
        .collect()
}

fn resolve_file(path: &str, f: &ShippedFile, dir: &Utf8Path) -> ShippedPlan {
    let from = f.from().map(|from| dir.join(from));
    ShippedPlan {
        path: path.to_string(),
        context_path: from.as_ref().map(|_| format!("root{path}")),
        from,
        owner: f.owner().filter(|o| *o != "root").map(str::to_string),
        mode: f
            .mode()
            .map(|m| u32::from_str_radix(m, 8).expect("validated mode")),
        file_mode: f
            .file_mode()
            .map(|m| u32::from_str_radix(m, 8).expect("validated mode")),
    }
}

/// The commands that set up shipped paths after the copies: empty directories to make
/// (0755 unless a mode is given); owners to set, on all of a copy; explicit modes to set
/// on copies (a copied directory's own mode: a file's is already in the context).
///
/// Owners are set by `chown OWNER:`, the owner's own primary group whatever its name, and
/// not by `COPY --chown=OWNER:OWNER`, which needs a group named like the user (Debian's
/// `nobody` is in `nogroup`). An owned copy's files are so in the image twice, in the
/// copy's layer and in the chown's.
fn file_setup(files: &[ShippedPlan], volumes: &[String]) -> Vec<Vec<String>> {
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    let mut commands = Vec::new();
    // A volume that `[files]` does not name is a root-owned directory.
    for volume in volumes
        .iter()
        .filter(|v| !files.iter().any(|f| &f.path == *v))
    {
        commands.push(argv(&["mkdir", "-p", volume]));
    }
    for f in files {
        let path = f.path.as_str();
        if f.from.is_none() {
            commands.push(argv(&["mkdir", "-p", path]));
        }
        if let Some(owner) = &f.owner {
            let owner = format!("{owner}:");
            match f.from {
                Some(_) => commands.push(argv(&["chown", "-R", &owner, path])),
                None => commands.push(argv(&["chown", &owner, path])),
            }
        }
        let mode = match (f.mode, &f.from) {
            (Some(mode), _) => Some(mode),
            (None, None) => Some(0o755),
            (None, Some(_)) => None,
        };
        if let Some(mode) = mode {
            commands.push(argv(&["chmod", &format!("{mode:04o}"), path]));
        }
    }
    commands
}

fn resolve_log(log: &Log, services: &[ServicePlan]) -> LogPlan {
    LogPlan {
        user: log.user.clone(),
        dir: log.dir.clone(),
        stdout: log.stdout,
        dirs: services
            .iter()
            .filter_map(|s| s.log.as_ref().map(|l| l.dir.clone()))
            .collect(),
    }
}

fn svlogd_config(log: &Log) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(s) = log.max_size {
        lines.push(format!("s{s}"));
    }
    if let Some(n) = log.keep {
        lines.push(format!("n{n}"));
    }
    if log.stdout {
        // svlogd's alert pattern: every line is also written to svlogd's stderr.
        lines.push("e*".into());
    }
    lines
}
