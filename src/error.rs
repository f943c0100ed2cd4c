//! The one error type of buildkit-lite and its messages.
//!
//! Messages are lower-case, name the file or the command they are about, and do not repeat
//! their cause: `main` prints `error: <message>` and then one `caused by: …` line per
//! `source()`. Every variant means exit status 1.

use std::fmt;
use std::io;

use camino::Utf8PathBuf;

use crate::diagnostic::Problems;

/// A `-sys` crate's build script that failed for the target, and what to do about it.
#[derive(Debug)]
pub struct SysBuild {
    pub krate: String,
    pub version: String,
    pub target: String,
    /// The C library, in words ("OpenSSL", "a C library").
    pub library: String,
    pub ways: Vec<String>,
    /// cargo's error lines and the build script's stderr.
    pub cargo_said: String,
}

/// A build script that ran a program that was not there, and what to do about it.
#[derive(Debug)]
pub struct MissingProgram {
    pub krate: String,
    pub version: String,
    /// The program, as the build script named it (`protoc`, `x86_64-linux-musl-gcc`).
    pub program: String,
    /// Where it was missing, in words ("installed on this host", "in the cross image …").
    pub place: String,
    /// Its Debian package, when it is a known program.
    pub package: Option<String>,
    pub ways: Vec<String>,
    /// cargo's error lines and the build script's stderr.
    pub cargo_said: String,
}

#[derive(Debug)]
pub enum Error {
    /// The manifest could not be read.
    Read {
        path: Utf8PathBuf,
        source: io::Error,
    },
    /// The manifest has problems; all of them are listed.
    Invalid {
        path: Utf8PathBuf,
        problems: Problems,
    },
    /// A file referenced by the manifest could not be read.
    Input {
        path: Utf8PathBuf,
        source: io::Error,
    },
    /// A template failed to render: a bug in buildkit-lite, not in the manifest.
    Template {
        name: String,
        source: minijinja::Error,
    },
    /// Writing the build context failed.
    Write {
        path: Utf8PathBuf,
        source: io::Error,
    },
    /// `render --out` was pointed at a directory that is not a previous render.
    NotARender { path: Utf8PathBuf },
    /// A command line argument the parser could not check (`build TAG`).
    Usage(String),
    /// A command-line argument that does not fit the manifest (`test --platform` of a
    /// platform it does not build): a usage error, exit status 2.
    Argument(String),
    /// A step's program could not be started.
    Spawn {
        summary: String,
        command: String,
        source: io::Error,
    },
    /// A step ran and failed.
    StepFailed {
        summary: String,
        command: String,
        status: String,
        /// The end of its output, when it was captured rather than streamed.
        output: String,
    },
    /// No builder can compile for the target on this host (with what to install).
    NoBuilder { target: String },
    /// The crate compiles C code for the target and nothing here can (with what to install).
    NoCCompiler {
        target: String,
        /// The C compiler cc-rs would look for (`musl-gcc`, `aarch64-linux-musl-gcc`).
        compiler: String,
    },
    /// `cargo metadata` answered something unreadable.
    CargoMetadata(String),
    /// The cargo package has no bin target of that name.
    NoSuchBin {
        cargo_manifest: Utf8PathBuf,
        binary: String,
        /// The closest real bin target, when one is close.
        suggestion: Option<String>,
        /// The bin targets it does have.
        bins: Vec<String>,
    },
    /// The binary to put in the image is not an ELF executable for the target.
    NotExecutable {
        path: Utf8PathBuf,
        /// What it is instead ("a script", "a shared library (…)").
        what: String,
        target: String,
    },
    /// The container builder's part of the context could not be made (no lockfile, a
    /// Cargo.toml that is no TOML, a source tree that may not be shipped).
    ContainerBuild(String),
    /// `image.base`'s table names, for a platform, a local image of another architecture.
    WrongBase {
        platform: String,
        base: String,
        arch: String,
    },
    /// The build was interrupted by a signal; children were stopped.
    Interrupted,
    /// An error, and what is most likely to fix it.
    WithHint { error: Box<Error>, hint: String },
    /// A `-sys` crate's build script failed for the target: the ways out, then cargo's
    /// error lines.
    SysBuildFailed(Box<SysBuild>),
    /// A build script ran a program that was not there: where, its package, the ways out,
    /// then cargo's error lines.
    MissingProgram(Box<MissingProgram>),
    /// `[build] packages` that are not installed on this host, where `builder` compiles.
    MissingPackages {
        packages: Vec<String>,
        builder: String,
    },
    /// The image was built, but a binary in it cannot start there (a shared library or a
    /// glibc version missing); no tag was moved to it.
    CannotRun { binary: String, why: String },
    /// `test`: the image ran, and these (`service api`, `check ping`) failed.
    TestFailed {
        image: String,
        failures: Vec<String>,
    },
    /// `check --deny-warnings` found warnings.
    Warnings { path: Utf8PathBuf, count: usize },
    /// `--push`: the image was built and stays local; pushing it failed.
    PushFailed {
        reference: String,
        /// What docker said, and what most likely fixes it.
        reason: String,
    },
    /// `--push`: the image was pushed; attaching its SBOM to it failed.
    AttachFailed {
        /// `<repository>@sha256:…`, the pushed image.
        image: String,
        reason: String,
    },
}

