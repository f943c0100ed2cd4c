//! `build TAG`: the whole pipeline, from a plan to a tagged image, decided first and then
//! done.
//!
//! [`probe`] asks the host the few read-only questions a decision needs (the `auto`
//! builder, the git revision); [`decide`] turns the plan and those [`Facts`] into the list
//! of [`Action`]s, a pure function: reach the Docker engine, check the build directory's
//! path, compile and locate the binary (unless `prebuilt`), stage the context under
//! `<manifest dir>/target/buildkit-lite/<app>/context`, `docker build`. [`execute`] reports
//! each action and hands it to a [`Runner`]: [`Real`] does it, [`DryRun`] does nothing (the
//! report says what would run), a test's recording runner writes it down.
//!
//! From staging to the image ID, [`Real`] holds the lock of the build directory: two builds
//! of one app take turns (cargo serializes their compiles itself). An interrupt removes the
//! staged context. Nothing here prints.

use camino::{Utf8Path, Utf8PathBuf};

use crate::builder::{self, Choice};
use crate::error::Error;
use crate::exec::{self, Step};
use crate::manifest::Builder;
use crate::plan::Plan;
use crate::project::Trust;
use crate::render::{self, Contents, File, FileTree};
use crate::stage::{self, BuildDir, Replace};
use crate::{clibs, compile, docker, elf, project, runtime};

pub struct Options {
    /// At least one; the first is the version label.
    pub tags: Vec<String>,
    pub dry_run: bool,
    pub no_cache: bool,
    /// `--builder`: overrides `app.builder` for this run.
    pub builder: Option<Builder>,
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
    /// The builder that compiled the binaries; none for a `prebuilt` one.
    pub builder: Option<&'static str>,
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
}

/// What the actions made, together.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Made {
    pub image_id: Option<String>,
    pub digest: Option<String>,
}

/// Where `build` stages the context of `plan`: in a directory the tool owns, which also
/// holds `image-id`, the ID docker wrote for the last build, and the lock two builds of the
/// app take turns on (see [`BuildDir`]).
pub fn context_dir(plan: &Plan) -> Utf8PathBuf {
    BuildDir::path(&plan.manifest_dir, &plan.app.name).join("context")
}

