//! Docker: the steps that check for an engine and build the image, and the rules for tags.
//!
//! The docker CLI is used as the user has it set up: `DOCKER_HOST` and the current docker
//! context apply. Nothing here forces BuildKit or the legacy builder: the generated
//! Dockerfile needs neither's special features, so both build it. Nothing here prints.

use camino::Utf8Path;

use crate::error::Error;
use crate::exec::{Step, path_arg};
use crate::plan::Plan;

/// Checks a Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "invalid tag {tag:?}: a Docker tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )))
}

/// Asks the engine for its version: fails when docker is missing or the daemon does not
/// answer, before anything is compiled.
pub fn engine_step() -> Step {
    Step::new(
        "reach the Docker engine (is docker installed and its daemon running? DOCKER_HOST and the docker context apply)",
        "docker",
    )
    .args(["version", "--format", "{{.Server.Version}}"])
}

/// The commit of the manifest's git checkout, for the revision label.
pub fn revision_step(manifest_dir: &Utf8Path) -> Step {
    Step::new("read the git revision of the manifest's checkout", "git")
        .arg("-C")
        .arg(path_arg(manifest_dir))
        .args(["rev-parse", "--verify", "HEAD"])
}

/// `docker build` of a staged context, tagged `<repository>:<tag>` for each tag, with the
/// OCI labels (the version is the first tag).
pub fn build_step(
    plan: &Plan,
    tags: &[String],
    context: &Utf8Path,
    iidfile: &Utf8Path,
    revision: Option<&str>,
    no_cache: bool,
) -> Step {
    let mut step = Step::new("build the image with docker", "docker").arg("build");
    for tag in tags {
        step = step.args(["--tag", &format!("{}:{tag}", plan.image.repository)]);
    }
    let version = tags.first().map_or("", String::as_str);
    step = step
        .args([
            "--label",
            &format!("org.opencontainers.image.title={}", plan.app.name),
        ])
        .args([
            "--label",
            &format!("org.opencontainers.image.version={version}"),
        ]);
    if let Some(rev) = revision {
        step = step.args([
            "--label",
            &format!("org.opencontainers.image.revision={rev}"),
        ]);
    }
    if no_cache {
        step = step.arg("--no-cache");
    }
    // A failed step's container is removed too: a failed build leaves nothing behind.
    step.arg("--force-rm")
        .args(["--iidfile".to_string(), path_arg(iidfile)])
        .arg(path_arg(context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_dockers_rule() {
        assert!(validate_tag("v1").is_ok());
        assert!(validate_tag("1.2.3-rc_1").is_ok());
        assert!(validate_tag("").is_err());
        assert!(validate_tag("-x").is_err());
        assert!(validate_tag("a:b").is_err());
        assert!(validate_tag(&"x".repeat(129)).is_err());
    }
}
