//! `build TAG`: the whole pipeline, from a plan to a tagged image.
//!
//! Order: tag check → render (a template error costs milliseconds, not a compile) → is
//! there a Docker engine → compile (or take `prebuilt`) → is the binary an ELF executable
//! for the target → stage the context atomically under
//! `<manifest dir>/target/buildkit-lite/<app>/context` → `docker build`. From staging to the
//! image ID, the build holds the lock of that directory: two builds of one app take turns.
//! An interrupt removes the staged context.
//! Every command is a [`Step`] reported through `report` before it runs; with `dry_run`
//! only read-only probes run (to choose the `auto` builder and read the git revision)
//! and every other step is reported and not run. Nothing here prints.

use camino::Utf8PathBuf;

use crate::compile;
use crate::docker;
use crate::error::Error;
use crate::exec::{self, Step};
use crate::plan::Plan;
use crate::project;
use crate::render::{self, File};
use crate::stage::{self, BuildDir, Replace};

pub struct Options {
    pub tag: String,
    pub dry_run: bool,
    pub no_cache: bool,
}

/// What the build tells its caller as it goes.
pub enum Event<'a> {
    /// A step about to run (or, in a dry run, that would run).
    Step(&'a Step),
    /// A decision worth knowing (which builder and why).
    Note(String),
}

/// A built image.
#[derive(Debug)]
pub struct Built {
    /// `<repository>:<tag>`.
    pub reference: String,
    pub image_id: String,
    /// The staged context that was built.
    pub context: Utf8PathBuf,
}

/// Where `build` stages the context of `plan`: in a directory the tool owns, which also
/// holds `image-id`, the ID docker wrote for the last build, and the lock two builds of the
/// app take turns on (see [`BuildDir`]).
pub fn context_dir(plan: &Plan) -> Utf8PathBuf {
    BuildDir::path(&plan.manifest_dir, &plan.app.name).join("context")
}

/// Runs the build. Returns `None` for a dry run.
pub fn build(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Option<Built>, Error> {
    docker::validate_tag(&opts.tag)?;
    let mut tree = render::render(plan)?;
    let engine = docker::engine_step();
    report(Event::Step(&engine));
    if !opts.dry_run {
        engine.output()?;
        // Before cargo writes into `target`: no link out of the project on the way.
        BuildDir::check(&plan.manifest_dir, &plan.app.name)?;
    }

    let binary = match &plan.app.prebuilt {
        Some(path) => path.clone(),
        None => {
            let target = &plan.app.target;
            let choice = compile::choose(plan.app.builder, target, || compile::probe_host(target))?;
            report(Event::Note(format!(
                "builder: {} ({})",
                choice.builder.name(),
                choice.reason
            )));
            let compile_step = compile::build_step(&plan.app, choice.builder, &plan.manifest_dir);
            report(Event::Step(&compile_step));
            if !opts.dry_run {
                compile_step.run()?;
            }
            let metadata = compile::metadata_step(&plan.app);
            report(Event::Step(&metadata));
            if opts.dry_run {
                Utf8PathBuf::from("<from cargo metadata>")
            } else {
                compile::artifact_path(&metadata.output()?, &plan.app)?
            }
        }
    };
    let context = context_dir(plan);
    let revision = docker::revision_step(&plan.manifest_dir)
        .output()
        .ok()
        .map(|s| s.trim().to_string());
    let iidfile = context.with_file_name("image-id");
    let docker_build = docker::build_step(
        plan,
        &opts.tag,
        &context,
        &iidfile,
        revision.as_deref(),
        opts.no_cache,
    );
    if opts.dry_run {
        report(Event::Note(format!(
            "stage the build context (with {binary}) into {context}"
        )));
        report(Event::Step(&docker_build));
        return Ok(None);
    }

    // Two builds of one app take turns from here to the image ID: one context and one
    // image-id file at a time. (cargo serializes the compiles itself.)
    let app = &plan.app.name;
    let build_dir = BuildDir::create(&plan.manifest_dir, app, || {
        report(Event::Note(format!(
            "waiting for another build of {app} to finish"
        )))
    })?;

    let contents = match &plan.app.prebuilt {
        Some(prebuilt) => project::read(&plan.manifest_dir, prebuilt, "prebuilt binary")?,
        None => std::fs::read(&binary).map_err(|source| Error::Input {
            path: binary.clone(),
            source,
        })?,
    };
    compile::check_binary(&binary, &contents, &plan.app.target)?;
    tree.insert(
        plan.app.context_path.clone().into(),
        File {
            contents,
            mode: 0o755,
        },
    );
    let image_id = stage_and_build(plan, &tree, &build_dir, &docker_build, report);
    if let Err(Error::Interrupted) = image_id {
        // Interrupted: the context goes too, as the message says.
        let _ = std::fs::remove_dir_all(build_dir.context());
    }
    Ok(Some(Built {
        reference: format!("{}:{}", plan.image.repository, opts.tag),
        image_id: image_id?,
        context,
    }))
}

/// Stages the context into the (locked) build directory and runs `docker build` on it.
/// Returns the image ID docker wrote.
fn stage_and_build(
    plan: &Plan,
    tree: &render::FileTree,
    build_dir: &BuildDir,
    docker_build: &Step,
    report: &mut dyn FnMut(Event),
) -> Result<String, Error> {
    let context = build_dir.context();
    report(Event::Note(format!(
        "staging the build context into {context}"
    )));
    stage::write_tree(tree, &context, &plan.manifest_path, Replace::Force)?;
    if exec::interrupted() {
        return Err(Error::Interrupted);
    }
    report(Event::Step(docker_build));
    let iidfile = build_dir.image_id_file();
    let _ = std::fs::remove_file(&iidfile);
    docker_build.run()?;
    let image_id = std::fs::read_to_string(&iidfile).map_err(|source| Error::Input {
        path: iidfile.clone(),
        source,
    })?;
    Ok(image_id.trim().to_string())
}