/// Runs the build: probe, decide, then execute with the real runner, or with the dry-run
/// runner for `--dry-run`. Returns the image, or `None` for a dry run.
pub fn build(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Option<Built>, Error> {
    for tag in &opts.tags {
        docker::validate_tag(tag)?;
    }
    let tree = render::render(plan)?;
    // The engine check: where docker would use the default socket, a ping there; else the
    // CLI's (asking for the image of every tag), which runs while the host is probed. The
    // Engine action takes it in its turn.
    let engine = (!opts.dry_run).then(|| {
        if docker::answers_at_default_socket() {
            Engine::Answered
        } else {
            Engine::Started(Prefetch::start(engine_step(plan, opts)))
        }
    });
    let facts = probe(plan, opts, report);
    let builder = match &facts.how {
        Ok(How::Compile(c)) => Some(c.choice.builder.name()),
        _ => None,
    };
    let actions = decide(plan, opts, facts);
    let made = if opts.dry_run {
        execute(actions, &mut DryRun, report)?
    } else {
        execute(
            actions,
            &mut Real::new(plan, tree, engine, opts.verbose),
            report,
        )?
    };
    let repository = &plan.image.repository;
    Ok(made.image_id.map(|image_id| Built {
        references: references(plan, opts),
        image_id,
        digest: made.digest.map(|d| format!("{repository}@{d}")),
        context: context_dir(plan),
        builder,
    }))
}

/// What the read-only probes found.
pub struct Facts {
    /// Where the binary comes from, or why the build cannot go on.
    pub how: Result<How, Error>,
    /// The commit of the manifest's git checkout, if it is in one.
    pub revision: Option<String>,
}

/// Where the binary comes from.
pub enum How {
    /// `app.prebuilt`, a file inside the project.
    Prebuilt(Utf8PathBuf),
    /// Compiled.
    Compile(CompileFacts),
}

/// What compiling needs to know.
pub struct CompileFacts {
    /// The builder, and why.
    pub choice: Choice,
    /// What `cargo metadata` says: the bin targets, where cargo writes.
    pub metadata: compile::Metadata,
    /// The cargo workspace has a `Cargo.lock`: the compile then passes `--locked` (unless
    /// `app.locked = false`), so the image is built from the committed lockfile.
    pub lockfile: bool,
}

/// Asks the host what [`decide`] needs, creating nothing: whether the build directory's
/// path stays inside the project (first: the builder probes run cargo, which writes into
/// `target`), the builder (only `auto` probes, with quick read-only commands), `cargo
/// metadata` (reported as it runs), whether the workspace has a `Cargo.lock`, and the git
/// revision.
pub fn probe(plan: &Plan, opts: &Options, report: &mut dyn FnMut(Event)) -> Facts {
    std::thread::scope(|side| {
        let revision = side.spawn(|| {
            let rev = docker::revision_step(&plan.manifest_dir).output();
            rev.ok().map(|s| s.trim().to_string())
        });
        let how = BuildDir::check(&plan.manifest_dir, &plan.app.name).and_then(|()| {
            match &plan.app.prebuilt {
                Some(path) => Ok(How::Prebuilt(path.clone())),
                None => compile_facts(plan, opts, report).map(How::Compile),
            }
        });
        let revision = revision.join().unwrap_or(None);
        Facts { how, revision }
    })
}

fn compile_facts(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<CompileFacts, Error> {
    let trust = trust(opts);
    report(Event::Probe(&compile::metadata_step(
        &plan.app,
        &plan.manifest_dir,
        trust,
    )));
    // Side by side: cargo metadata, and the builder's probes. `cargo metadata --no-deps`
    // writes no Cargo.lock, so the lockfile is looked for as soon as it answers: only a
    // lockfile the project has makes the compile --locked. (`cross --version`, probed only
    // when cargo cannot build here, may write one; a lockfile cargo just resolved is one
    // --locked accepts.)
    let (choice, metadata) = std::thread::scope(|side| {
        let metadata = side.spawn(|| {
            compile::metadata(&plan.app, &plan.manifest_dir, trust).map(|m| {
                let lockfile = m.has_lockfile();
                (m, lockfile)
            })
        });
        let choice = choose_builder(plan, opts);
        (choice, metadata.join())
    });
    let (metadata, lockfile) = metadata.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    Ok(CompileFacts {
        choice: choice?,
        metadata,
        lockfile,
    })
}

/// `--builder`, else `app.builder`; `auto` asks the host.
fn choose_builder(plan: &Plan, opts: &Options) -> Result<Choice, Error> {
    let target = &plan.app.target;
    match opts.builder {
        Some(named) if named != Builder::Auto => Ok(Choice {
            builder: named,
            reason: format!("--builder {} on the command line", named.name()),
        }),
        wanted => builder::choose(
            wanted.unwrap_or(plan.app.builder),
            target,
            &mut builder::RealHost::new(
                target,
                &plan.app.cargo_manifest,
                &plan.manifest_dir,
                trust(opts),
            ),
        ),
    }
}

/// A real build runs the project's code anyway (its build scripts): its probes run as the
/// compile will. A dry run runs nothing the project names.
fn trust(opts: &Options) -> Trust {
    if opts.dry_run {
        Trust::Nothing
    } else {
        Trust::Project
    }
}

/// One thing the build does.
#[derive(Debug)]
pub enum Action {
    /// Reach the Docker engine, listing the repository's images: before anything is
    /// compiled.
    Engine(Step),
    /// Tell the user a decision.
    Note(String),
    /// A decision that could not be taken, reported in its turn (after the engine check).
    Fail(Error),
    /// Compile the app.
    Compile(Step),
    /// Stage the context, with the binary, into the locked build directory; unless
    /// `reuse` finds the image of every tag already built from the same context.
    Stage {
        binary: Binary,
        context: Utf8PathBuf,
        reuse: Option<Reuse>,
    },
    /// `docker build` the staged context; docker writes the image ID into `image_id_file`.
    /// Untagged when [`Action::CheckRuntime`] follows: the tags move only once it passes.
    DockerBuild {
        step: Step,
        image_id_file: Utf8PathBuf,
    },
    /// Check in the new image that each dynamically linked binary finds what it needs at
    /// run time (`runtime.rs`). `shown` is the check as a dry run prints it.
    CheckRuntime { binary: Binary, shown: Step },
    /// Name the new image `reference` (`docker tag`), after its run-time check.
    Tag { reference: String, shown: Step },
    /// `docker push` one tag (`--push`); the image stays local whatever happens.
    Push { step: Step, reference: String },
}

/// What makes a built image current: its references, and the `docker build` line that
/// built it (labels and all), which goes into the context's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reuse {
    pub references: Vec<String>,
    pub build_line: String,
}

/// Where the binaries to stage come from, in the order of `plan.app.binaries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binary {
    /// `app.prebuilt`, a file inside the project.
    Prebuilt(Utf8PathBuf),
    /// What the compile produces, at these paths.
    Compiled(Vec<Utf8PathBuf>),
}

