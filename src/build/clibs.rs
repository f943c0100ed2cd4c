//! C libraries that Rust crates link through `-sys` crates: what a failed build script of
//! one most likely needs (the tool's diagnosis, before cargo's own lines), and which
//! run-time package an image needs when a gnu binary links the system's copy (`init`).
//! Only when the library is what was missing: a missing program is `programs.rs`'s.
//!
//! A small table of well-known crates; an unknown `-sys` crate gets the general advice.
//! Nothing here runs anything or prints.

use crate::error::{Error, SysBuild};

/// A well-known `-sys` crate and its C library.
pub struct SysCrate {
    /// The crate (`openssl-sys`).
    pub name: &'static str,
    /// The C library, in words (`OpenSSL`).
    pub library: &'static str,
    /// The crate's feature that builds the library from source for the target.
    pub from_source: &'static str,
    /// A crate in `Cargo.lock` that shows that feature is on (the library is built, not
    /// linked from the system), if there is one.
    pub source_crate: Option<&'static str>,
    /// The Debian package the image needs when a gnu binary links the system's library.
    pub runtime_package: &'static str,
    /// The Debian package the host needs to build against it (with pkg-config).
    pub dev_package: &'static str,
}

pub const SYS_CRATES: &[SysCrate] = &[
    SysCrate {
        name: "openssl-sys",
        library: "OpenSSL",
        from_source: "vendored",
        source_crate: Some("openssl-src"),
        runtime_package: "libssl3",
        dev_package: "libssl-dev",
    },
    SysCrate {
        name: "pq-sys",
        library: "libpq (PostgreSQL's client library)",
        from_source: "bundled",
        source_crate: Some("pq-src"),
        runtime_package: "libpq5",
        dev_package: "libpq-dev",
    },
    SysCrate {
        name: "mysqlclient-sys",
        library: "the MySQL client library",
        from_source: "bundled",
        source_crate: Some("mysqlclient-src"),
        runtime_package: "libmariadb3",
        dev_package: "libmariadb-dev",
    },
    SysCrate {
        name: "libsqlite3-sys",
        library: "SQLite",
        from_source: "bundled",
        source_crate: None,
        runtime_package: "libsqlite3-0",
        dev_package: "libsqlite3-dev",
    },
    SysCrate {
        name: "curl-sys",
        library: "libcurl",
        from_source: "static-curl",
        source_crate: None,
        runtime_package: "libcurl4",
        dev_package: "libcurl4-openssl-dev",
    },
    SysCrate {
        name: "libdbus-sys",
        library: "libdbus",
        from_source: "vendored",
        source_crate: None,
        runtime_package: "libdbus-1-3",
        dev_package: "libdbus-1-dev",
    },
];

/// The table's entry for the crate `name`.
pub fn known(name: &str) -> Option<&'static SysCrate> {
    SYS_CRATES.iter().find(|c| c.name == name)
}

/// A failed compile whose cargo output shows a `-sys` crate's build script failing
/// becomes [`Error::SysBuildFailed`]: the crate, the target, the ways out, then cargo's
/// error lines. Any other error is returned as it is.
pub fn diagnose(error: Error, target: &str) -> Error {
    let Error::StepFailed { output, .. } = &error else {
        return error;
    };
    let Some((krate, version)) = failed_build_script(output) else {
        return error;
    };
    // Only when the library is what was missing: a missing program (`programs.rs`) or
    // a C compile error is no library's fault.
    if !krate.ends_with("-sys") || !library_missing(output) {
        return error;
    }
    let ways = ways_out(krate, target);
    let cargo_said = cargo_lines(output);
    Error::SysBuildFailed(Box::new(SysBuild {
        krate: krate.to_string(),
        version: version.to_string(),
        target: target.to_string(),
        library: known(krate)
            .map_or("a C library", |c| c.library)
            .to_string(),
        ways,
        cargo_said,
    }))
}

/// What -sys build scripts say when the C library (or its headers) is not there.
const LIBRARY_MISSING: &[&str] = &[
    "Could not find directory of OpenSSL installation",
    "could not find system library",
    "was not found in the pkg-config search path",
    "No package '",
    "cannot find -l",
    ".h: No such file or directory",
    "Unable to find libclang",
    "library not found",
];

/// Whether the failed build script's output shows a C library (or its headers) missing.
fn library_missing(output: &str) -> bool {
    LIBRARY_MISSING.iter().any(|words| output.contains(words))
}

