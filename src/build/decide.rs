//! Deciding the build: the plan and the probed [`Facts`] become the list of [`Action`]s, a
//! pure function with nothing run.

use camino::{Utf8Path, Utf8PathBuf};

use super::contents;
use super::packages::{self, CrossImage, OnHost};
use super::probe::{CompileFacts, Facts, How};
use super::programs::Place;
use super::{Options, compile, context_dir, engine_step, references, runtime, vendor_dir};
use crate::error::Error;
use crate::host::docker;
use crate::host::exec::Step;
use crate::manifest::Builder;
use crate::plan::Plan;

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
    /// Make cross's image with `[build] packages` (before cross compiles in it).
    CrossImage(CrossImage),
    /// Compile the app; `place` is where (for the diagnosis of a missing program).
    Compile { step: Step, place: Place },
    /// Fetch the crates into the build directory (`cargo vendor`) for the container
    /// builder to compile offline.
    Vendor(Step),
    /// Stage the context, with the binary, into the locked build directory; unless
    /// `reuse` finds the image of every tag already built from the same context.
    Stage {
        binary: Binary,
        context: Utf8PathBuf,
        reuse: Option<Reuse>,
    },
    /// `docker pull` a registry cache image; its failure (no cache yet) is only noted.
    PullCache(Step),
    /// `docker build --target builder`, tagged as the registry cache: the build stage's
    /// layers, to be pushed with `--push`.
    BuildStage(Step),
    /// `docker build` the staged context; docker writes the image ID into `image_id_file`.
    /// Untagged when [`Action::CheckRuntime`] follows: the tags move only once it passes.
    DockerBuild {
        step: Step,
        image_id_file: Utf8PathBuf,
    },
    /// Write the SBOM of the new image beside the context and build it into the image, with
    /// the provenance labels (`contents.rs`), tagged `references` when nothing else comes
    /// before the tags. `shown` is that `docker build` as a dry run prints it.
    Contents(SbomLayer),
    /// Check in the new image that each dynamically linked binary finds what it needs at
    /// run time (`runtime.rs`). `shown` is the check as a dry run prints it.
    CheckRuntime { binary: Binary, shown: Step },
    /// Name `image` (by default the new image) `reference` (`docker tag`), after its
    /// run-time check.
    Tag {
        image: Option<String>,
        reference: String,
        shown: Step,
    },
    /// Make the image index `reference` of the platform images, pushed before it, and push
    /// it (`--push` with several platforms).
    Index {
        create: Step,
        push: Step,
        reference: String,
    },
    /// `docker push` one tag (`--push`); the image stays local whatever happens.
    Push { step: Step, reference: String },
    /// Attach the SBOM to the image just pushed to `repository` (at the digest the push
    /// made), as an OCI referrer (`attach.rs`).
    Attach {
        sbom: Utf8PathBuf,
        repository: String,
    },
}

/// The SBOM layer to build on the new image (see [`Action::Contents`]).
#[derive(Debug)]
pub struct SbomLayer {
    pub binary: Binary,
    pub context: Utf8PathBuf,
    pub references: Vec<String>,
    pub created: Option<i64>,
    pub shown: Step,
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
    /// Compiled by the container builder in the image's build stage: nothing to stage.
    InImage,
}

/// How the compile of one of several platforms goes (see `platforms.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Together {
    /// On its own: one platform, or platforms whose builders differ.
    Alone,
    /// Done before, in one cargo run for every platform: nothing to compile, nor to say.
    Compiled,
}

/// The actions of a build, in order. Pure: the facts were probed before.
pub fn decide(plan: &Plan, opts: &Options, facts: Facts) -> Vec<Action> {
    decide_together(plan, opts, facts, Together::Alone)
}

