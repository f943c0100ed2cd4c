//! buildkit-lite: from one `service.toml` to a container image with runit services, svlogd
//! logs and Sensu checks.
//!
//! One folder a stage, in pipeline order (every command runs a prefix of it):
//! - [`manifest`]: the `service.toml` types, loading, the rules, the schema;
//! - [`plan`]: the resolved plan a valid manifest becomes;
//! - [`render`]: the files of the build context, from templates;
//! - [`build`]: probe the host, decide, compile, stage the context, `docker build`, and the
//!   run-time check of the image;
//! - [`image_test`]: the `test` command, on a built image.
//!
//! Beside them: [`warnings`] (`check`'s warnings), [`init`] (a first manifest), [`cli`]
//! (the command line and the `--json` documents), [`diagnostic`] (positioned problems and
//! "did you mean"), [`host`] (subprocesses, Docker, git and the project's files), and the
//! shared [`error`], [`layout`] (in-image paths) and [`shell`] (quoting).
//! Imports go one way: from a stage to those before it and to the shared modules.
//! Library code returns values and errors; only `main.rs` prints.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod build;
pub mod cli;
pub mod diagnostic;
pub mod error;
pub mod host;
pub mod image_test;
pub mod init;
pub mod layout;
pub mod manifest;
pub mod plan;
pub mod render;
pub mod shell;
pub mod warnings;

pub use error::Error;

use camino::Utf8Path;

/// Loads, validates and resolves the manifest at `path`: what every command starts with.
pub fn plan(path: &Utf8Path) -> Result<plan::Plan, Error> {
    Ok(plan::resolve(&loaded(path)?))
}

/// Loads and validates the manifest at `path`; a missing one gets a pointer to `init`.
pub fn loaded(path: &Utf8Path) -> Result<manifest::Loaded, Error> {
    manifest::load::load(path).map_err(|error| match error {
        Error::Read { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            let dir = host::project::manifest_dir(path);
            Error::WithHint {
                error: Box::new(error),
                hint: format!(
                    "to start one from the Cargo.toml there, run `buildkit-lite init --dir {}`",
                    crate::shell::quote(dir.as_str())
                ),
            }
        }
        error => error,
    })
}
