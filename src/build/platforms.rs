//! Several platforms (`target` as a list): every platform is probed first (the cargo
//! metadata and the revision once, the builder for each target); then, when
//! every platform compiles with cargo, one cargo run compiles them all (`--target` once
//! each: cargo compiles the targets side by side, and the host's build scripts and proc
//! macros once). Then each platform's image is built through the one-platform pipeline,
//! the platforms side by side on threads of their own, untagged (and checked, where the
//! run-time check applies). Only once every platform has built do the tags move:
//! `<name>:<TAG>-<arch>` for each, and `<name>:<TAG>` to the host's platform's image; with
//! `--push`, each platform's tags are pushed, then one image index a TAG lists them all.
//! So a failed or interrupted platform leaves every tag, local and remote, where it was.
//! (Moving tags and pushing are not one transaction: a push that fails half-way leaves
//! the platforms pushed before it, and no index, and the build fails saying so.)
//!
//! With other builders (cargo-zigbuild for C code, say), each platform compiles in its own
//! pipeline. What the platforms report is passed on in their order, each platform's once
//! the one before it is done, so the output reads as if they ran one after the other.
//! With `--verbose` they do: cargo's and docker's own output would mix. When a platform
//! fails, the build ends with its error once the platforms running beside it are done.

use std::sync::mpsc;
use std::time::Duration;

use camino::Utf8PathBuf;

use super::compile::{self, Target};
use super::decide::{Action, Together};
use super::execute::{DryRun, Runner, execute};
use super::host_runner::HostRunner;
use super::packages::OnHost;
use super::programs::Place;
use super::{
    Built, Decided, Event, Options, PlatformBuilt, Probed, begin_engine_check, contents,
    context_dir, engine_step, run,
};
use crate::error::Error;
use crate::host::docker;
use crate::host::exec::Step;
use crate::manifest::{Builder, platform_of};
use crate::plan::{Plan, PlatformPlan};

