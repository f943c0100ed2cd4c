//! Probing the host, read-only, for what [`decide`](super::decide) needs: where the
//! binary comes from (the builder, `cargo metadata`, the lockfile) and the git revision.

use camino::Utf8PathBuf;

use super::builder::{self, Choice};
use super::packages::{self, OnHost};
use super::stage::BuildDir;
use super::{Event, Options, compile, trust};
use crate::error::Error;
use crate::host::git;
use crate::manifest::Builder;
use crate::plan::Plan;

/// What the read-only probes found.
pub struct Facts {
    /// Where the binary comes from, or why the build cannot go on.
    pub how: Result<How, Error>,
    /// The commit of the manifest's git checkout, if it is in one.
    pub revision: Option<String>,
    /// When the image is made, in seconds since the epoch: `SOURCE_DATE_EPOCH`, else the
    /// commit time; none outside git (see `contents.rs`).
    pub created: Option<i64>,
}

/// Where the binary comes from.
pub enum How {
    /// `app.prebuilt`, a file inside the project.
    Prebuilt(Utf8PathBuf),
    /// Compiled.
    Compile(Box<CompileFacts>),
    /// Compiled by the container builder, in the image's own build stage.
    Container,
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
    /// `[build] packages` on this host, for the builders that compile here (cargo,
    /// cargo-zigbuild); `Installed` for cross, whose image gets them.
    pub on_host: OnHost,
    /// For cross: the image it compiles in, as it picks it (see `packages.rs`).
    pub cross_image: Option<String>,
    /// The paths a host compile maps to fixed ones, for reproducible binaries.
    pub remap: compile::Remap,
}

/// Asks the host what [`decide`] needs, creating nothing: whether the build directory's
/// path stays inside the project (first: the builder probes run cargo, which writes into
/// `target`), the builder (only `auto` probes, with quick read-only commands), `cargo
/// metadata` (reported as it runs), whether the workspace has a `Cargo.lock`, and the git
/// revision.
pub fn probe(plan: &Plan, opts: &Options, report: &mut dyn FnMut(Event)) -> Facts {
    std::thread::scope(|side| {
        let revision = side.spawn(|| {
            let revision = git::revision(&plan.manifest_dir);
            let created = super::contents::created(|| git::commit_time(&plan.manifest_dir));
            (revision, created)
        });
        let how = BuildDir::check(&plan.manifest_dir, &plan.app.name).and_then(|()| {
            match &plan.app.prebuilt {
                Some(path) => Ok(How::Prebuilt(path.clone())),
                // Nothing to ask the host: the build stage compiles, in the engine.
                None if plan.in_container() => Ok(How::Container),
                None => compile_facts(plan, opts, report).map(|f| How::Compile(Box::new(f))),
            }
        });
        let (revision, created) = revision.join().unwrap_or((None, None));
        Facts {
            how,
            revision,
            created,
        }
    })
}

/// The facts of another platform of the same build, from those of the first (`first`):
/// the cargo metadata, the lockfile and the revision are the same for every platform, so
/// only the builder is asked again, for this platform's target. When the first's probes
/// failed, this platform is probed in full, for an error of its own.
pub fn probe_another_platform(
    plan: &Plan,
    opts: &Options,
    first: &Facts,
    report: &mut dyn FnMut(Event),
) -> Facts {
    if let Ok(How::Container) = &first.how {
        return Facts {
            how: Ok(How::Container),
            revision: first.revision.clone(),
            created: first.created,
        };
    }
    let Ok(How::Compile(known)) = &first.how else {
        return probe(plan, opts, report);
    };
    let how = choose_builder(plan, opts).and_then(|choice| {
        let (on_host, cross_image) = where_it_compiles(plan, &choice, &known.metadata)?;
        Ok(How::Compile(Box::new(CompileFacts {
            choice,
            metadata: known.metadata.clone(),
            lockfile: known.lockfile,
            on_host,
            cross_image,
            remap: known.remap.clone(),
        })))
    });
    Facts {
        how,
        revision: first.revision.clone(),
        created: first.created,
    }
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
    let choice = choice?;
    let (on_host, cross_image) = where_it_compiles(plan, &choice, &metadata)?;
    Ok(CompileFacts {
        choice,
        remap: compile::Remap::of(&metadata),
        metadata,
        lockfile,
        on_host,
        cross_image,
    })
}

/// Where the chosen builder compiles, as far as `[build] packages` go: for cross, the
/// image it would use; for the others, whether the packages are installed on this host.
fn where_it_compiles(
    plan: &Plan,
    choice: &Choice,
    metadata: &compile::Metadata,
) -> Result<(OnHost, Option<String>), Error> {
    if choice.builder != Builder::Cross {
        return Ok((packages::on_host(&plan.build.packages)?, None));
    }
    let version = || {
        let said = crate::host::exec::Step::new("ask cross its version", "cross")
            .arg("--version")
            .output();
        let version = said.ok().and_then(|out| {
            let first = out
                .lines()
                .next()?
                .strip_prefix("cross ")?
                .trim()
                .to_string();
            Some(first.split(' ').next()?.to_string())
        });
        version.unwrap_or_else(|| "main".to_string())
    };
    let image = packages::cross_image(&plan.app.target, &metadata.workspace_root, version);
    Ok((OnHost::Installed, Some(image)))
}

/// `--builder`, else `app.builder`; `auto` asks the host.
fn choose_builder(plan: &Plan, opts: &Options) -> Result<Choice, Error> {
    let target = &plan.app.target;
    match opts.builder {
        Some(named) if named != Builder::Auto => Ok(Choice {
            builder: named,
            reason: format!("--builder {} on the command line", named.name()),
            rust_lld: false,
        }),
        wanted => builder::choose(
            wanted.unwrap_or(plan.app.builder),
            target,
            &mut builder::ThisHost::new(
                target,
                &plan.app.cargo_manifest,
                &plan.manifest_dir,
                trust(opts),
            ),
        ),
    }
}