/// The actions of a build, in order. Pure: the facts were probed before.
pub fn decide(plan: &Plan, opts: &Options, facts: Facts) -> Vec<Action> {
    let mut actions = vec![Action::Engine(engine_step(plan, opts))];
    let binary = match facts.how.and_then(|how| compiled(plan, how)) {
        Err(cannot) => {
            actions.push(Action::Fail(cannot));
            return actions;
        }
        Ok((binary, compile)) => {
            actions.extend(compile);
            binary
        }
    };
    let context = context_dir(plan);
    let image_id_file = context.with_file_name("image-id");
    let revision = facts.revision.as_deref();
    let check_runtime = may_link_dynamically(plan);
    let step = docker::build_step(
        plan,
        &opts.tags,
        !check_runtime,
        &context,
        &image_id_file,
        revision,
        opts.no_cache,
    );
    // --no-cache always builds.
    let reuse = (!opts.no_cache).then(|| Reuse {
        references: references(plan, opts),
        build_line: step.command_line(),
    });
    actions.push(Action::Stage {
        binary: binary.clone(),
        context,
        reuse,
    });
    actions.push(Action::DockerBuild {
        step,
        image_id_file,
    });
    if check_runtime {
        let shown = runtime::check_step(NEW_IMAGE, &assumed_dynamic(plan));
        actions.push(Action::CheckRuntime { binary, shown });
        for reference in references(plan, opts) {
            let shown = docker::tag_step(NEW_IMAGE, &reference);
            actions.push(Action::Tag { reference, shown });
        }
    }
    if opts.push {
        for reference in references(plan, opts) {
            let step = docker::push_step(&reference);
            actions.push(Action::Push { step, reference });
        }
    }
    actions
}

/// How a dry run names the image a build would make.
const NEW_IMAGE: &str = "<the new image>";

/// Whether a binary of `plan` may be dynamically linked, so that what it needs at run time
/// is checked in the image: a gnu target, or a prebuilt binary (which one, its file says).
fn may_link_dynamically(plan: &Plan) -> bool {
    plan.app.target.ends_with("-gnu") || plan.app.prebuilt.is_some()
}

/// The binaries as a dry run shows their check: with the usual loader of the target's
/// architecture (a real build reads each binary's own).
fn assumed_dynamic(plan: &Plan) -> Vec<runtime::Dynamic> {
    let interpreter = match plan.app.target.split('-').next() {
        Some("aarch64") => "/lib/ld-linux-aarch64.so.1",
        _ => "/lib64/ld-linux-x86-64.so.2",
    };
    plan.app
        .binaries
        .iter()
        .map(|b| runtime::Dynamic {
            install_path: b.install_path.clone(),
            interpreter: interpreter.to_string(),
        })
        .collect()
}

/// `<repository>:<tag>` for every tag the build makes.
fn references(plan: &Plan, opts: &Options) -> Vec<String> {
    let repository = &plan.image.repository;
    opts.tags
        .iter()
        .map(|tag| format!("{repository}:{tag}"))
        .collect()
}

/// The engine check, which also asks for the image ID of every reference the build makes.
fn engine_step(plan: &Plan, opts: &Options) -> Step {
    docker::image_ids_step(&references(plan, opts))
}

