//! `build TAG`: the whole pipeline, from a plan to a tagged image, decided first and then
//! done. One file a step, in the order they run:
//!
//! - [`probe`] (`probe.rs`) asks the host the few read-only questions a decision needs:
//!   the builder (`builder.rs` chooses for `auto`), `cargo metadata`, the git revision;
//! - [`decide`] (`decide.rs`) turns the plan and those [`Facts`] into the list of
//!   [`Action`]s, a pure function: reach the Docker engine, compile (`compile.rs`; with
//!   `[build] packages` checked on the host or installed in cross's image by
//!   `packages.rs`; a failed build script explained by `programs.rs`, a missing program
//!   named first, then `clibs.rs`, a missing C library), stage the context (`stage.rs`,
//!   checking each binary with `elf.rs`) unless it is up to date (`up_to_date.rs`),
//!   `docker build`, check the image can run its binaries (`runtime.rs`), tag, push;
//! - [`execute`] (`execute.rs`) reports each action in order and hands it to a [`Runner`],
//!   passing on what the actions before it made: [`HostRunner`] (`host_runner.rs`) does it,
//!   [`DryRun`] does nothing (the report says what would run), a test's runner records it.
//!
//! From staging to the image ID, [`HostRunner`] holds the lock of the build directory: two
//! builds of one app take turns (cargo serializes their compiles itself). With several
//! platforms (`platforms.rs`), each platform's directory has a lock of its own, so that
//! the platforms of one build go side by side. An interrupt
//! removes the staged context.

pub mod attach;
pub mod builder;
pub mod clibs;
pub mod compile;
pub mod contents;
mod decide;
pub mod elf;
mod execute;
mod host_runner;
mod packages;
mod platforms;
mod probe;
pub mod programs;
pub mod runtime;
pub mod sbom;
pub mod stage;
mod up_to_date;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::docker;
use crate::host::exec::Step;
use crate::host::project::Trust;
use crate::manifest::Builder;
use crate::plan::Plan;
use crate::render;
use stage::BuildDir;

pub use decide::{Action, Binary, Reuse, Together, decide, decide_together};
pub use execute::{DryRun, Runner, execute};
pub use host_runner::{Engine, HostRunner, Prefetch};
pub use probe::{CompileFacts, Facts, How, probe};
pub use up_to_date::context_digest;

pub struct Options {
    /// At least one; the first is the version label.
    pub tags: Vec<String>,
    pub dry_run: bool,
    pub no_cache: bool,
    /// `--builder`: overrides `app.builder` for this run.
    pub builder: Option<Builder>,
    /// `--vendor`: the container builder's crates are vendored, as `[build] vendor`.
    pub vendor: bool,
    /// `--cache REF`: the container builder's layer cache, as `[build] cache`.
    pub cache: Option<String>,
    /// `--push`: push every tag after the build.
    pub push: bool,
    /// `--verbose`: stream cargo's and docker's output; else it is shown only on failure.
    pub verbose: bool,
}

