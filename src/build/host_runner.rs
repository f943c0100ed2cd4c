//! The runner that does each action on this host: the engine check begun ahead, staging
//! under the build directory's lock, compiling, `docker build`, the run-time check, tags
//! and pushes. An interrupt once staging began removes the staged context.

use camino::{Utf8Path, Utf8PathBuf};

use super::attach;
use super::decide::{Action, Binary, Reuse, SbomLayer};
use super::execute::Runner;
use super::programs::{self, Place};
use super::stage::{self, BuildDir, Replace};
use super::up_to_date::context_digest;
use super::{
    Event, Made, Product, builder, clibs, contents, context_dir, elf, packages, runtime, vendor_dir,
};
use crate::error::Error;
use crate::host::exec::{self, Step};
use crate::host::{docker, project};
use crate::plan::Plan;
use crate::render::{Contents, File, FileTree};

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
pub struct HostRunner<'a> {
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
    /// `cargo metadata` of the crates, for the SBOM: begun beside `docker build`.
    crates: Option<std::thread::JoinHandle<Result<String, Error>>>,
}

impl<'a> HostRunner<'a> {
    pub fn new(plan: &'a Plan, tree: FileTree, engine: Option<Engine>, verbose: bool) -> Self {
        HostRunner {
            verbose,
            plan,
            tree,
            build_dir: None,
            images: String::new(),
            engine,
            digest: None,
            crates: None,
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
        let arch = self.plan.platform.as_ref().map(|p| p.arch.as_str());
        let build_dir = BuildDir::create(&self.plan.manifest_dir, name, arch, waiting)?;
        self.build_dir = Some(build_dir);
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
            Binary::InImage => return with_vendored(self.plan, tree),
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

impl HostRunner<'_> {
    /// `docker build` of the staged context, with the crates for the SBOM read (`cargo
    /// metadata`) beside it.
    fn docker_build(
        &mut self,
        step: &Step,
        image_id_file: &Utf8Path,
    ) -> Result<Option<Product>, Error> {
        if contents::crates_here(self.plan) {
            let metadata = contents::metadata_step(self.plan);
            self.crates = Some(std::thread::spawn(move || metadata.output()));
        }
        let id = docker_build(self.run_step(), step, image_id_file, self.digest.as_deref())?;
        Ok(Some(Product::ImageId(id)))
    }

    /// The SBOM layer on the image just built (`contents.rs`): the final image's ID.
    fn contents(&mut self, layer: &SbomLayer, made: &Made) -> Result<Option<Product>, Error> {
        let metadata = (self.crates.take()).map(|reading| {
            reading
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        let job = contents::Job {
            image: made.image_id.as_deref().unwrap_or_default(),
            metadata,
            context: &layer.context,
            references: &layer.references,
            created: layer.created,
        };
        let id = contents::add(self.plan, job, |step| self.run(step))?;
        Ok(Some(Product::ImageId(id)))
    }

    /// Runs the compile; a failure says first what it most likely needs: a program that
    /// was not there (`programs.rs`), else a C library (`clibs.rs`), else a C compiler.
    fn compile(&self, step: &Step, place: &Place) -> Result<(), Error> {
        let target = &self.plan.app.target;
        self.run(step)
            .map_err(|e| programs::diagnose(e, place))
            .map_err(|e| clibs::diagnose(e, target))
            .map_err(|e| with_c_hint(e, target))
    }
}

impl Runner for HostRunner<'_> {
    fn act(
        &mut self,
        action: &Action,
        made: &Made,
        report: &mut dyn FnMut(Event),
    ) -> Result<Option<Product>, Error> {
        let plan = self.plan;
        // What a failed `docker build` (of the image, or of the build stage alone) says.
        let build_failed = |e| in_build_stage(docker::build_failed(e), plan);
        let result = match action {
            Action::Engine(step) => self.check_engine(step).map(|()| None),
            Action::Note(_) | Action::Fail(_) => Ok(None),
            Action::Vendor(step) => self.run(step).map(|()| None),
            Action::PullCache(step) => pull_cache(step, report),
            Action::BuildStage(step) => self.run(step).map_err(build_failed).map(|()| None),
            Action::CrossImage(made) => {
                packages::make_cross_image(made, |step| self.run(step)).map(|()| None)
            }
            Action::Compile { step, place } => self.compile(step, place).map(|()| None),
            Action::Stage {
                binary,
                context,
                reuse,
            } => self.stage(binary, context, reuse.as_ref(), report),
            Action::DockerBuild {
                step,
                image_id_file,
            } => self.docker_build(step, image_id_file).map_err(build_failed),
            Action::Contents(layer) => self.contents(layer, made),
            Action::CheckRuntime { binary, .. } => {
                let image = made.image_id.as_deref().unwrap_or_default();
                dynamic_binaries(plan, binary).and_then(|dynamic| {
                    runtime::check(image, &dynamic, &plan.image.base, &plan.app.target)
                        .map(|()| None)
                })
            }
            Action::Tag {
                image, reference, ..
            } => tag(image.as_deref(), made, reference).map(|()| None),
            Action::Index { .. } | Action::Push { .. } | Action::Attach { .. } => {
                ship(action, made)
            }
        };
        if let (Err(Error::Interrupted), Some(_)) = (&result, &self.build_dir) {
            // Interrupted once staging began: the context goes too, as the message says.
            let _ = std::fs::remove_dir_all(context_dir(plan));
        }
        result
    }
}

/// The actions that ship the image: an index or a tag pushed (their digest), or the SBOM
/// attached to the image pushed just before (the artifact's digest).
fn ship(action: &Action, made: &Made) -> Result<Option<Product>, Error> {
    match action {
        Action::Index {
            create,
            push,
            reference,
        } => create
            .output()
            .and_then(|_| docker::push_index(push, reference))
            .map(|d| Some(Product::Digest(d))),
        Action::Push { step, reference } => {
            docker::push(step, reference).map(|d| Some(Product::Digest(d)))
        }
        Action::Attach { sbom, repository } => {
            let digest = made.digest.as_deref().unwrap_or_default();
            attach::attach(&format!("{repository}@{digest}"), sbom)
                .map(|d| Some(Product::Attached(d)))
        }
        _ => Ok(None),
    }
}

/// Names `image` (by default the new one, `made`) `reference`.
fn tag(image: Option<&str>, made: &Made, reference: &str) -> Result<(), Error> {
    let new = made.image_id.as_deref().unwrap_or_default();
    let image = image.unwrap_or(new);
    docker::tag_step(image, reference).output().map(|_| ())
}

/// What keeps `builder/vendor/` in the context when there is no crate to vendor.
const EMPTY_VENDOR: &str = "builder/vendor/.buildkit-lite-empty";

/// The rendered tree of a container build, with the crates `cargo vendor` fetched
/// (`builder/vendor/`), when they are vendored; streamed when staged, as shipped files.
fn with_vendored(plan: &Plan, mut tree: FileTree) -> Result<FileTree, Error> {
    if !plan.build.vendor {
        return Ok(tree);
    }
    let dir = &plan.manifest_dir;
    let vendor = vendor_dir(plan);
    // A crate without dependencies: `cargo vendor` makes no directory (or empties it).
    let found = match dir.join(&vendor).is_dir() {
        true => project::walk_tree(dir, &vendor, "vendored crate").map_err(|e| Error::Input {
            path: vendor.clone(),
            source: std::io::Error::other(e),
        })?,
        false => Vec::new(),
    };
    if found.is_empty() {
        // The Dockerfile copies builder/vendor/: a hidden file, which cargo skips, makes it.
        let note = "No crate to vendor: this file keeps the directory.\n";
        let file = File {
            contents: Contents::Bytes(note.into()),
            mode: 0o644,
        };
        tree.insert(EMPTY_VENDOR.into(), file);
    }
    for found in found {
        let path = Utf8PathBuf::from("builder/vendor").join(&found.rel);
        tree.insert(path, File::from_project(dir, found, 0o644));
    }
    Ok(tree)
}

/// Pulls a registry cache image; one that is not there yet (a first build) or cannot be
/// pulled is said, and is `NoCache`: the build goes on without it.
fn pull_cache(step: &Step, report: &mut dyn FnMut(Event)) -> Result<Option<Product>, Error> {
    let attempt = step.attempt()?;
    if attempt.success() {
        return Ok(None);
    }
    let why = attempt
        .stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let reference = step.args.last().cloned().unwrap_or_default();
    report(Event::Note(format!(
        "no cache to read at {reference} ({}): this build fills it",
        why.trim()
    )));
    Ok(Some(Product::NoCache(reference)))
}

/// The binaries of `binary` that the dynamic loader links, each with its path in the image
/// and its loader, read from the files that were staged.
fn dynamic_binaries(plan: &Plan, binary: &Binary) -> Result<Vec<runtime::Dynamic>, Error> {
    let paths: Vec<&Utf8PathBuf> = match binary {
        // Built in the image: the loader its target uses.
        Binary::InImage => return Ok(super::decide::assumed_dynamic(plan)),
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

/// A failed `docker build` of the container builder, whose build script ran a program
/// the builder image lacks: named, with its package (`programs.rs`).
/// One that could not fetch the crates (the engine's network does not reach crates.io)
/// gets the hint to fetch them here instead.
fn in_build_stage(error: Error, plan: &Plan) -> Error {
    if !plan.in_container() {
        return error;
    }
    let error = programs::diagnose(error, &Place::BuilderImage(plan.build.image.clone()));
    let unreachable = matches!(&error, Error::StepFailed { output, .. }
        if output.contains("unable to update registry") || output.contains("failed to download"));
    match unreachable && !plan.build.vendor {
        true => Error::WithHint {
            error: Box::new(error),
            hint: "the build stage could not fetch the crates (the engine's network does not reach the registry): vendor = true in [build] (or build --vendor) fetches them here and the stage compiles offline".into(),
        },
        false => error,
    }
}

/// A failed compile for a target this host has no C compiler for: most likely a crate's
/// build script (cc-rs: `failed to find tool`) wanted one, so say what to install.
fn with_c_hint(error: Error, target: &str) -> Error {
    match error {
        Error::StepFailed { .. } if !builder::has_c_compiler(target) => Error::WithHint {
            error: Box::new(error),
            hint: format!(
                "if a build script failed to find a C compiler (cc-rs: `failed to find tool`), {}",
                crate::error::no_c_compiler(target, &builder::musl_c_compiler(target))
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