/// `("openssl-sys", "0.9.118")` from cargo's "failed to run custom build command for
/// `openssl-sys v0.9.118`".
/// (A path crate's version is followed by its path, which is left out.)
pub(super) fn failed_build_script(output: &str) -> Option<(&str, &str)> {
    let (_, rest) = output.split_once("failed to run custom build command for `")?;
    let (what, _) = rest.split_once('`')?;
    let (name, version) = what.split_once(" v")?;
    Some((name, version.split(' ').next().unwrap_or(version)))
}

/// What to do about a failed build script of `krate` for `target`.
fn ways_out(krate: &str, target: &str) -> Vec<String> {
    let arch = target.split('-').next().unwrap_or("x86_64");
    let gnu = format!("{arch}-unknown-linux-gnu");
    let Some(c) = known(krate) else {
        return vec![
            format!(
                "build the C library from source for the target: most -sys crates have a feature for it (`vendored`, `bundled` or `static`; see {krate}'s documentation)"
            ),
            format!(
                "or build for {gnu} against the host's library, and add its run-time Debian package to [image] packages"
            ),
        ];
    };
    let feature = format!("{}/{}", c.name, c.from_source);
    if target.ends_with("-musl") {
        vec![
            format!(
                "build {} from source for the target: {}'s `{}` feature, e.g. features = [\"{feature}\"] in [app] when your package depends on {} itself (else the same feature of the crate that does, such as openssl's `vendored`)",
                c.library, c.name, c.from_source, c.name
            ),
            format!(
                "or link the system's {}: target = \"{gnu}\" in [app] and packages = [\"{}\"] in [image] (this host needs {} and pkg-config to build it)",
                c.library, c.runtime_package, c.dev_package
            ),
        ]
    } else {
        vec![
            format!(
                "install {}'s development files on this host: on Debian `apt-get install {} pkg-config`; the image then needs packages = [\"{}\"]",
                c.library, c.dev_package, c.runtime_package
            ),
            format!(
                "or build {} from source: {}'s `{}` feature (features = [\"{feature}\"] in [app])",
                c.library, c.name, c.from_source
            ),
        ]
    }
}

/// cargo's own words about the failure: its `error` lines and the failing build script's
/// stderr, at most 30 lines.
pub(super) fn cargo_lines(output: &str) -> String {
    let mut kept = Vec::new();
    let mut in_stderr = false;
    for line in output.lines() {
        let trimmed = line.trim();
        if line.starts_with("error") {
            kept.push(line.to_string());
            in_stderr = false;
        } else if trimmed == "--- stderr" {
            in_stderr = true;
        } else if trimmed.is_empty() {
            // Blank lines go on within the build script's stderr, and are not kept.
        } else if in_stderr && line.starts_with("  ") {
            kept.push(line.to_string());
        } else if !line.starts_with(' ') {
            in_stderr = false;
        }
    }
    kept.truncate(30);
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARGO: &str = "   Compiling openssl-sys v0.9.118\nerror: failed to run custom build command for `openssl-sys v0.9.118`\n\nCaused by:\n  process didn't exit successfully: `…/build-script-main` (exit status: 101)\n  --- stdout\n  cargo:rustc-check-cfg=cfg(openssl)\n  --- stderr\n\n\n  Could not find directory of OpenSSL installation\n  $TARGET = x86_64-unknown-linux-musl\n\nwarning: build failed, waiting for other jobs to finish...\n";

    fn failed() -> Error {
        Error::StepFailed {
            summary: "compile the app with cargo".into(),
            command: "cargo build".into(),
            status: "exited with status 101".into(),
            output: CARGO.into(),
        }
    }

    #[test]
    fn a_failed_sys_build_script_gets_the_diagnosis_first_then_cargos_lines() {
        let text = diagnose(failed(), "x86_64-unknown-linux-musl").to_string();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "the build script of openssl-sys 0.9.118 failed for x86_64-unknown-linux-musl: it needs OpenSSL for the target"
        );
        let vendored = text.find("features = [\"openssl-sys/vendored\"]").unwrap();
        let gnu = text.find("packages = [\"libssl3\"]").unwrap();
        let cargo = text
            .find("error: failed to run custom build command")
            .unwrap();
        assert!(vendored < gnu && gnu < cargo, "{text}");
        assert!(
            text.contains("  Could not find directory of OpenSSL installation"),
            "{text}"
        );
        assert!(!text.contains("rustc-check-cfg"), "{text}");
    }

    #[test]
    fn other_failures_are_left_alone() {
        let other = Error::StepFailed {
            summary: "s".into(),
            command: "c".into(),
            status: "exited with status 101".into(),
            output: "error[E0308]: mismatched types".into(),
        };
        assert!(matches!(
            diagnose(other, "x86_64-unknown-linux-musl"),
            Error::StepFailed { .. }
        ));
    }
}