/// A failed `-sys` build script: the diagnosis, the ways out, then cargo's own lines.
fn sys_build_failed(f: &mut fmt::Formatter<'_>, failed: &SysBuild) -> fmt::Result {
    let SysBuild {
        krate,
        version,
        target,
        library,
        ..
    } = failed;
    writeln!(
        f,
        "the build script of {krate} {version} failed for {target}: it needs {library} for the target"
    )?;
    ways_and_cargo(f, &failed.ways, &failed.cargo_said)
}

/// A build script that ran a missing program: the diagnosis, the ways out, cargo's lines.
fn missing_program(f: &mut fmt::Formatter<'_>, failed: &MissingProgram) -> fmt::Result {
    let MissingProgram {
        krate,
        version,
        program,
        place,
        ..
    } = failed;
    write!(
        f,
        "the build script of {krate} {version} ran `{program}`, which is not {place}"
    )?;
    match &failed.package {
        Some(package) => writeln!(f, " (Debian package: {package})")?,
        None => writeln!(f)?,
    }
    ways_and_cargo(f, &failed.ways, &failed.cargo_said)
}

/// The numbered ways out of a failed build script, then cargo's own lines.
fn ways_and_cargo(f: &mut fmt::Formatter<'_>, ways: &[String], cargo_said: &str) -> fmt::Result {
    writeln!(f, "ways out:")?;
    for (i, way) in ways.iter().enumerate() {
        writeln!(f, "  {}. {way}", i + 1)?;
    }
    writeln!(f, "cargo said:")?;
    for line in cargo_said.lines() {
        writeln!(f, "  {line}")?;
    }
    write!(f, "(all of cargo's output: build --verbose)")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, .. } => write!(f, "cannot read manifest {path}"),
            Error::Invalid { path, problems } => invalid(f, path, problems),
            Error::Input { path, .. } => write!(f, "cannot read {path}"),
            Error::Template { name, .. } => {
                write!(
                    f,
                    "template {name} failed to render (a bug in buildkit-lite)"
                )
            }
            Error::Write { path, .. } => write!(f, "cannot write {path}"),
            Error::NotARender { path } => write!(
                f,
                "{path} is not empty and is not a previous render: refusing to replace it (pass --force to replace it anyway)"
            ),
            Error::Usage(msg) | Error::Argument(msg) => f.write_str(msg),
            Error::Spawn {
                summary, command, ..
            } => write!(f, "could not {summary}: cannot run `{command}`"),
            Error::StepFailed {
                summary,
                command,
                status,
                output,
            } => step_failed(f, summary, command, status, output),
            Error::NoBuilder { target } => no_builder(f, target),
            Error::NoCCompiler { target, compiler } => {
                write!(f, "{}", no_c_compiler(target, compiler))
            }
            Error::CargoMetadata(msg) => f.write_str(msg),
            Error::NoSuchBin {
                cargo_manifest,
                binary,
                suggestion,
                bins,
            } => no_such_bin(f, cargo_manifest, binary, suggestion.as_deref(), bins),
            Error::NotExecutable { path, what, target } => write!(
                f,
                "{path} is {what}, not an ELF executable for {target}: refusing to put it in a linux image"
            ),
            Error::WithHint { error, hint } => write!(f, "{error}\nhint: {hint}"),
            other => other.fmt_after_the_build(f),
        }
    }
}

impl Error {
    /// What is most likely to fix it, when the error says (the `hint:` line of its
    /// message, and `"hint"` in `--json`).
    pub fn help(&self) -> Option<&str> {
        match self {
            Error::WithHint { hint, .. } => Some(hint),
            _ => None,
        }
    }

