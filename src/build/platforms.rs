//! Several platforms (`target` as a list): every platform is probed first; then each
//! platform's image in turn, through the one-platform pipeline, tagged
//! `<name>:<TAG>-<arch>`; then `<name>:<TAG>` names the host's platform's image, and with
//! `--push`, after every platform's image is pushed, one image index a TAG lists them all.
//!
//! When every platform compiles with cargo, the first platform's compile is one cargo run
//! for every target (`--target` once each), which compiles them side by side and builds
//! the host's build scripts and proc macros once; the later platforms only stage what it
//! made. With other builders (cargo-zigbuild for C code, say), each platform compiles in
//! its turn.

use super::builder::Choice;
use super::compile::Target;
use super::decide::{Action, NEW_IMAGE, Together};
use super::execute::{DryRun, execute};
use super::host_runner::HostRunner;
use super::{Built, Event, Options, PlatformBuilt, Probed, run};
use crate::error::Error;
use crate::host::docker;
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
    let mut probed = Vec::new();
    for one in &plans {
        probed.push(Probed::new(one, opts, report)?);
    }
    let choices: Vec<Option<&Choice>> = probed.iter().map(Probed::choice).collect();
    let targets = cargo_targets(&plans, &choices);
    let mut built = Vec::new();
    for (i, (platform, (one, probed))) in plan
        .platforms
        .iter()
        .zip(plans.iter().zip(probed))
        .enumerate()
    {
        report(Event::Note(format!(
            "platform {} (target {}, base {})",
            platform.name, platform.target, platform.base
        )));
        let together = match &targets {
            None => Together::Alone,
            Some(targets) if i == 0 => Together::First(targets),
            Some(_) => Together::Done(&plan.platforms[0].name),
        };
        let decided = probed.decide(one, opts, together);
        built.push((platform, run(one, opts, decided, report)?));
    }
    let host = host_platform(&plan.platforms);
    let actions = finish(plan, opts, host, &built);
    let made = if opts.dry_run {
        execute(actions, &mut DryRun, report)?
    } else {
        let mut runner = HostRunner::new(plan, Default::default(), None, opts.verbose);
        execute(actions, &mut runner, report)?
    };
    Ok(assemble(plan, opts, host, built, made.digest))
}

/// Every platform's target, when each compiles with cargo: one cargo run builds them all.
fn cargo_targets<'a>(plans: &'a [Plan], choices: &[Option<&Choice>]) -> Option<Vec<Target<'a>>> {
    plans
        .iter()
        .zip(choices)
        .map(|(plan, choice)| match choice {
            Some(choice) if choice.builder == Builder::Cargo => Some(Target {
                triple: &plan.app.target,
                rust_lld: choice.rust_lld,
            }),
            _ => None,
        })
        .collect()
}

/// The platform `<name>:<TAG>` names: the host's, or the first target's on another host.
pub fn host_platform(platforms: &[PlatformPlan]) -> &PlatformPlan {
    let host = platform_of(std::env::consts::ARCH);
    platforms
        .iter()
        .find(|p| Some(p.name.as_str()) == host)
        .unwrap_or(&platforms[0])
}

/// After every platform's image: tag `<name>:<TAG>` as the host's platform's image, and
/// with `--push`, one image index a TAG.
fn finish(
    plan: &Plan,
    opts: &Options,
    host: &PlatformPlan,
    built: &[(&PlatformPlan, Option<Built>)],
) -> Vec<Action> {
    let repository = &plan.image.repository;
    let mut actions = Vec::new();
    let image = built
        .iter()
        .find(|(p, _)| p.arch == host.arch)
        .and_then(|(_, b)| b.as_ref().map(|b| b.image_id.clone()));
    for tag in &opts.tags {
        let reference = format!("{repository}:{tag}");
        let source = format!("{repository}:{tag}-{}", host.arch);
        let shown = docker::tag_step(image.as_deref().unwrap_or(&source), &reference);
        actions.push(Action::Tag {
            image: Some(image.clone().unwrap_or_else(|| NEW_IMAGE.to_string())),
            reference,
            shown,
        });
    }
    if opts.push {
        for tag in &opts.tags {
            let reference = format!("{repository}:{tag}");
            let images: Vec<String> = built
                .iter()
                .map(|(p, _)| format!("{repository}:{tag}-{}", p.arch))
                .collect();
            actions.push(Action::Index {
                create: docker::index_create_step(&reference, &images),
                push: docker::index_push_step(&reference),
                reference,
            });
        }
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
        context,
        builder,
        platforms,
    })
}