/// Builds every platform's image, then tags the host's and pushes the index.
pub(super) fn build(
    plan: &Plan,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Option<Built>, Error> {
    let plans: Vec<Plan> = plan
        .platforms
        .iter()
        .map(|p| plan.for_platform(p))
        .collect();
    if !opts.dry_run && plan.image.base_arg {
        bases_are_of_their_platforms(&plans)?;
    }
    let mut probed: Vec<Probed> = Vec::new();
    for one in &plans {
        let probed_one = Probed::new(one, opts, probed.first(), report)?;
        probed.push(probed_one);
    }
    let together = match one_cargo_run(&plans, &probed, opts) {
        Some(actions) => {
            let first = &plans[0];
            if opts.dry_run {
                execute(actions, &mut DryRun, report)?;
            } else {
                let engine = begin_engine_check(first, opts);
                let mut runner = HostRunner::new(first, Default::default(), engine, opts.verbose);
                execute(actions, &mut runner, report)?;
            }
            Together::Compiled
        }
        None => Together::Alone,
    };
    let decided: Vec<Decided> = (plans.iter().zip(probed))
        .map(|(one, probed)| probed.decide(one, opts, together))
        .collect();
    let built = if opts.verbose {
        one_after_another(&plans, decided, opts, report)?
    } else {
        side_by_side(&plans, decided, opts, report)?
    };
    let mut built: Vec<_> = plan.platforms.iter().zip(built).collect();
    let host = host_platform(&plan.platforms);
    let index = if opts.dry_run {
        finish(plan, opts, host, &mut built, &mut DryRun, report)?
    } else {
        let mut runner = HostRunner::new(plan, Default::default(), None, opts.verbose);
        finish(plan, opts, host, &mut built, &mut runner, report)?
    };
    Ok(assemble(plan, opts, host, built, index))
}

/// Each platform's base of `image.base`'s table, when it is a local image, is of that
/// platform's architecture: a wrong one fails now, before a compile and a minute of apt
/// under emulation. A base that is not local (pulled when built) is not looked into.
fn bases_are_of_their_platforms(plans: &[Plan]) -> Result<(), Error> {
    for platform in plans.iter().filter_map(|p| p.platform.as_ref()) {
        let Ok(arch) = docker::architecture_step(&platform.base).output() else {
            continue;
        };
        let arch = arch.trim();
        if !arch.is_empty() && arch != platform.arch {
            return Err(Error::WrongBase {
                platform: platform.name.clone(),
                base: platform.base.clone(),
                arch: arch.to_string(),
            });
        }
    }
    Ok(())
}

/// The one cargo run that compiles every platform's binaries, after the engine check and
/// each platform's builder: when every platform compiles with cargo and names real bin
/// targets (else each platform's pipeline compiles, or says what is wrong, itself).
fn one_cargo_run(plans: &[Plan], probed: &[Probed], opts: &Options) -> Option<Vec<Action>> {
    let first = &plans[0];
    let mut actions = vec![Action::Engine(engine_step(first, opts))];
    let mut targets = Vec::new();
    let mut names = Vec::new();
    for (plan, probed) in plans.iter().zip(probed) {
        let facts = probed.compile_facts()?;
        let choice = &facts.choice;
        if choice.builder != Builder::Cargo
            || facts.on_host != OnHost::Installed
            || compile::artifacts(&facts.metadata, &plan.app).is_err()
        {
            return None;
        }
        let platform = plan.platform.as_ref()?;
        let note = format!("builder for {}: cargo ({})", platform.name, choice.reason);
        actions.push(Action::Note(note));
        names.push(platform.name.as_str());
        targets.push(Target {
            triple: &plan.app.target,
            rust_lld: choice.rust_lld,
        });
    }
    let first_facts = probed[0].compile_facts()?;
    let locked = first_facts.lockfile && first.app.locked;
    let mut step = compile::build_step(
        &first.app,
        Builder::Cargo,
        &targets,
        &first.manifest_dir,
        locked,
    );
    step = first_facts.remap.apply(step, probed[0].facts.created);
    step.summary = format!("compile the app with cargo for {}", names.join(" and "));
    actions.push(Action::Compile {
        step,
        place: Place::Host,
    });
    Some(actions)
}

/// Each platform's image, in turn (for `--verbose`).
fn one_after_another(
    plans: &[Plan],
    decided: Vec<Decided>,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Vec<Option<Built>>, Error> {
    let mut built = Vec::new();
    for (one, decided) in plans.iter().zip(decided) {
        report(Event::Note(heading(one)));
        built.push(run(one, opts, decided, report)?);
    }
    Ok(built)
}

/// Each platform's image on a thread of its own, side by side; what each reports is
/// passed on in the platforms' order: the first's as it comes, each next one's (kept
/// until then) once the one before it is done.
fn side_by_side(
    plans: &[Plan],
    decided: Vec<Decided>,
    opts: &Options,
    report: &mut dyn FnMut(Event),
) -> Result<Vec<Option<Built>>, Error> {
    std::thread::scope(|side| {
        let mut running = Vec::new();
        for (one, decided) in plans.iter().zip(decided) {
            let (tell, told) = mpsc::channel();
            let thread = side.spawn(move || {
                run(one, opts, decided, &mut |event| {
                    let _ = tell.send(Told::from(event));
                })
            });
            running.push((one, told, thread));
        }
        let mut built = Vec::new();
        let mut failed = None;
        for (one, told, thread) in running {
            if failed.is_none() {
                report(Event::Note(heading(one)));
                told.iter().for_each(|event| event.pass_on(report));
            }
            match thread
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
            {
                Ok(one) => built.push(one),
                Err(error) => {
                    failed.get_or_insert(error);
                }
            }
        }
        failed.map_or(Ok(built), Err)
    })
}

/// The line that opens a platform's part of the report.
fn heading(plan: &Plan) -> String {
    match &plan.platform {
        Some(p) => format!("platform {} (target {}, base {})", p.name, p.target, p.base),
        None => String::new(),
    }
}

/// An [`Event`] of a platform's thread, kept until its turn to be reported.
enum Told {
    Step(Step),
    Probe(Step),
    Stage(Utf8PathBuf),
    Attach(Utf8PathBuf, String),
    Note(String),
    Done(Duration),
}

impl Told {
    fn from(event: Event) -> Told {
        match event {
            Event::Step(step) => Told::Step(step.clone()),
            Event::Probe(step) => Told::Probe(step.clone()),
            Event::Stage(context) => Told::Stage(context.to_owned()),
            Event::Attach(sbom, repository) => Told::Attach(sbom.to_owned(), repository.into()),
            Event::Note(note) => Told::Note(note),
            Event::Done(took) => Told::Done(took),
        }
    }

    fn pass_on(&self, report: &mut dyn FnMut(Event)) {
        report(match self {
            Told::Step(step) => Event::Step(step),
            Told::Probe(step) => Event::Probe(step),
            Told::Stage(context) => Event::Stage(context),
            Told::Attach(sbom, repository) => Event::Attach(sbom, repository),
            Told::Note(note) => Event::Note(note.clone()),
            Told::Done(took) => Event::Done(*took),
        })
    }
}

/// The platform `<name>:<TAG>` names: the host's, or the first target's on another host.
pub fn host_platform(platforms: &[PlatformPlan]) -> &PlatformPlan {
    let host = platform_of(std::env::consts::ARCH);
    platforms
        .iter()
        .find(|p| Some(p.name.as_str()) == host)
        .unwrap_or(&platforms[0])
}

/// After every platform's image is built (and checked): every tag of every platform
/// moves, and `<name>:<TAG>` to the host's platform's image; then, with `--push`, each
/// platform's tags are pushed (its digest kept in `built`), and one image index a TAG.
/// Returns the index's digest. Nothing here runs when a platform failed: no tag, local or
/// remote, moves then.
fn finish(
    plan: &Plan,
    opts: &Options,
    host: &PlatformPlan,
    built: &mut [(&PlatformPlan, Option<Built>)],
    runner: &mut dyn Runner,
    report: &mut dyn FnMut(Event),
) -> Result<Option<String>, Error> {
    let repository = &plan.image.repository;
    execute(tags(plan, opts, host, built), runner, report)?;
    if !opts.push {
        return Ok(None);
    }
    for (platform, one) in built.iter_mut() {
        let mut pushes: Vec<Action> = (opts.tags.iter())
            .map(|tag| {
                let reference = platform.reference(repository, tag);
                let step = docker::push_step(&reference);
                Action::Push { step, reference }
            })
            .collect();
        pushes.push(Action::Attach {
            sbom: contents::beside(&context_dir(&plan.for_platform(platform))),
            repository: repository.clone(),
        });
        let made = execute(pushes, runner, report)?;
        if let Some(one) = one {
            one.digest = made.digest.map(|d| format!("{repository}@{d}"));
            one.sbom_digest = made.sbom_digest.map(|d| format!("{repository}@{d}"));
        }
    }
    let indexes = opts.tags.iter().map(|tag| {
        let reference = format!("{repository}:{tag}");
        let images: Vec<String> = built
            .iter()
            .map(|(p, _)| p.reference(repository, tag))
            .collect();
        Action::Index {
            create: docker::index_create_step(&reference, &images),
            push: docker::index_push_step(&reference),
            reference,
        }
    });
    Ok(execute(indexes.collect(), runner, report)?.digest)
}

/// The tags of every platform's image (`<name>:<TAG>-<arch>`), then `<name>:<TAG>` of the
/// host's platform's.
fn tags(
    plan: &Plan,
    opts: &Options,
    host: &PlatformPlan,
    built: &[(&PlatformPlan, Option<Built>)],
) -> Vec<Action> {
    let repository = &plan.image.repository;
    let mut actions = Vec::new();
    // A dry run names each platform's new image.
    let image_of = |platform: &PlatformPlan| {
        let one = built.iter().find(|(p, _)| p.arch == platform.arch);
        match one.and_then(|(_, b)| b.as_ref()) {
            Some(b) => b.image_id.clone(),
            None => format!("<the new {} image>", platform.name),
        }
    };
    let mut tag = |image: String, reference: String| {
        actions.push(Action::Tag {
            shown: docker::tag_step(&image, &reference),
            image: Some(image),
            reference,
        });
    };
    for (platform, _) in built {
        for tag_name in &opts.tags {
            tag(image_of(platform), platform.reference(repository, tag_name));
        }
    }
    for tag_name in &opts.tags {
        tag(image_of(host), format!("{repository}:{tag_name}"));
    }
    actions
}

/// The build's result: the host's platform's image and every platform's.
fn assemble(
    plan: &Plan,
    opts: &Options,
    host: &PlatformPlan,
    built: Vec<(&PlatformPlan, Option<Built>)>,
    index: Option<String>,
) -> Option<Built> {
    let repository = &plan.image.repository;
    let mut platforms = Vec::new();
    let mut host_built = None;
    for (platform, one) in built {
        let one = one?;
        if platform.arch == host.arch {
            host_built = Some((one.image_id.clone(), one.context.clone(), one.builder));
        }
        platforms.push(PlatformBuilt {
            platform: platform.name.clone(),
            references: one.references,
            image_id: one.image_id,
            digest: one.digest,
            sbom: one.sbom,
            sbom_digest: one.sbom_digest,
        });
    }
    let (image_id, context, builder) = host_built?;
    Some(Built {
        references: opts
            .tags
            .iter()
            .map(|tag| format!("{repository}:{tag}"))
            .collect(),
        image_id,
        digest: index.map(|d| format!("{repository}@{d}")),
        sbom: contents::beside(&context),
        sbom_digest: None,
        context,
        builder,
        platforms,
    })
}
