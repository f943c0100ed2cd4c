//! Programs a failed build script ran that were not there (`protoc`, `make`, `cmake`,
//! `pkg-config`, a C compiler, `perl`): which one, where it was missing (this host, the
//! cross image, the builder image), and the Debian package to add to `[build] packages`.
//!
//! This is the first thing said of a failed compile: a C library's diagnosis
//! (`clibs.rs`) follows only when no program was missing (jemalloc's build script that
//! found no `make` needs `make`, not a C library). Each program is recognised by what the
//! crates that run it print: prost-build's "Could not find `protoc`", cc-rs's `failed to
//! find tool "…"`, the pkg-config crate's "The pkg-config command could not be found",
//! the cmake crate's "is `cmake` not installed?", a shell's "X: not found", and the
//! `running: "make" …` (or `Command: … "perl" …`) line before a "failed to execute: No
//! such file or directory". Nothing here runs anything or prints.

use super::clibs::{cargo_lines, failed_build_script};
use crate::error::{Error, MissingProgram};

/// Where the failed compile ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// On this host (cargo, cargo-zigbuild).
    Host,
    /// In cross's image for the target.
    CrossImage(String),
    /// In the container builder's build stage, from `[build] image`.
    BuilderImage(String),
}

/// The Debian package of each program build scripts are known to run.
const PACKAGES: &[(&str, &str)] = &[
    ("protoc", "protobuf-compiler"),
    ("make", "make"),
    ("cmake", "cmake"),
    ("pkg-config", "pkg-config"),
    ("perl", "perl"),
    ("cc", "gcc"),
    ("gcc", "gcc"),
    ("c++", "g++"),
    ("g++", "g++"),
    ("musl-gcc", "musl-tools"),
    ("x86_64-linux-musl-gcc", "musl-tools"),
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("x86_64-linux-gnu-gcc", "gcc-x86-64-linux-gnu"),
    ("clang", "clang"),
    ("nasm", "nasm"),
    ("git", "git"),
    ("python3", "python3"),
    ("pg_config", "libpq-dev"),
];

/// The Debian package that has `program` (a name or a path), if it is a known one.
pub fn package_of(program: &str) -> Option<&'static str> {
    let name = program.rsplit('/').next().unwrap_or(program);
    PACKAGES.iter().find(|(p, _)| *p == name).map(|(_, d)| *d)
}

/// A failed compile whose build script ran a program that was not there becomes
/// [`Error::MissingProgram`]: the program, where it was missing, the package and the ways
/// out, then cargo's error lines. Any other error is returned as it is.
pub fn diagnose(error: Error, place: &Place) -> Error {
    let Error::StepFailed { output, .. } = &error else {
        return error;
    };
    let Some((krate, version)) = failed_build_script(output) else {
        return error;
    };
    let Some(program) = missing(output) else {
        return error;
    };
    let package = package_of(&program).map(str::to_string);
    Error::MissingProgram(Box::new(MissingProgram {
        krate: krate.to_string(),
        version: version.to_string(),
        place: match place {
            Place::Host => "installed on this host".to_string(),
            Place::CrossImage(image) => format!("in the cross image {image}"),
            Place::BuilderImage(image) => format!("in the builder image {image}"),
        },
        ways: ways_out(&program, package.as_deref(), place),
        program,
        package,
        cargo_said: cargo_lines(output),
    }))
}

/// The program a failed build script ran and did not find, from cargo's output.
pub fn missing(output: &str) -> Option<String> {
    let (_, section) = output.split_once("failed to run custom build command for `")?;
    if section.contains("Could not find `protoc`") || section.contains("failed to invoke protoc") {
        return Some("protoc".into());
    }
    if let Some(tool) = between(section, "failed to find tool \"", "\"")
        .or_else(|| between(section, "Failed to find tool. Is `", "`"))
    {
        return Some(tool.to_string());
    }
    if section.contains("The pkg-config command could not be found") {
        return Some("pkg-config".into());
    }
    if section.contains("is `cmake` not installed?") {
        return Some("cmake".into());
    }
    if section.contains("no acceptable C compiler found in $PATH") {
        return Some("cc".into());
    }
    not_found_by_a_shell(section).or_else(|| failed_to_execute(section))
}

/// `text` between the first `start` and the `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(start)?;
    rest.split_once(end).map(|(found, _)| found)
}

/// `sh: 1: protoc: not found` (dash) or `bash: make: command not found`: the program.
fn not_found_by_a_shell(section: &str) -> Option<String> {
    section.lines().find_map(|line| {
        let line = line.trim();
        let rest = line
            .strip_suffix(": not found")
            .or_else(|| line.strip_suffix(": command not found"))?;
        let program = rest.rsplit(": ").next()?;
        let plain = !program.is_empty() && !program.contains(char::is_whitespace);
        plain.then(|| program.to_string())
    })
}

/// A `running: cd "…" && "make" "-j"` (or openssl-src's `Command: … "perl" "./Configure"`)
/// line, then "failed to execute …: No such file or directory": the program of the last
/// such line.
fn failed_to_execute(section: &str) -> Option<String> {
    let lower = section.to_ascii_lowercase();
    if !(lower.contains("failed to execute") && section.contains("No such file or directory")) {
        return None;
    }
    let command = section.lines().rev().find_map(|line| {
        let line = line.trim();
        line.strip_prefix("running: ")
            .or_else(|| line.strip_prefix("Command: "))
    })?;
    let after_cd = command.rsplit("&& ").next().unwrap_or(command);
    let quoted = after_cd
        .split_whitespace()
        .find(|word| word.starts_with('"'))?;
    let program = quoted.trim_matches('"');
    (!program.is_empty()).then(|| program.to_string())
}

