//! Executing the decided actions in order: each is reported, then handed to a [`Runner`];
//! what one makes (an image ID, a digest) is handed to the next.

use super::decide::{Action, SbomLayer};
use super::packages::CrossImage;
use super::{Event, Made, Product};
use crate::error::Error;
use crate::host::docker;

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
    let mut no_cache_at = Vec::new();
    for action in actions {
        let action = without_cache_from(action, &no_cache_at);
        let action = match action {
            Action::Fail(error) => return Err(error),
            // An image already built from this very context is checked and tagged.
            Action::BuildStage(_)
            | Action::DockerBuild { .. }
            | Action::Contents(_)
            | Action::CheckRuntime { .. }
            | Action::Tag { .. }
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
            Some(Product::NoCache(reference)) => no_cache_at.push(reference),
            Some(Product::Attached(digest)) => made.sbom_digest = Some(digest),
            None => {}
        }
    }
    Ok(made)
}

/// A docker build `action` without `--cache-from` the cache images the registry lacks:
/// the classic builder given a cache image takes no layer from the engine's own earlier
/// builds, so a first build with a cache would compile every dependency again.
fn without_cache_from(action: Action, missing: &[String]) -> Action {
    match action {
        Action::BuildStage(step) => Action::BuildStage(docker::without_cache_from(&step, missing)),
        Action::DockerBuild {
            step,
            image_id_file,
        } => Action::DockerBuild {
            step: docker::without_cache_from(&step, missing),
            image_id_file,
        },
        action => action,
    }
}

/// Reports what an action is about to do (or, in a dry run, would do).
fn announce(action: &Action, report: &mut dyn FnMut(Event)) {
    match action {
        Action::Engine(step)
        | Action::Compile { step, .. }
        | Action::CrossImage(CrossImage { step, .. })
        | Action::Vendor(step)
        | Action::PullCache(step)
        | Action::BuildStage(step) => report(Event::Step(step)),
        Action::DockerBuild { step, .. } | Action::Push { step, .. } => report(Event::Step(step)),
        Action::CheckRuntime { shown, .. }
        | Action::Tag { shown, .. }
        | Action::Contents(SbomLayer { shown, .. }) => report(Event::Step(shown)),
        Action::Index { create, push, .. } => {
            report(Event::Step(create));
            report(Event::Step(push));
        }
        Action::Note(note) => report(Event::Note(note.clone())),
        Action::Stage { context, .. } => report(Event::Stage(context)),
        Action::Attach { sbom, repository } => report(Event::Attach(sbom, repository)),
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