    /// The messages of what goes wrong once there is something to build, test or push.
    fn fmt_after_the_build(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SysBuildFailed(failed) => sys_build_failed(f, failed),
            Error::MissingProgram(failed) => missing_program(f, failed),
            Error::MissingPackages { packages, builder } => write!(
                f,
                "[build] packages not installed on this host, where {builder} compiles: {} (nothing was compiled)",
                packages.join(", ")
            ),
            Error::CannotRun { binary, why } => write!(
                f,
                "{binary} cannot run in the image: {why} (the image was built, but no tag was moved to it)"
            ),
            Error::TestFailed { image, failures } => {
                write!(f, "{image} failed its test: {}", failures.join(", "))
            }
            Error::Warnings { path, count } => write!(
                f,
                "{path}: {count} warning{} and --deny-warnings",
                plural(*count)
            ),
            Error::PushFailed { reference, reason } => write!(
                f,
                "could not push {reference} (the image was built and stays local): {reason}"
            ),
            Error::AttachFailed { image, reason } => write!(
                f,
                "could not attach the SBOM to {image} (the image was pushed without it): {reason}"
            ),
            Error::Interrupted => f.write_str(
                "interrupted: child processes stopped, nothing half-written left behind",
            ),
            Error::ContainerBuild(why) => {
                write!(f, "cannot prepare the container builder's context: {why}")
            }
            Error::WrongBase {
                platform,
                base,
                arch,
            } => write!(
                f,
                "image.base.\"{platform}\": the local image {base} is for {arch}, not {platform}: name a {platform} image there"
            ),
            _ => unreachable!("fmt handles the other errors"),
        }
    }
}

/// A failed step: what it was for, its command line and status, then its output.
fn step_failed(
    f: &mut fmt::Formatter<'_>,
    summary: &str,
    command: &str,
    status: &str,
    output: &str,
) -> fmt::Result {
    write!(f, "could not {summary}: `{command}` {status}")?;
    match output.trim_end() {
        "" => Ok(()),
        output => write!(f, "\n{output}"),
    }
}

/// A binary that is not a bin target, the closest one, and the ones there are.
fn no_such_bin(
    f: &mut fmt::Formatter<'_>,
    cargo_manifest: &Utf8PathBuf,
    binary: &str,
    suggestion: Option<&str>,
    bins: &[String],
) -> fmt::Result {
    write!(
        f,
        "{cargo_manifest} has no binary target `{binary}` (app.binary)"
    )?;
    if let Some(close) = suggestion {
        write!(f, ", did you mean `{close}`?")?;
    }
    match bins {
        [] => write!(f, "; its binaries: none"),
        bins => write!(f, "; its binaries: {}", bins.join(", ")),
    }
}

/// The crate compiles C code for `target`, and what to install for a C compiler.
pub fn no_c_compiler(target: &str, compiler: &str) -> String {
    let install = if compiler == "musl-gcc" {
        "install musl-tools (`apt-get install musl-tools`, for musl-gcc), or cargo-zigbuild"
            .to_string()
    } else {
        format!("put a `{compiler}` on PATH, or install cargo-zigbuild")
    };
    format!(
        "the app compiles C code for {target} (its dependencies include `cc` or `cmake`) and this host has no C compiler for it: \
         {install} (`cargo install cargo-zigbuild` and `pip install ziglang`) \
         and set builder = \"zigbuild\" (or `--builder zigbuild`)"
    )
}

/// No builder for `target`, and what to install for one.
fn no_builder(f: &mut fmt::Formatter<'_>, target: &str) -> fmt::Result {
    write!(
        f,
        "no way to compile for {target} on this host: run `rustup target add {target}` on Linux of its architecture (for a musl target, on any Linux whose Rust has rust-lld); \
         elsewhere install cross (`cargo install cross`) and Docker, or cargo-zigbuild (`cargo install cargo-zigbuild` and `pip install ziglang`); \
         or set `prebuilt` in [app]"
    )
}

/// Every problem of an invalid manifest, after a line that counts them.
fn invalid(f: &mut fmt::Formatter<'_>, path: &Utf8PathBuf, problems: &Problems) -> fmt::Result {
    let n = problems.total();
    write!(f, "invalid manifest {path}: {n} problem{}", plural(n))?;
    for d in &problems.diagnostics {
        write!(f, "\n{path}:{d}")?;
    }
    let more = problems.omitted;
    if more > 0 {
        write!(
            f,
            "\n… and {more} more problem{} (the first {} are shown: fix them and check again)",
            plural(more),
            problems.diagnostics.len()
        )?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. }
            | Error::Input { source, .. }
            | Error::Write { source, .. }
            | Error::Spawn { source, .. } => Some(source),
            Error::Template { source, .. } => Some(source),
            Error::WithHint { error, .. } => error.source(),
            _ => None,
        }
    }
}
