//! The `--json` documents of `build`, `check` and `test`: one serde type each, so that what
//! docs/operate.md shows and what the tool prints cannot drift apart.
//!
//! Every document is one JSON object with `"ok"`. A command that fails still prints its
//! document (`"ok": false`, with `"error"` when it did not get as far as a result), so a
//! script can always parse stdout; the exit status is the same as without `--json`.
//! Nothing here prints: `main.rs` writes the string.

use camino::Utf8Path;
use serde::Serialize;

use crate::build::{Built, PlatformBuilt};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::image_test::Report;
use crate::plan::Plan;

/// `build --json`.
#[derive(Serialize)]
struct BuildDocument<'a> {
    ok: bool,
    /// The first reference (`<repository>:<first tag>`).
    image: &'a str,
    references: &'a [String],
    tags: &'a [String],
    image_id: &'a str,
    /// `<repository>@sha256:…`, after `--push`.
    digest: Option<&'a str>,
    context: &'a Utf8Path,
    /// The image's CycloneDX SBOM, beside the context.
    sbom: &'a Utf8Path,
    /// `<repository>@sha256:…` of the SBOM attached to the pushed image, after `--push`
    /// (with several targets, each platform's is in `platforms`).
    sbom_digest: Option<&'a str>,
    builder: Option<&'a str>,
    /// With several targets: every platform's image. Then `image_id` is the host's
    /// platform's and `digest` (after `--push`) the image index's.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    platforms: &'a [PlatformBuilt],
}

/// A built image.
pub fn built(built: &Built, tags: &[String]) -> String {
    to_string(&BuildDocument {
        ok: true,
        image: built.references.first().map_or("", String::as_str),
        references: &built.references,
        tags,
        image_id: &built.image_id,
        digest: built.digest.as_deref(),
        context: &built.context,
        sbom: &built.sbom,
        sbom_digest: built.sbom_digest.as_deref(),
        builder: built.builder,
        platforms: &built.platforms,
    })
}

/// `build --dry-run --json`: what the build would do, in order.
#[derive(Serialize)]
struct PlanDocument<'a> {
    ok: bool,
    dry_run: bool,
    tags: &'a [String],
    steps: &'a [PlannedStep],
}

/// One thing a dry run would do: a command (with the directory it runs in, if any), or
/// staging the context into a directory.
#[derive(Serialize, Debug, Clone)]
pub struct PlannedStep {
    /// What it is for: "compile the app with cargo", "stage the build context".
    pub summary: String,
    /// The shell command line, as `--dry-run` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Where the context would be staged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
}

/// The plan of a dry run.
pub fn planned(tags: &[String], steps: &[PlannedStep]) -> String {
    to_string(&PlanDocument {
        ok: true,
        dry_run: true,
        tags,
        steps,
    })
}

/// A command line clap refused, with `--json`: `{"ok": false, "usage": true, "error": …}`.
#[derive(Serialize)]
struct UsageDocument {
    ok: bool,
    usage: bool,
    error: String,
}

/// A usage error's document (exit status 2).
pub fn usage(error: &str) -> String {
    to_string(&UsageDocument {
        ok: false,
        usage: true,
        error: error.trim().to_string(),
    })
}

/// A command that failed before it had a result.
#[derive(Serialize)]
struct Failed<'a> {
    ok: bool,
    /// The whole message, its `hint:` line too.
    error: String,
    /// What is most likely to fix it, when the error says ([`Error::help`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

/// A failure: `{"ok": false, "error": "…"}`, with `"hint"` when the error has one.
pub fn failed(error: &Error) -> String {
    to_string(&Failed {
        ok: false,
        error: unnested(error),
        hint: error.help(),
    })
}

/// `check --json`.
#[derive(Serialize)]
struct CheckDocument<'a> {
    ok: bool,
    manifest: &'a Utf8Path,
    services: usize,
    checks: usize,
    tasks: usize,
    /// Every problem shown (the first 50, in source order).
    problems: Vec<Problem>,
    /// Problems beyond those listed.
    omitted: usize,
    /// Warnings of a valid manifest.
    warnings: Vec<Problem>,
}

/// One problem or warning of a manifest. A manifest that cannot be read has no line,
/// column or key.
#[derive(Serialize)]
struct Problem {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    message: String,
}

impl Problem {
    fn at(file: &Utf8Path, d: &Diagnostic) -> Self {
        Problem {
            file: file.to_string(),
            line: Some(d.line),
            column: Some(d.column),
            key: Some(d.key.to_string()),
            message: d.message.clone(),
        }
    }
}

/// The result of checking `manifest`: its counts and warnings when valid, else its
/// problems. `ok` is false when it is invalid, or has warnings and `deny_warnings`.
pub fn checked(
    manifest: &Utf8Path,
    result: &Result<(Plan, Vec<Diagnostic>), Error>,
    deny_warnings: bool,
) -> String {
    let mut doc = CheckDocument {
        ok: false,
        manifest,
        services: 0,
        checks: 0,
        tasks: 0,
        problems: Vec::new(),
        omitted: 0,
        warnings: Vec::new(),
    };
    match result {
        Ok((plan, warnings)) => {
            doc.ok = warnings.is_empty() || !deny_warnings;
            doc.services = plan.services.len();
            doc.checks = plan.checks.len();
            doc.tasks = plan.tasks.len();
            doc.warnings = warnings.iter().map(|w| Problem::at(manifest, w)).collect();
        }
        Err(Error::Invalid { path, problems }) => {
            doc.problems = problems
                .diagnostics
                .iter()
                .map(|d| Problem::at(path, d))
                .collect();
            doc.omitted = problems.omitted;
        }
        Err(other) => doc.problems.push(Problem {
            file: manifest.to_string(),
            line: None,
            column: None,
            key: None,
            message: unnested(other),
        }),
    }
    to_string(&doc)
}

/// An error's message with its causes, on one line.
fn unnested(error: &Error) -> String {
    if let Error::WithHint { error, hint } = error {
        return format!("{} (hint: {hint})", unnested(error));
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// `test --json`: the report, with `ok` for `passed`.
#[derive(Serialize)]
struct TestDocument<'a> {
    ok: bool,
    #[serde(flatten)]
    report: &'a Report,
}

/// The report of a test.
pub fn tested(report: &Report) -> String {
    to_string(&TestDocument {
        ok: report.passed,
        report,
    })
}

fn to_string(document: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("documents serialize");
    text.push('\n');
    text
}