/// Whether `program` (a name or a path) is a C or C++ compiler.
fn is_c_compiler(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    ["cc", "gcc", "c++", "g++", "clang"]
        .iter()
        .any(|c| name == *c || name.ends_with(&format!("-{c}")))
}

/// What to do about `program` missing at `place`.
fn ways_out(program: &str, package: Option<&str>, place: &Place) -> Vec<String> {
    let (named, listed) = match package {
        Some(p) => (p.to_string(), format!("packages = [\"{p}\"]")),
        None => (
            format!("the Debian package that has `{program}`"),
            "its package in packages".to_string(),
        ),
    };
    match place {
        Place::Host => {
            let install = match package {
                Some(p) => format!("`sudo apt-get install {p}`"),
                None => format!("with {named}"),
            };
            let mut ways = vec![
                format!(
                    "install it on this host ({install}) and list it in [build]: {listed} (build then checks it is installed before compiling)"
                ),
                format!(
                    "or compile in the image's build stage, which installs it: builder = \"container\" in [app] and {listed} in [build]"
                ),
            ];
            if is_c_compiler(program) {
                ways.push("or builder = \"zigbuild\" in [app]: cargo-zigbuild's `zig cc` compiles C for every target".into());
            }
            ways
        }
        Place::CrossImage(image) => vec![format!(
            "add {listed} to [build]: build installs it in an image made from {image} for cross to compile in"
        )],
        Place::BuilderImage(image) => vec![
            format!("add {listed} to [build]: the build stage installs it"),
            format!("or use a [build] image that has `{program}` (now {image})"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(output: &str) -> Error {
        Error::StepFailed {
            summary: "compile the app with cargo".into(),
            command: "cargo build".into(),
            status: "exited with status 101".into(),
            output: output.into(),
        }
    }

    const HEAD: &str = "   Compiling api v0.1.0 (/p)\nerror: failed to run custom build command for `api v0.1.0 (/p)`\n\nCaused by:\n  process didn't exit successfully: `/p/target/release/build/api-1/build-script-build` (exit status: 1)\n";

    #[test]
    fn each_known_crates_words_name_the_program() {
        let cases = [
            (
                "  --- stderr\n  Error: Custom { kind: NotFound, error: \"Could not find `protoc`. If `protoc` is installed, try setting the `PROTOC` environment variable\" }\n",
                "protoc",
            ),
            (
                "  --- stdout\n  running: cd \"/o/build\" && \"make\" \"srcs\"\n  --- stderr\n  thread 'main' panicked at build.rs:9:\n  failed to execute command: No such file or directory (os error 2)\n",
                "make",
            ),
            (
                "  running: \"cmake\" \"/p/cpp\"\n  --- stderr\n  failed to execute command: No such file or directory (os error 2)\n  is `cmake` not installed?\n",
                "cmake",
            ),
            (
                "  Could not run `PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 pkg-config --libs --cflags openssl`\n  The pkg-config command could not be found.\n",
                "pkg-config",
            ),
            (
                "  error occurred in cc-rs: failed to find tool \"x86_64-linux-musl-gcc\": No such file or directory (os error 2)\n",
                "x86_64-linux-musl-gcc",
            ),
            (
                "  Error configuring OpenSSL build:\n      Command: cd \"/o/src\" && env -u CROSS_COMPILE AR=\"ar\" CC=\"cc\" \"perl\" \"./Configure\" \"--prefix=/o\"\n      Failed to execute: No such file or directory (os error 2)\n",
                "perl",
            ),
            (
                "  --- stderr\n  sh: 1: protoc-gen-x: not found\n",
                "protoc-gen-x",
            ),
        ];
        for (tail, program) in cases {
            assert_eq!(
                missing(&format!("{HEAD}{tail}")).as_deref(),
                Some(program),
                "{tail}"
            );
        }
    }

    #[test]
    fn a_program_that_ran_and_failed_is_not_missing() {
        let ran = format!(
            "{HEAD}  --- stderr\n  Could not find directory of OpenSSL installation\n  running: \"make\"\n  make: *** No rule to make target\n"
        );
        assert_eq!(missing(&ran), None);
        // Words of a missing program outside a failed build script are no diagnosis.
        assert_eq!(missing("error[E0425]: Could not find `protoc`"), None);
    }

    #[test]
    fn the_diagnosis_names_the_place_and_the_package_before_cargos_lines() {
        let out = format!(
            "{HEAD}  --- stderr\n  Error: Custom {{ kind: NotFound, error: \"Could not find `protoc`.\" }}\n"
        );
        let text = diagnose(failed(&out), &Place::CrossImage("img:1".into())).to_string();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "the build script of api 0.1.0 ran `protoc`, which is not in the cross image img:1 (Debian package: protobuf-compiler)"
        );
        let way = text
            .find("add packages = [\"protobuf-compiler\"] to [build]")
            .unwrap();
        let cargo = text.find("cargo said:").unwrap();
        assert!(way < cargo, "{text}");
        let host = diagnose(failed(&out), &Place::Host).to_string();
        assert!(
            host.contains("`sudo apt-get install protobuf-compiler`"),
            "{host}"
        );
        assert!(matches!(
            diagnose(failed("error[E0308]"), &Place::Host),
            Error::StepFailed { .. }
        ));
    }
}
