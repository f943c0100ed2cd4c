//! The command line: clap derive types only. Doc comments are the help text.

pub mod json;

use camino::Utf8PathBuf;
use clap::{Parser, Subcommand};

use crate::manifest::Builder;

/// Build container images for Rust services from one declarative service.toml: the binary,
/// runit services with svlogd logging, and Sensu checks.
#[derive(Debug, Parser)]
#[command(name = "buildkit-lite", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile the app, stage the build context and `docker build` it as <image>:<TAG>
    Build {
        /// The image tags: one image, tagged with each; the first is also the
        /// org.opencontainers.image.version label
        #[arg(value_parser = parse_tag, required = true, num_args = 1..)]
        tags: Vec<String>,
        #[command(flatten)]
        manifest: ManifestArg,
        /// Print every command that would run, and run none
        #[arg(long)]
        dry_run: bool,
        /// Pass --no-cache to docker build
        #[arg(long)]
        no_cache: bool,
        /// Compile with this builder for this run instead of the manifest's app.builder
        #[arg(long, value_name = "BUILDER", value_parser = parse_builder)]
        builder: Option<Builder>,
        /// With the container builder: fetch the crates here (`cargo vendor`, no compile)
        /// into the context, and compile offline there ([build] vendor = true)
        #[arg(long)]
        vendor: bool,
        /// With the container builder: read the build's layers from this registry image,
        /// and write them there with --push ([build] cache)
        #[arg(long, value_name = "REF", value_parser = parse_cache)]
        cache: Option<String>,
        /// After the build, push every tag to the registry in image.name and print the digest
        #[arg(long)]
        push: bool,
        /// Print the result as one JSON document on stdout (progress stays on stderr)
        #[arg(long)]
        json: bool,
        /// Stream cargo's and docker's output instead of one line per step
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Prove a built image: start it, wait for every service, run every check, stop it
    Test {
        /// The tag of the image to test (<image.name>:<TAG>)
        #[arg(value_parser = parse_tag)]
        tag: String,
        #[command(flatten)]
        manifest: ManifestArg,
        /// Seconds the services get to come up and the checks to pass, together
        #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
        timeout: u64,
        /// The platform's image to test, of several (`<image.name>:<TAG>-<arch>`), under
        /// emulation on a host of another architecture; default: the host's
        #[arg(long, value_name = "PLATFORM", value_parser = ["linux/amd64", "linux/arm64"])]
        platform: Option<String>,
        /// Print the results as one JSON document on stdout (progress stays on stderr)
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: TestArgs,
    },
    /// Show what is in a built image: its SBOM's crates, Debian packages and base
    Sbom {
        /// The tag of the image (<image.name>:<TAG>)
        #[arg(value_parser = parse_tag)]
        tag: String,
        #[command(flatten)]
        manifest: ManifestArg,
        /// Print the SBOM itself (CycloneDX 1.5 JSON) on stdout
        #[arg(long)]
        json: bool,
    },
    /// Write the build context (without the binary) for review, to --out DIR or stdout
    Render {
        #[command(flatten)]
        manifest: ManifestArg,
        /// Write the files into DIR (atomically) instead of printing them
        #[arg(long, value_name = "DIR")]
        out: Option<Utf8PathBuf>,
        /// Replace DIR even when it is not a previous render
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Validate the manifest and report every problem
    Check {
        #[command(flatten)]
        manifest: ManifestArg,
        /// Print the result as one JSON document on stdout: every problem with its file,
        /// line, column, key and message
        #[arg(long)]
        json: bool,
        /// Fail (exit 1) on warnings too: for CI
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Write a commented service.toml (and its schema file) from the Cargo.toml in DIR
    Init {
        /// The directory with the Cargo.toml
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: Utf8PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
    /// Print the JSON Schema of service.toml (for editors)
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct ManifestArg {
    /// Path of the manifest
    #[arg(
        short = 'f',
        long = "manifest",
        value_name = "PATH",
        default_value = "service.toml"
    )]
    pub path: Utf8PathBuf,
}

/// A builder name, as `app.builder` takes it.
fn parse_builder(name: &str) -> Result<Builder, String> {
    [
        Builder::Auto,
        Builder::Cargo,
        Builder::Cross,
        Builder::Zigbuild,
        Builder::Container,
    ]
    .into_iter()
    .find(|b| b.name() == name)
    .ok_or_else(|| {
        format!("`{name}` is not a builder: one of auto, cargo, cross, zigbuild, container")
    })
}

/// A cache image reference, checked while parsing (a usage error otherwise).
fn parse_cache(reference: &str) -> Result<String, String> {
    crate::manifest::rules::cache_reference(reference)?;
    Ok(reference.to_string())
}

/// A Docker tag, checked while parsing so that a bad one is a usage error (exit 2).
fn parse_tag(tag: &str) -> Result<String, String> {
    crate::host::docker::validate_tag(tag).map_err(|e| e.to_string())?;
    Ok(tag.to_string())
}

/// What `test` gives its container, as a deployment would; over the manifest's `[test]`.
/// Values are never printed, put in the image or in `--json`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// An environment variable for the container (repeatable; wins over `[test] env`)
    #[arg(long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// A file of NAME=VALUE lines for the container (docker's env-file format)
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<Utf8PathBuf>,
    /// An existing Docker network for the container to join
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// A directory or named volume to mount, SRC:DST or SRC:DST:ro (repeatable; replaces
    /// `[test] volumes`)
    #[arg(long, value_name = "SRC:DST[:ro]")]
    pub volume: Vec<String>,
    /// Run the container as production does: `--security-opt no-new-privileges`, with
    /// `[image] user` `--cap-drop ALL`, with `[image] read-only` `--read-only --tmpfs /run`
    /// (default: `[test] hardened`)
    #[arg(long)]
    pub hardened: bool,
    /// Run the container with a read-only root and a tmpfs on /run, to see what the
    /// services write
    #[arg(long)]
    pub read_only: bool,
}