/// The binaries to stage, and the actions that compile them (none for `prebuilt`). Fails
/// when a binary is not a bin target of the package.
fn compiled(plan: &Plan, how: How) -> Result<(Binary, Vec<Action>), Error> {
    let facts = match how {
        How::Prebuilt(path) => return Ok((Binary::Prebuilt(path), Vec::new())),
        How::Compile(facts) => facts,
    };
    let artifacts = compile::artifacts(&facts.metadata, &plan.app)?;
    let (builder, reason) = (facts.choice.builder, &facts.choice.reason);
    let locked = facts.lockfile && plan.app.locked;
    let step = compile::build_step(&plan.app, builder, &plan.manifest_dir, locked);
    let note = format!("builder: {} ({reason})", builder.name());
    Ok((
        Binary::Compiled(artifacts),
        vec![Action::Note(note), Action::Compile(step)],
    ))
}

/// What a runner does with an action.
pub trait Runner {
    /// Does `action`, given what the actions before it `made` (the image a check or a tag
    /// is about); returns what it made, if anything (an image ID, a digest).
    fn act(
        &mut self,
        action: &Action,
        made: &Made,
        report: &mut dyn FnMut(Event),
    ) -> Result<Option<Product>, Error>;
}

/// Reports each action, then has `runner` do it; a `Fail` action ends the build with its
/// error. Returns what was made: the image ID and the digest, when there are.
pub fn execute(
    actions: Vec<Action>,
    runner: &mut dyn Runner,
    report: &mut dyn FnMut(Event),
) -> Result<Made, Error> {
    let mut made = Made::default();
    let mut current = false;
    for action in actions {
        let action = match action {
            Action::Fail(error) => return Err(error),
            // An image already built from this very context is checked and tagged.
            Action::DockerBuild { .. } | Action::CheckRuntime { .. } | Action::Tag { .. }
                if current =>
            {
                continue;
            }
            action => action,
        };
        announce(&action, report);
        let started = std::time::Instant::now();
        let product = runner.act(&action, &made, report)?;
        if !matches!(action, Action::Note(_)) {
            report(Event::Done(started.elapsed()));
        }
        match product {
            Some(Product::ImageId(id)) => made.image_id = Some(id),
            Some(Product::Current(id)) => {
                made.image_id = Some(id);
                current = true;
            }
            Some(Product::Digest(digest)) => made.digest = Some(digest),
            None => {}
        }
    }
    Ok(made)
}

/// Reports what an action is about to do (or, in a dry run, would do).
fn announce(action: &Action, report: &mut dyn FnMut(Event)) {
    match action {
        Action::Engine(step) | Action::Compile(step) => report(Event::Step(step)),
        Action::DockerBuild { step, .. } | Action::Push { step, .. } => report(Event::Step(step)),
        Action::CheckRuntime { shown, .. } | Action::Tag { shown, .. } => {
            report(Event::Step(shown))
        }
        Action::Note(note) => report(Event::Note(note.clone())),
        Action::Stage { context, .. } => report(Event::Stage(context)),
        Action::Fail(_) => {}
    }
}

/// `--dry-run`: does nothing; [`execute`] has reported what would run.
pub struct DryRun;

impl Runner for DryRun {
    fn act(
        &mut self,
        _: &Action,
        _: &Made,
        _: &mut dyn FnMut(Event),
    ) -> Result<Option<Product>, Error> {
        Ok(None)
    }
}

/// The engine check, begun before its turn.
pub enum Engine {
    /// The engine answered a ping at the default socket. The CLI's listing of the tags'
    /// images (which staging needs) then starts with the Engine action and runs during
    /// the compile, not before it, where it would slow the probes the compile waits for.
    Answered,
    /// The CLI's check, started ahead: the Engine action waits for it; or, after a ping
    /// was answered, its listing, which staging waits for.
    Started(Prefetch),
}

/// The engine check ([`docker::image_ids`]) started ahead of its turn, on a thread of its
/// own.
pub struct Prefetch {
    step: Step,
    output: std::thread::JoinHandle<Result<String, Error>>,
}

impl Prefetch {
    pub fn start(step: Step) -> Self {
        let running = step.clone();
        Prefetch {
            step,
            output: std::thread::spawn(move || docker::image_ids(&running)),
        }
    }

    /// The step's output, if `step` is the one started.
    fn take(self, step: &Step) -> Option<Result<String, Error>> {
        (self.step == *step).then(|| self.output())
    }

