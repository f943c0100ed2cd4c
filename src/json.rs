//! The `--json` documents of `build`, `check` and `test`: one serde type each, so that what
//! the README shows and what the tool prints cannot drift apart.
//!
//! Every document is one JSON object with `"ok"`. A command that fails still prints its
//! document (`"ok": false`, with `"error"` when it did not get as far as a result), so a
//! script can always parse stdout; the exit status is the same as without `--json`.
//! Nothing here prints: `main.rs` writes the string.

use camino::Utf8Path;
use serde::Serialize;

use crate::build::Built;
use crate::error::Error;
use crate::plan::Plan;
use crate::prove::Report;

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
    builder: Option<&'a str>,
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
        builder: built.builder,
    })
}

/// A command that failed before it had a result.
#[derive(Serialize)]
struct Failed {
    ok: bool,
    error: String,
}

/// A failure: `{"ok": false, "error": "…"}`.
pub fn failed(error: &Error) -> String {
    to_string(&Failed {
        ok: false,
        error: unnested(error),
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
}

/// One problem of a manifest. A manifest that cannot be read has no line, column or key.
#[derive(Serialize)]
struct Problem {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    message: String,
}

/// The result of checking `manifest`: its counts when valid, else its problems.
pub fn checked(manifest: &Utf8Path, result: &Result<Plan, Error>) -> String {
    let mut doc = CheckDocument {
        ok: result.is_ok(),
        manifest,
        services: 0,
        checks: 0,
        tasks: 0,
        problems: Vec::new(),
        omitted: 0,
    };
    match result {
        Ok(plan) => {
            doc.services = plan.services.len();
            doc.checks = plan.checks.len();
            doc.tasks = plan.tasks.len();
        }
        Err(Error::Invalid { path, problems }) => {
            doc.problems = problems
                .diagnostics
                .iter()
                .map(|d| Problem {
                    file: path.to_string(),
                    line: Some(d.line),
                    column: Some(d.column),
                    key: Some(d.key.to_string()),
                    message: d.message.clone(),
                })
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