/// What the build tells its caller as it goes.
pub enum Event<'a> {
    /// A step about to run (or, in a dry run, that would run).
    Step(&'a Step),
    /// A read-only probe about to run (in dry runs too).
    Probe(&'a Step),
    /// The context about to be staged (or, in a dry run, that would be) into this directory.
    Stage(&'a Utf8Path),
    /// The SBOM at this path about to be attached to the image pushed to this repository.
    Attach(&'a Utf8Path, &'a str),
    /// A decision or a wait worth knowing (which builder and why).
    Note(String),
    /// The action announced last is done, after this long.
    Done(std::time::Duration),
}

/// A built image.
#[derive(Debug)]
pub struct Built {
    /// `<repository>:<tag>`, one for each tag.
    pub references: Vec<String>,
    pub image_id: String,
    /// `<repository>@sha256:…`, the registry's digest, when the image was pushed.
    pub digest: Option<String>,
    /// The staged context that was built.
    pub context: Utf8PathBuf,
    /// The image's SBOM, beside the context (the host's platform's, for several).
    pub sbom: Utf8PathBuf,
    /// `<repository>@sha256:…` of the SBOM attached to the pushed image (one platform).
    pub sbom_digest: Option<String>,
    /// The builder that compiled the binaries; none for a `prebuilt` one.
    pub builder: Option<&'static str>,
    /// For several targets: each platform's image, in the order of `app.target`. Then
    /// `references` and `image_id` are the host's platform's, and `digest` is the image
    /// index's.
    pub platforms: Vec<PlatformBuilt>,
}

/// One platform's image, of several (as `build --json` lists it).
#[derive(Debug, serde::Serialize)]
pub struct PlatformBuilt {
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    /// `<repository>:<tag>-<arch>`, one for each tag.
    pub references: Vec<String>,
    pub image_id: String,
    /// `<repository>@sha256:…` of its manifest, when pushed.
    pub digest: Option<String>,
    /// Its SBOM, beside its context.
    pub sbom: Utf8PathBuf,
    /// `<repository>@sha256:…` of its SBOM, attached to its pushed manifest.
    pub sbom_digest: Option<String>,
}

/// What an action made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Product {
    /// `docker build`: the image ID.
    ImageId(String),
    /// Staging found every tag already on the image built from this very context: its ID.
    /// The `docker build` that follows is not needed.
    Current(String),
    /// `docker push`: the pushed manifest's digest (`sha256:…`).
    Digest(String),
    /// `docker pull` of a cache image the registry does not have (a first build).
    NoCache(String),
    /// The SBOM attached to a pushed image: the artifact's digest (`sha256:…`).
    Attached(String),
}

/// What the actions made, together.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Made {
    pub image_id: Option<String>,
    pub digest: Option<String>,
    /// The digest of the SBOM attached to the pushed image.
    pub sbom_digest: Option<String>,
}

/// Lower-case hexadecimal of `bytes` (digests, and tags made from them).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where `build` stages the context of `plan`: in a directory the tool owns, which also
/// holds `image-id`, the ID docker wrote for the last build, and the lock two builds of the
/// app take turns on (see [`BuildDir`]).
/// With several platforms, each has a directory of its own there: `<arch>/context`.
pub fn context_dir(plan: &Plan) -> Utf8PathBuf {
    let dir = BuildDir::path(&plan.manifest_dir, &plan.app.name);
    match &plan.platform {
        Some(platform) => dir.join(&platform.arch).join("context"),
        None => dir.join("context"),
    }
}

/// Where `cargo vendor` puts the container builder's crates, beside the context.
pub(crate) fn vendor_dir(plan: &Plan) -> Utf8PathBuf {
    context_dir(plan).with_file_name("vendor")
}