    /// The output of the step started.
    fn output(self) -> Result<String, Error> {
        self.output
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// Does every action for real.
pub struct Real<'a> {
    plan: &'a Plan,
    /// The rendered context, without the binary.
    tree: FileTree,
    /// The locked build directory, from staging to the end of the build.
    build_dir: Option<BuildDir>,
    /// What the engine check found: `<repository>:<tag> <image ID>` lines.
    images: String,
    /// The engine check, when it was begun ahead and is not taken yet.
    engine: Option<Engine>,
    /// Stream the output of compiles and docker builds.
    verbose: bool,
    /// The digest of the staged context, recorded once `docker build` succeeds.
    digest: Option<String>,
}

impl<'a> Real<'a> {
    pub fn new(plan: &'a Plan, tree: FileTree, engine: Option<Engine>, verbose: bool) -> Self {
        Real {
            verbose,
            plan,
            tree,
            build_dir: None,
            images: String::new(),
            engine,
            digest: None,
        }
    }

    /// Reads and checks every binary, takes the build directory's lock, and writes the
    /// context with the binaries; unless the image of every tag was built from this very
    /// context (`reuse`), which is then the product.
    fn stage(
        &mut self,
        binary: &Binary,
        context: &Utf8Path,
        reuse: Option<&Reuse>,
        report: &mut dyn FnMut(Event),
    ) -> Result<Option<Product>, Error> {
        let tree = self.with_binaries(binary)?;
        let name = &self.plan.app.name;
        let waiting = || {
            report(Event::Note(format!(
                "waiting for another build of {name} to finish"
            )))
        };
        self.build_dir = Some(BuildDir::create(&self.plan.manifest_dir, name, waiting)?);
        if let Some(reuse) = reuse {
            if let Some(Engine::Started(listing)) = self.engine.take() {
                self.images = listing.output()?;
            }
            let digest = context_digest(&tree, &reuse.build_line)?;
            if let Some(id) = self.current_image(context, reuse, &digest) {
                let what = reuse.references.join(", ");
                report(Event::Note(format!(
                    "up to date: {what} is the image of this very context; nothing to build"
                )));
                return Ok(Some(Product::Current(id)));
            }
            self.digest = Some(digest);
        }
        stage::write_tree(&tree, context, &self.plan.manifest_path, Replace::Force)?;
        if exec::interrupted() {
            return Err(Error::Interrupted);
        }
        Ok(None)
    }

    /// How steps with long output run: streamed with `--verbose`, else quietly.
    fn run_step(&self) -> fn(&Step) -> Result<(), Error> {
        if self.verbose {
            Step::run
        } else {
            Step::run_quietly
        }
    }

    fn run(&self, step: &Step) -> Result<(), Error> {
        self.run_step()(step)
    }

    /// The engine check: a ping answered (the CLI's listing then starts, for staging),
    /// else the CLI's check started ahead when it is `step`, else asked now.
    fn check_engine(&mut self, step: &Step) -> Result<(), Error> {
        let started = match self.engine.take() {
            Some(Engine::Answered) => {
                self.engine = Some(Engine::Started(Prefetch::start(step.clone())));
                return Ok(());
            }
            Some(Engine::Started(prefetch)) => prefetch.take(step),
            None => None,
        };
        self.images = started.unwrap_or_else(|| docker::image_ids(step))?;
        Ok(())
    }

    /// The ID of the image every reference names, when the last build recorded it with
    /// this context's digest (beside the context: `image-id`, `context-digest`).
    fn current_image(&self, context: &Utf8Path, reuse: &Reuse, digest: &str) -> Option<String> {
        let read = |name: &str| std::fs::read_to_string(context.with_file_name(name)).ok();
        let (id, recorded) = (read("image-id")?, read("context-digest")?);
        let id = id.trim();
        let tagged = |reference: &String| {
            let mut lines = self.images.lines().filter_map(|l| l.split_once(' '));
            lines.any(|(r, image)| r == reference && image == id)
        };
        (recorded.trim() == digest && reuse.references.iter().all(tagged)).then(|| id.to_string())
    }