/// [`decide`], for a compile that may be shared with other platforms' (`together`).
pub fn decide_together(
    plan: &Plan,
    opts: &Options,
    facts: Facts,
    together: Together,
) -> Vec<Action> {
    let mut actions = vec![Action::Engine(engine_step(plan, opts))];
    let created = facts.created;
    let compiled = facts
        .how
        .and_then(|how| compiled(plan, how, together, created));
    let binary = match compiled {
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
    let step = docker_build_step(plan, opts, revision, &context, &image_id_file);
    // --no-cache always builds. The SBOM's time is part of what the image is.
    let reuse = (!opts.no_cache).then(|| Reuse {
        references: references(plan, opts),
        build_line: format!("{}\0created {:?}", step.command_line(), facts.created),
    });
    let contents = contents_action(plan, opts, &binary, &context, facts.created);
    let build_stage = cache_stage(plan, opts, &context);
    actions.push(Action::Stage {
        binary: binary.clone(),
        context,
        reuse,
    });
    actions.extend(build_stage);
    actions.push(Action::DockerBuild {
        step,
        image_id_file,
    });
    actions.push(contents);
    actions.extend(after_the_build(plan, opts, binary));
    actions
}

/// The SBOM layer: tagged at once, unless a run-time check comes first; for one of
/// several platforms, untagged (the tags move once every platform has built).
fn contents_action(
    plan: &Plan,
    opts: &Options,
    binary: &Binary,
    context: &Utf8Path,
    created: Option<i64>,
) -> Action {
    let references = match may_link_dynamically(plan) || plan.platform.is_some() {
        true => Vec::new(),
        false => references(plan, opts),
    };
    let iidfile = context.with_file_name("image-id");
    let shown = contents::layer_step(&contents::layer_dir(context), &iidfile, &references);
    Action::Contents(SbomLayer {
        binary: binary.clone(),
        context: context.to_owned(),
        references,
        created,
        shown,
    })
}

/// What follows `docker build`: the run-time check, then the tags (when the image was
/// built untagged for it) and the pushes. For one of several platforms only the check:
/// its tags move, and it is pushed, with the others, once every platform has built
/// (`platforms.rs`), so that a failure of one moves no tag of any.
fn after_the_build(plan: &Plan, opts: &Options, binary: Binary) -> Vec<Action> {
    let mut actions = Vec::new();
    let check_runtime = may_link_dynamically(plan);
    if check_runtime {
        let shown = runtime::check_step(NEW_IMAGE, &assumed_dynamic(plan));
        actions.push(Action::CheckRuntime { binary, shown });
    }
    if plan.platform.is_some() {
        return actions;
    }
    if check_runtime {
        for reference in references(plan, opts) {
            let shown = docker::tag_step(NEW_IMAGE, &reference);
            actions.push(Action::Tag {
                image: None,
                reference,
                shown,
            });
        }
    }
    if opts.push {
        actions.extend(cache_pushes(plan));
        for reference in references(plan, opts) {
            let step = docker::push_step(&reference);
            actions.push(Action::Push { step, reference });
        }
        actions.push(Action::Attach {
            sbom: contents::beside(&context_dir(plan)),
            repository: plan.image.repository.clone(),
        });
    }
    actions
}

/// `docker build` of the staged context, untagged (the SBOM layer that follows is what
/// the tags name), for one of several platforms with `--platform` and the platform's base.
fn docker_build_step(
    plan: &Plan,
    opts: &Options,
    revision: Option<&str>,
    context: &Utf8Path,
    image_id_file: &Utf8Path,
) -> Step {
    // The container builder's stage runs on the engine's own platform and cross-compiles:
    // with the classic builder, `--platform` would refuse its `COPY --from` (a stage of
    // another platform). The image takes its platform from its base (a base a platform).
    let platform = plan.platform.as_ref();
    let platform_arg = platform.filter(|_| !plan.in_container());
    let args = docker::BuildArgs {
        version: opts.tags.first().map_or("", String::as_str),
        revision,
        no_cache: opts.no_cache,
        platform: platform_arg.map(|p| p.name.as_str()),
        base: platform
            .filter(|_| plan.image.base_arg)
            .map(|p| p.base.as_str()),
        cache_from: &cache_images(plan),
    };
    docker::build_step(&args, context, image_id_file)
}

/// The registry cache's images, when the container builder has one (`[build] cache`).
fn cache_images(plan: &Plan) -> Vec<String> {
    match plan.in_container() {
        true => (plan.build.cache_images(plan.platform.as_ref()))
            .map(Vec::from)
            .unwrap_or_default(),
        false => Vec::new(),
    }
}

/// With a registry cache, the build stage alone, tagged as the cache, before the image.
fn cache_stage(plan: &Plan, opts: &Options, context: &Utf8Path) -> Option<Action> {
    let images = cache_images(plan);
    let (cache, _) = images.split_first()?;
    let mut step = docker::build_stage_step(context, cache, &images);
    if opts.no_cache {
        step = step.arg("--no-cache");
    }
    Some(Action::BuildStage(step))
}

/// With a registry cache and `--push`: the image tagged as the runtime cache, then both
/// cache images pushed (before the image's own tags, whose digest the build reports).
fn cache_pushes(plan: &Plan) -> Vec<Action> {
    let images = cache_images(plan);
    let Some(runtime_cache) = images.get(1) else {
        return Vec::new();
    };
    let mut actions = vec![Action::Tag {
        image: None,
        reference: runtime_cache.clone(),
        shown: docker::tag_step(NEW_IMAGE, runtime_cache),
    }];
    for reference in images {
        let step = docker::push_step(&reference);
        actions.push(Action::Push { step, reference });
    }
    actions
}

/// The container builder's actions before staging: a note of the builder, and `cargo
/// vendor` when the crates are vendored. (Its compile is the Dockerfile's build stage.)
fn in_container(plan: &Plan) -> Vec<Action> {
    let note = format!(
        "builder: container (compiles in the image's build stage, from {})",
        plan.build.image
    );
    let mut actions = vec![Action::Note(note)];
    for image in cache_images(plan) {
        actions.push(Action::PullCache(docker::pull_step(&image)));
    }
    if plan.build.vendor {
        let step = compile::vendor_step(&plan.app, &plan.manifest_dir, &vendor_dir(plan));
        actions.push(Action::Vendor(step));
    }
    actions
}

/// How a dry run names the image a build would make.
pub(super) const NEW_IMAGE: &str = "<the new image>";

/// Whether a binary of `plan` may be dynamically linked, so that what it needs at run time
/// is checked in the image: a gnu target, or a prebuilt binary (which one, its file says).
fn may_link_dynamically(plan: &Plan) -> bool {
    plan.app.target.ends_with("-gnu") || plan.app.prebuilt.is_some()
}

/// The binaries as a dry run shows their check: with the usual loader of the target's
/// architecture (a real build reads each binary's own).
pub(super) fn assumed_dynamic(plan: &Plan) -> Vec<runtime::Dynamic> {
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

/// The binaries to stage, and the actions that compile them (none for `prebuilt`, nor
/// when one cargo run for every platform built them). Fails when a binary is not a bin target
/// of the package.
fn compiled(
    plan: &Plan,
    how: How,
    together: Together,
    created: Option<i64>,
) -> Result<(Binary, Vec<Action>), Error> {
    let facts = match how {
        How::Prebuilt(path) => return Ok((Binary::Prebuilt(path), Vec::new())),
        How::Container => match crate::render::container::missing_lockfile(plan) {
            Some(missing) => return Err(missing),
            None => return Ok((Binary::InImage, in_container(plan))),
        },
        How::Compile(facts) => facts,
    };
    let artifacts = compile::artifacts(&facts.metadata, &plan.app)?;
    if together == Together::Compiled {
        return Ok((Binary::Compiled(artifacts), Vec::new()));
    }
    Ok((
        Binary::Compiled(artifacts),
        compile_actions(plan, &facts, created)?,
    ))
}

/// The note of the builder, then what compiles: for cross with `[build] packages`, its
/// image with them first. Fails when the packages are missing on this host, where the
/// compile would run; a host that cannot tell (no `dpkg-query`) gets a note.
fn compile_actions(
    plan: &Plan,
    facts: &CompileFacts,
    created: Option<i64>,
) -> Result<Vec<Action>, Error> {
    let (builder, reason) = (facts.choice.builder, &facts.choice.reason);
    let mut actions = vec![Action::Note(format!(
        "builder: {} ({reason})",
        builder.name()
    ))];
    match &facts.on_host {
        OnHost::Missing(missing) => return Err(packages::missing_error(missing, builder.name())),
        OnHost::Unchecked => actions.push(Action::Note(
            "[build] packages not checked: this host has no dpkg-query (they are Debian packages); the compile may need their programs".into(),
        )),
        OnHost::Installed => {}
    }
    let locked = facts.lockfile && plan.app.locked;
    let target = compile::Target {
        triple: &plan.app.target,
        rust_lld: facts.choice.rust_lld,
    };
    let mut step = compile::build_step(&plan.app, builder, &[target], &plan.manifest_dir, locked);
    // On this host, the binaries are made the same from any checkout (cross compiles in
    // its container, whose paths are its own).
    if builder != Builder::Cross {
        step = facts.remap.apply(step, created);
    }
    let place = match &facts.cross_image {
        Some(base) if !plan.build.packages.is_empty() => {
            let dir = context_dir(plan).with_file_name("cross-image");
            let made =
                packages::derived_cross_image(&plan.app.target, base, &plan.build.packages, &dir);
            let variable = packages::cross_image_variable(&plan.app.target);
            step = step.env(variable, made.tag.clone());
            let place = Place::CrossImage(made.tag.clone());
            actions.push(Action::CrossImage(made));
            place
        }
        Some(image) => Place::CrossImage(image.clone()),
        None => Place::Host,
    };
    actions.push(Action::Compile { step, place });
    Ok(actions)
}