/// Runs the build: probe, decide, then execute with the real runner, or with the dry-run
/// runner for `--dry-run`. Returns the image, or `None` for a dry run.
/// With several targets, every platform's image is built (side by side), then
/// `<name>:<TAG>` is tagged and (with `--push`) the image index pushed: see `platforms.rs`.
pub fn build(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Option<Built>, Error> {
    for tag in &opts.tags {
        docker::validate_tag(tag)?;
    }
    let plan = &plan.with_overrides(opts.builder, opts.vendor, opts.cache.as_deref());
    if opts.vendor && !plan.in_container() {
        return Err(Error::Argument(
            "--vendor is for the container builder: set app.builder = \"container\", or add --builder container".to_string(),
        ));
    }
    if plan.several_platforms() {
        return platforms::build(plan, opts, report);
    }
    build_one(plan, opts, report)
}

/// The build of one platform's image: probe, decide, execute.
fn build_one(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Option<Built>, Error> {
    let decided = Probed::new(plan, opts, None, report)?.decide(plan, opts, Together::Alone);
    run(plan, opts, decided, report)
}

/// One platform's build up to its decision: the rendered files, the engine check begun,
/// and the probed facts.
struct Probed {
    tree: render::FileTree,
    engine: Option<Engine>,
    facts: Facts,
}

impl Probed {
    /// Renders and probes for `plan`; for another platform of the same build, reusing
    /// what the `first` platform's probes found that holds for every platform.
    fn new(
        plan: &Plan,
        opts: &Options,
        first: Option<&Probed>,
        report: &mut dyn FnMut(Event),
    ) -> Result<Probed, Error> {
        let tree = render::render(plan)?;
        let engine = begin_engine_check(plan, opts);
        let facts = match first {
            None => probe(plan, opts, report),
            Some(first) => probe::probe_another_platform(plan, opts, &first.facts, report),
        };
        Ok(Probed {
            tree,
            engine,
            facts,
        })
    }

    /// What compiling needs, when the binaries are compiled and the probes found no error.
    fn compile_facts(&self) -> Option<&CompileFacts> {
        match &self.facts.how {
            Ok(How::Compile(c)) => Some(c),
            _ => None,
        }
    }

    /// The actions, decided from the facts.
    fn decide(self, plan: &Plan, opts: &Options, together: Together) -> Decided {
        let builder = match &self.facts.how {
            Ok(How::Container) => Some(Builder::Container.name()),
            _ => self.compile_facts().map(|c| c.choice.builder.name()),
        };
        Decided {
            actions: decide_together(plan, opts, self.facts, together),
            builder,
            tree: self.tree,
            engine: self.engine,
        }
    }
}

/// The engine check, begun (none for a dry run): where docker would use the default
/// socket, a ping there; else the CLI's (asking for the image of every tag), which runs
/// while the host is probed. The Engine action takes it in its turn.
fn begin_engine_check(plan: &Plan, opts: &Options) -> Option<Engine> {
    (!opts.dry_run).then(|| {
        if docker::answers_at_default_socket() {
            Engine::Answered
        } else {
            Engine::Started(Prefetch::start(engine_step(plan, opts)))
        }
    })
}

/// One platform's build, decided: what [`run`] needs.
struct Decided {
    actions: Vec<Action>,
    /// The builder that compiles the binaries, for [`Built::builder`].
    builder: Option<&'static str>,
    tree: render::FileTree,
    engine: Option<Engine>,
}

/// Executes the decided actions (for real, or reported only for `--dry-run`) and names
/// the image they made, with the builder that compiled its binaries.
fn run(
    plan: &Plan,
    opts: &Options,
    decided: Decided,
    report: &mut dyn FnMut(Event),
) -> Result<Option<Built>, Error> {
    let Decided {
        actions,
        builder,
        tree,
        engine,
    } = decided;
    let made = if opts.dry_run {
        execute(actions, &mut DryRun, report)?
    } else {
        execute(
            actions,
            &mut HostRunner::new(plan, tree, engine, opts.verbose),
            report,
        )?
    };
    let repository = &plan.image.repository;
    Ok(made.image_id.map(|image_id| Built {
        references: references(plan, opts),
        image_id,
        digest: made.digest.map(|d| format!("{repository}@{d}")),
        context: context_dir(plan),
        sbom: contents::beside(&context_dir(plan)),
        sbom_digest: made.sbom_digest.map(|d| format!("{repository}@{d}")),
        builder,
        platforms: Vec::new(),
    }))
}

/// A real build runs the project's code anyway (its build scripts): its probes run as the
/// compile will. A dry run runs nothing the project names.
pub(crate) fn trust(opts: &Options) -> Trust {
    if opts.dry_run {
        Trust::Nothing
    } else {
        Trust::Project
    }
}

/// `<repository>:<tag>` for every tag the build makes; `<repository>:<tag>-<arch>` for
/// one of several platforms.
pub(crate) fn references(plan: &Plan, opts: &Options) -> Vec<String> {
    let repository = &plan.image.repository;
    opts.tags
        .iter()
        .map(|tag| match &plan.platform {
            Some(platform) => platform.reference(repository, tag),
            None => format!("{repository}:{tag}"),
        })
        .collect()
}

/// The engine check, which also asks for the image ID of every reference the build makes.
pub(crate) fn engine_step(plan: &Plan, opts: &Options) -> Step {
    docker::image_ids_step(&references(plan, opts))
}

#[cfg(test)]
mod tests {
    use super::builder::Choice;
    use super::packages::OnHost;
    use super::*;

    /// Writes down each action it is given; runs nothing.
    struct Recording(Vec<String>);

    impl Runner for Recording {
        fn act(
            &mut self,
            action: &Action,
            made: &Made,
            _: &mut dyn FnMut(Event),
        ) -> Result<Option<Product>, Error> {
            let image = made.image_id.as_deref().unwrap_or("none");
            let name = match action {
                Action::Engine(_) => "engine".to_string(),
                Action::Note(note) => format!("note {note}"),
                Action::Fail(_) => "fail".into(),
                Action::Compile { step, .. } => format!("compile: {}", step.command_line()),
                Action::CrossImage(made) => format!("cross image: {}", made.tag),
                Action::Vendor(step) => format!("vendor: {}", step.command_line()),
                Action::PullCache(step) => format!("pull: {}", step.command_line()),
                Action::BuildStage(step) => format!("build stage: {}", step.command_line()),
                Action::Stage { binary, .. } => format!("stage {binary:?}"),
                Action::DockerBuild { .. } => "docker build".into(),
                Action::Contents(_) => format!("sbom {image}"),
                Action::CheckRuntime { .. } => format!("check {image}"),
                Action::Tag { reference, .. } => format!("tag {image} {reference}"),
                Action::Push { reference, .. } => format!("push {reference}"),
                Action::Index { reference, .. } => format!("index {reference}"),
                Action::Attach { sbom, repository } => {
                    format!(
                        "attach {sbom} to {repository}@{}",
                        made.digest.as_deref().unwrap_or("none")
                    )
                }
            };
            self.0.push(name);
            Ok(match action {
                Action::DockerBuild { .. } => Some(Product::ImageId("sha256:x".into())),
                Action::Push { .. } => Some(Product::Digest("sha256:d".into())),
                Action::Attach { .. } => Some(Product::Attached("sha256:a".into())),
                _ => None,
            })
        }
    }

    fn plan(extra: &str) -> (tempfile::TempDir, Plan) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8PathBuf::from_path_buf(tmp.path().to_owned()).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "").unwrap();
        std::fs::write(dir.join("app.bin"), "").unwrap();
        let text = format!(
            "[app]\nname = \"demo\"\ntarget = \"x86_64-unknown-linux-musl\"\n{extra}\n[services.demo]\n"
        );
        let loaded = crate::manifest::load::from_text(&text, &dir).unwrap();
        (tmp, crate::plan::resolve(&loaded))
    }

    fn options() -> Options {
        Options {
            tags: vec!["v1".into()],
            dry_run: false,
            no_cache: false,
            builder: None,
            vendor: false,
            cache: None,
            push: false,
            verbose: false,
        }
    }

    /// Facts for a compiled app whose package has the bin targets `bins`.
    fn compiled(bins: &[&str]) -> Facts {
        compiled_with(
            bins,
            crate::manifest::Builder::Cargo,
            OnHost::Installed,
            None,
        )
    }

    /// [`compiled`], by `builder`, with what the host said of `[build] packages` and
    /// cross's image.
    fn compiled_with(
        bins: &[&str],
        builder: crate::manifest::Builder,
        on_host: OnHost,
        cross_image: Option<&str>,
    ) -> Facts {
        Facts {
            how: Ok(How::Compile(Box::new(CompileFacts {
                choice: Choice {
                    builder,
                    reason: "chosen".into(),
                    rust_lld: false,
                },
                metadata: compile::Metadata {
                    target_directory: "/t".into(),
                    workspace_root: "/w".into(),
                    bins: bins.iter().map(|b| b.to_string()).collect(),
                    unmet_features: Default::default(),
                },
                lockfile: true,
                remap: Default::default(),
                on_host,
                cross_image: cross_image.map(str::to_string),
            }))),
            revision: Some("abc".into()),
            created: None,
        }
    }

    /// Runs the actions with a recording runner: what it did, what was reported, the result.
    fn record(actions: Vec<Action>) -> (Vec<String>, Vec<String>, Result<Made, Error>) {
        let mut runner = Recording(Vec::new());
        let mut events = Vec::new();
        let result = execute(actions, &mut runner, &mut |e| {
            events.push(match e {
                Event::Step(step) | Event::Probe(step) => format!("step {}", step.summary),
                Event::Stage(_) => "stage".into(),
                Event::Attach(sbom, _) => format!("attach {sbom}"),
                Event::Note(note) => format!("note {note}"),
                Event::Done(_) => return,
            })
        });
        (runner.0, events, result)
    }

    #[test]
    fn a_compiled_app_reaches_the_engine_compiles_stages_and_builds_in_that_order() {
        let (_tmp, plan) = plan("binary = [\"demo\", \"worker\"]");
        let facts = compiled(&["demo", "worker"]);
        let (done, events, result) = record(decide(&plan, &options(), facts));
        assert_eq!(
            done,
            [
                "engine",
                "note builder: cargo (chosen)",
                "compile: cargo build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --profile release --bin demo --bin worker --locked",
                "stage Compiled([\"/t/x86_64-unknown-linux-musl/release/demo\", \"/t/x86_64-unknown-linux-musl/release/worker\"])",
                "docker build",
                "sbom sha256:x",
            ]
        );
        assert_eq!(
            events,
            [
                "step reach the Docker engine",
                "note builder: cargo (chosen)",
                "step compile the app with cargo",
                "stage",
                "step build the image with docker",
                "step add the SBOM and provenance labels to the image",
            ]
        );
        assert_eq!(result.unwrap().image_id.as_deref(), Some("sha256:x"));
    }

    #[test]
    fn a_platform_compiled_before_stages_what_that_compile_made() {
        let (_tmp, plan) = plan("binary = \"demo\"");
        let actions = decide_together(&plan, &options(), compiled(&["demo"]), Together::Compiled);
        let (done, _, _) = record(actions);
        assert_eq!(
            done,
            [
                "engine",
                "stage Compiled([\"/t/x86_64-unknown-linux-musl/release/demo\"])",
                "docker build",
                "sbom sha256:x"
            ]
        );
        // A binary that is no bin target still fails, before staging.
        let (_tmp, plan) = self::plan("binary = \"dmeo\"");
        let actions = decide_together(&plan, &options(), compiled(&["demo"]), Together::Compiled);
        let (done, _, result) = record(actions);
        assert_eq!(done, ["engine"]);
        assert!(result.is_err());
    }

    #[test]
    fn an_unknown_binary_fails_after_the_engine_check_and_before_compiling() {
        let (_tmp, plan) = plan("binary = [\"demo\", \"wroker\"]");
        let (done, _, result) = record(decide(&plan, &options(), compiled(&["demo", "worker"])));
        assert_eq!(done, ["engine"]);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("no binary target `wroker` (app.binary), did you mean `worker`?"),
            "{err}"
        );
    }

    #[test]
    fn build_packages_missing_on_the_host_stop_the_build_before_compiling() {
        let (_tmp, plan) = plan("binary = \"demo\"\n[build]\npackages = [\"protobuf-compiler\"]");
        let missing = OnHost::Missing(vec!["protobuf-compiler".into()]);
        let facts = compiled_with(&["demo"], crate::manifest::Builder::Cargo, missing, None);
        let (done, _, result) = record(decide(&plan, &options(), facts));
        assert_eq!(done, ["engine"]);
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "[build] packages not installed on this host, where cargo compiles: protobuf-compiler (nothing was compiled)\nhint: run `sudo apt-get install protobuf-compiler`, or compile in the image's build stage, which installs them: builder = \"container\" in [app]"
        );
    }

    #[test]
    fn cross_compiles_in_its_image_made_with_the_build_packages() {
        let (_tmp, plan) = plan("binary = \"demo\"\n[build]\npackages = [\"protobuf-compiler\"]");
        let facts = compiled_with(
            &["demo"],
            crate::manifest::Builder::Cross,
            OnHost::Installed,
            Some("ghcr.io/cross-rs/x86_64-unknown-linux-musl:0.2.5"),
        );
        let (done, _, _) = record(decide(&plan, &options(), facts));
        let tag = done[2].strip_prefix("cross image: ").unwrap();
        assert!(
            tag.starts_with("buildkit-lite-cross:x86_64-unknown-linux-musl-"),
            "{done:?}"
        );
        assert_eq!(
            done[3],
            format!(
                "compile: CROSS_TARGET_X86_64_UNKNOWN_LINUX_MUSL_IMAGE={tag} cross build --manifest-path Cargo.toml --target x86_64-unknown-linux-musl --profile release --bin demo --locked"
            )
        );
    }

    #[test]
    fn push_pushes_every_tag_after_the_build_then_attaches_the_sbom_to_its_digest() {
        let (_tmp, plan) = plan("binary = \"demo\"");
        let opts = Options {
            tags: vec!["v1".into(), "latest".into()],
            push: true,
            ..options()
        };
        let (done, _, result) = record(decide(&plan, &opts, compiled(&["demo"])));
        let sbom = context_dir(&plan).with_file_name("sbom.cdx.json");
        assert_eq!(
            done[done.len() - 4..],
            [
                "sbom sha256:x".to_string(),
                "push demo:v1".into(),
                "push demo:latest".into(),
                format!("attach {sbom} to demo@sha256:d"),
            ]
        );
        let made = result.unwrap();
        assert_eq!(made.image_id.as_deref(), Some("sha256:x"));
        assert_eq!(made.digest.as_deref(), Some("sha256:d"));
        assert_eq!(made.sbom_digest.as_deref(), Some("sha256:a"));
    }

    #[test]
    fn the_container_builder_compiles_nothing_here_and_vendors_when_asked() {
        let (_tmp, plan) = plan("binary = \"demo\"\nbuilder = \"container\"\nlocked = false");
        let facts = || Facts {
            how: Ok(How::Container),
            revision: None,
            created: None,
        };
        let (done, _, _) = record(decide(&plan, &options(), facts()));
        assert_eq!(
            done,
            [
                "engine",
                "note builder: container (compiles in the image's build stage, from rust:1-bookworm)",
                "stage InImage",
                "docker build",
                "sbom sha256:x",
            ]
        );
        let vendored = plan.with_overrides(None, true, None);
        let (done, _, _) = record(decide(&vendored, &options(), facts()));
        assert!(
            done[2].starts_with("vendor: cargo vendor --versioned-dirs --manifest-path"),
            "{done:?}"
        );
        assert_eq!(done[3], "stage InImage");
        // With --locked (the default), a missing Cargo.lock stops it before staging.
        let (_tmp, plan) = self::plan("binary = \"demo\"\nbuilder = \"container\"");
        let (done, _, result) = record(decide(&plan, &options(), facts()));
        assert_eq!(done, ["engine"]);
        assert!(result.unwrap_err().to_string().contains("there is none"));
    }

    #[test]
    fn a_prebuilt_binary_is_staged_without_compiling() {
        let (_tmp, plan) = plan("binary = \"demo\"\nprebuilt = \"app.bin\"");
        let path = plan.manifest_dir.join("app.bin");
        let facts = Facts {
            how: Ok(How::Prebuilt(path.clone())),
            revision: None,
            created: None,
        };
        let (done, _, _) = record(decide(&plan, &options(), facts));
        let stage = format!("stage Prebuilt({path:?})");
        // A prebuilt binary may link dynamically: the image is built untagged, checked,
        // then tagged.
        assert_eq!(
            done,
            [
                "engine",
                stage.as_str(),
                "docker build",
                "sbom sha256:x",
                "check sha256:x",
                "tag sha256:x demo:v1"
            ]
        );
        let facts = Facts {
            how: Ok(How::Prebuilt(path.clone())),
            revision: None,
            created: None,
        };
        let actions = decide(&plan, &options(), facts);
        let build = actions.iter().find_map(|a| match a {
            Action::DockerBuild { step, .. } => Some(step.command_line()),
            _ => None,
        });
        assert!(!build.unwrap().contains("--tag"), "built untagged");
    }

    #[test]
    fn a_decision_that_failed_fails_after_the_engine_check() {
        let (_tmp, plan) = plan("binary = \"demo\"");
        let no_builder = Error::NoBuilder {
            target: "x86_64-unknown-linux-musl".into(),
        };
        let facts = Facts {
            how: Err(no_builder),
            revision: None,
            created: None,
        };
        let (done, _, result) = record(decide(&plan, &options(), facts));
        assert_eq!(done, ["engine"]);
        assert!(matches!(result, Err(Error::NoBuilder { .. })));
    }

    #[test]
    fn a_dry_run_does_nothing_and_builds_no_image() {
        let (_tmp, plan) = plan("binary = \"demo\"");
        let mut reported = 0;
        let actions = decide(&plan, &options(), compiled(&["demo"]));
        let made = execute(actions, &mut DryRun, &mut |e| {
            if !matches!(e, Event::Done(_)) {
                reported += 1
            }
        });
        assert_eq!(made.unwrap(), Made::default());
        assert_eq!(reported, 6);
    }
}