    /// The rendered tree with every binary, each read and checked to be an executable for
    /// the target.
    fn with_binaries(&mut self, binary: &Binary) -> Result<FileTree, Error> {
        let app = &self.plan.app;
        let mut tree = std::mem::take(&mut self.tree);
        let binaries: Vec<(&Utf8PathBuf, Vec<u8>)> = match binary {
            Binary::Prebuilt(path) => {
                vec![(
                    path,
                    project::read(&self.plan.manifest_dir, path, "prebuilt binary")?,
                )]
            }
            Binary::Compiled(paths) => paths
                .iter()
                .map(|path| {
                    let read = std::fs::read(path).map_err(|source| Error::Input {
                        path: path.clone(),
                        source,
                    });
                    read.map(|contents| (path, contents))
                })
                .collect::<Result<_, _>>()?,
        };
        for ((path, contents), binary) in binaries.into_iter().zip(&app.binaries) {
            elf::check_binary(path, &contents, &app.target)?;
            let file = File {
                contents: Contents::Bytes(contents),
                mode: 0o755,
            };
            tree.insert(binary.context_path.clone().into(), file);
        }
        Ok(tree)
    }
}

impl Runner for Real<'_> {
    fn act(
        &mut self,
        action: &Action,
        made: &Made,
        report: &mut dyn FnMut(Event),
    ) -> Result<Option<Product>, Error> {
        let plan = self.plan;
        let result = match action {
            Action::Engine(step) => self.check_engine(step).map(|()| None),
            Action::Note(_) | Action::Fail(_) => Ok(None),
            Action::Compile(step) => self
                .run(step)
                .map_err(|e| clibs::diagnose(e, &plan.app.target))
                .map_err(|e| with_c_hint(e, &plan.app.target))
                .map(|()| None),
            Action::Stage {
                binary,
                context,
                reuse,
            } => self.stage(binary, context, reuse.as_ref(), report),
            Action::DockerBuild {
                step,
                image_id_file,
            } => docker_build(self.run_step(), step, image_id_file, self.digest.as_deref())
                .map(|id| Some(Product::ImageId(id))),
            Action::CheckRuntime { binary, .. } => {
                let image = made.image_id.as_deref().unwrap_or_default();
                dynamic_binaries(plan, binary).and_then(|dynamic| {
                    runtime::check(image, &dynamic, &plan.image.base, &plan.app.target)
                        .map(|()| None)
                })
            }
            Action::Tag { reference, .. } => {
                let image = made.image_id.as_deref().unwrap_or_default();
                docker::tag_step(image, reference).output().map(|_| None)
            }
            Action::Push { step, reference } => {
                docker::push(step, reference).map(|d| Some(Product::Digest(d)))
            }
        };
        if let (Err(Error::Interrupted), Some(_)) = (&result, &self.build_dir) {
            // Interrupted once staging began: the context goes too, as the message says.
            let _ = std::fs::remove_dir_all(context_dir(plan));
        }
        result
    }
}

/// The binaries of `binary` that the dynamic loader links, each with its path in the image
/// and its loader, read from the files that were staged.
fn dynamic_binaries(plan: &Plan, binary: &Binary) -> Result<Vec<runtime::Dynamic>, Error> {
    let paths: Vec<&Utf8PathBuf> = match binary {
        Binary::Prebuilt(path) => vec![path],
        Binary::Compiled(paths) => paths.iter().collect(),
    };
    let mut dynamic = Vec::new();
    for (path, planned) in paths.into_iter().zip(&plan.app.binaries) {
        let bytes = std::fs::read(path).map_err(|source| Error::Input {
            path: path.clone(),
            source,
        })?;
        if let Some(interpreter) = elf::interpreter(&bytes) {
            dynamic.push(runtime::Dynamic {
                install_path: planned.install_path.clone(),
                interpreter,
            });
        }
    }
    Ok(dynamic)
}

/// A failed compile for a target this host has no C compiler for: most likely a crate's
/// build script (cc-rs: `failed to find tool`) wanted one, so say what to install.
fn with_c_hint(error: Error, target: &str) -> Error {
    match error {
        Error::StepFailed { .. } if !builder::has_c_compiler(target) => Error::WithHint {
            error: Box::new(error),
            hint: format!(
                "if a build script failed to find a C compiler (cc-rs: `failed to find tool`), {}",
                crate::error::no_c_compiler(target)
            ),
        },
        error => error,
    }
}

