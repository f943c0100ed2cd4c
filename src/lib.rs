//! buildkit-lite: from one `service.toml` to a container image with runit services, svlogd
//! logs and Sensu checks.
//!
//! The pipeline, one module a stage (every command runs a prefix of it):
//! `load::load` → `plan::resolve` → `render::render` → `compile` → `stage` → `docker`,
//! and after it `prove` (`test TAG`). `lint` has `check`'s warnings, `init` writes a first
//! manifest, `json` holds the `--json` documents.
//! Library code returns values and errors; only `main.rs` prints.

pub mod build;
pub mod builder;
pub mod cli;
pub mod clibs;
pub mod compile;
pub mod diagnostic;
pub mod docker;
pub mod elf;
pub mod error;
pub mod exec;
pub mod exposed;
pub mod init;
pub mod json;
pub mod layout;
pub mod lint;
pub mod load;
pub mod manifest;
pub mod plan;
pub mod project;
pub mod prove;
pub mod render;
pub mod runtime;
pub mod schema;
pub mod shell;
pub mod stage;
pub mod suggest;
pub mod validate;

pub use error::Error;

use camino::Utf8Path;

/// Loads, validates and resolves the manifest at `path`: what every command starts with.
pub fn plan(path: &Utf8Path) -> Result<plan::Plan, Error> {
    Ok(plan::resolve(&loaded(path)?))
}

/// Loads and validates the manifest at `path`; a missing one gets a pointer to `init`.
pub fn loaded(path: &Utf8Path) -> Result<manifest::Loaded, Error> {
    load::load(path).map_err(|error| match error {
        Error::Read { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            let dir = project::manifest_dir(path);
            Error::WithHint {
                error: Box::new(error),
                hint: format!(
                    "to start one from the Cargo.toml there, run `buildkit-lite init --dir {dir}`"
                ),
            }
        }
        error => error,
    })
}