/// Runs `docker build` and reads the image ID it wrote; then records the context's digest
/// beside it (`context-digest`), so that the next build of the same context can see the
/// image is current. A failed build leaves no digest.
fn docker_build(
    run: fn(&Step) -> Result<(), Error>,
    step: &Step,
    image_id_file: &Utf8Path,
    digest: Option<&str>,
) -> Result<String, Error> {
    let digest_file = image_id_file.with_file_name("context-digest");
    let _ = std::fs::remove_file(&digest_file);
    let _ = std::fs::remove_file(image_id_file);
    run(step)?;
    let image_id = std::fs::read_to_string(image_id_file).map_err(|source| Error::Input {
        path: image_id_file.to_owned(),
        source,
    })?;
    if let Some(digest) = digest {
        std::fs::write(&digest_file, format!("{digest}\n")).map_err(|source| Error::Write {
            path: digest_file.clone(),
            source,
        })?;
    }
    Ok(image_id.trim().to_string())
}

/// SHA-256 of the `docker build` line and every file of the context (path, mode, size and
/// contents, in the tree's order): equal digests mean docker would be given the same.
/// Shipped files are hashed as they are read, a piece at a time.
pub fn context_digest(tree: &FileTree, build_line: &str) -> Result<String, Error> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(build_line.as_bytes());
    hash.update([0]);
    for (path, file) in tree {
        let head = format!("{path}\0{:o}\0{}\0", file.mode, file.contents.len());
        hash.update(head.as_bytes());
        std::io::copy(&mut file.contents.reader()?, &mut hash).map_err(|source| Error::Input {
            path: path.clone(),
            source,
        })?;
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}

#[cfg(test)]
mod tests {
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
                Action::Compile(step) => format!("compile: {}", step.command_line()),
                Action::Stage { binary, .. } => format!("stage {binary:?}"),
                Action::DockerBuild { .. } => "docker build".into(),
                Action::CheckRuntime { .. } => format!("check {image}"),
                Action::Tag { reference, .. } => format!("tag {image} {reference}"),
                Action::Push { reference, .. } => format!("push {reference}"),
            };
            self.0.push(name);
            Ok(match action {
                Action::DockerBuild { .. } => Some(Product::ImageId("sha256:x".into())),
                Action::Push { .. } => Some(Product::Digest("sha256:d".into())),
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
        let loaded = crate::load::from_text(&text, &dir).unwrap();
        (tmp, crate::plan::resolve(&loaded))
    }

    fn options() -> Options {
        Options {
            tags: vec!["v1".into()],
            dry_run: false,
            no_cache: false,
            builder: None,
            push: false,
            verbose: false,
        }
    }

    /// Facts for a compiled app whose package has the bin targets `bins`.
    fn compiled(bins: &[&str]) -> Facts {
        Facts {
            how: Ok(How::Compile(CompileFacts {
                choice: Choice {
                    builder: crate::manifest::Builder::Cargo,
                    reason: "chosen".into(),
                },
                metadata: compile::Metadata {
                    target_directory: "/t".into(),
                    workspace_root: "/w".into(),
                    bins: bins.iter().map(|b| b.to_string()).collect(),
                },
                lockfile: true,
            })),
            revision: Some("abc".into()),
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
            ]
        );
        assert_eq!(result.unwrap().image_id.as_deref(), Some("sha256:x"));
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
    fn push_pushes_every_tag_after_the_build_and_keeps_the_digest() {
        let (_tmp, plan) = plan("binary = \"demo\"");
        let opts = Options {
            tags: vec!["v1".into(), "latest".into()],
            push: true,
            ..options()
        };
        let (done, _, result) = record(decide(&plan, &opts, compiled(&["demo"])));
        assert_eq!(
            done[done.len() - 3..],
            ["docker build", "push demo:v1", "push demo:latest"]
        );
        let made = result.unwrap();
        assert_eq!(made.image_id.as_deref(), Some("sha256:x"));
        assert_eq!(made.digest.as_deref(), Some("sha256:d"));
    }

    #[test]
    fn a_prebuilt_binary_is_staged_without_compiling() {
        let (_tmp, plan) = plan("binary = \"demo\"\nprebuilt = \"app.bin\"");
        let path = plan.manifest_dir.join("app.bin");
        let facts = Facts {
            how: Ok(How::Prebuilt(path.clone())),
            revision: None,
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
                "check sha256:x",
                "tag sha256:x demo:v1"
            ]
        );
        let facts = Facts {
            how: Ok(How::Prebuilt(path.clone())),
            revision: None,
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
        assert_eq!(reported, 5);
    }
}
