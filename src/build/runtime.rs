//! What a dynamically linked binary needs at run time, checked inside the image `build`
//! has just made, before any tag names it: the dynamic loader must find every shared
//! library the binary needs (`DT_NEEDED`, transitively), and the image's glibc must have
//! every symbol version it asks for (`GLIBC_2.x`).
//!
//! In: the new image's ID and, for each dynamically linked binary, its path in the image
//! and its interpreter (`PT_INTERP`, read from the file by `elf.rs`). It costs one short
//! `docker run --network none` of the image, which asks the loader itself
//! (`<interpreter> --list <binary>`) and `getconf GNU_LIBC_VERSION`. Out: nothing, or an
//! error naming each missing library with the Debian package that provides it and the
//! `packages` line that fixes it, or the glibc version needed and the one the base has.
//! A statically linked binary (musl) needs nothing and runs no container. Nothing here
//! prints.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::host::exec::Step;

/// A binary the dynamic loader links at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dynamic {
    /// Its path in the image.
    pub install_path: String,
    /// Its loader (`/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: String,
}

/// The shell script the check runs in the image: for each (loader, binary) pair given as
/// arguments, the loader's list of what it links, then the image's glibc version. Each
/// part is marked with a `== ` line.
const SCRIPT: &str = r#"while [ "$#" -gt 1 ]; do
  echo "== binary $2"
  if [ -e "$1" ]; then LD_TRACE_LOADED_OBJECTS=1 "$1" "$2" 2>&1 || echo "== status $?"; else echo "== no loader $1"; fi
  shift 2
done
echo "== glibc $(getconf GNU_LIBC_VERSION 2>/dev/null)""#;

/// The `docker run` that asks the image what `binaries` need.
pub fn check_step(image: &str, binaries: &[Dynamic]) -> Step {
    let mut step = Step::new(
        "check that the image has what the binaries need at run time",
        "docker",
    )
    .args([
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
    ])
    .args([image, "-c", SCRIPT, "sh"]);
    for binary in binaries {
        step = step.args([&binary.interpreter, &binary.install_path]);
    }
    step
}

/// What the loader said of one binary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub binary: String,
    /// Shared libraries the loader does not find.
    pub missing: Vec<String>,
    /// Symbol versions the image's glibc lacks (`GLIBC_2.34`).
    pub versions: Vec<String>,
    /// The loader itself is not in the image.
    pub no_loader: Option<String>,
    /// The loader failed, and said this (when nothing above explains it).
    pub failed: Option<String>,
    /// Everything the loader said.
    said: Vec<String>,
}

impl Needs {
    fn is_met(&self) -> bool {
        self.missing.is_empty()
            && self.versions.is_empty()
            && self.no_loader.is_none()
            && self.failed.is_none()
    }
}

/// Reads the check's output: each binary's unmet needs, and the image's glibc version.
pub fn read(output: &str) -> (Vec<Needs>, Option<String>) {
    let mut all: Vec<Needs> = Vec::new();
    let mut glibc = None;
    for line in output.lines() {
        if let Some(binary) = line.strip_prefix("== binary ") {
            all.push(Needs {
                binary: binary.to_string(),
                ..Needs::default()
            });
        } else if let Some(version) = line.strip_prefix("== glibc ") {
            glibc = version
                .trim()
                .strip_prefix("glibc ")
                .map(str::to_string)
                .filter(|v| !v.is_empty());
        } else if let Some(needs) = all.last_mut() {
            if let Some(loader) = line.strip_prefix("== no loader ") {
                needs.no_loader = Some(loader.to_string());
            } else if let Some(status) = line.strip_prefix("== status ") {
                let explained = !needs.missing.is_empty() || !needs.versions.is_empty();
                if !explained {
                    let said = needs.said.join(" | ");
                    needs.failed = Some(format!("the loader exited with {status}: {said}"));
                }
            } else if let Some((lib, _)) = line.trim().split_once(" => not found") {
                push_once(&mut needs.missing, lib.trim());
            } else if let Some(lib) = cannot_open(line) {
                push_once(&mut needs.missing, lib);
            } else if let Some(version) = not_found_version(line) {
                push_once(&mut needs.versions, version);
            } else {
                needs.said.push(line.trim().to_string());
            }
        }
    }
    (all, glibc)
}

/// `libssl.so.3` from "error while loading shared libraries: libssl.so.3: cannot open
/// shared object file".
fn cannot_open(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("error while loading shared libraries: ")?;
    let (lib, rest) = rest.split_once(": ")?;
    rest.starts_with("cannot open").then_some(lib)
}

fn push_once(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|i| i == item) {
        list.push(item.to_string());
    }
}

/// `GLIBC_2.34` from the loader's "version `GLIBC_2.34' not found (required by …)".
fn not_found_version(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("version `")?;
    let (version, rest) = rest.split_once('\'')?;
    rest.starts_with(" not found").then_some(version)
}

/// Runs the check of `binaries` in `image` (built from `base`, for `target`): nothing to
/// do for none; an error saying what is missing and how to fix it otherwise.
pub fn check(image: &str, binaries: &[Dynamic], base: &str, target: &str) -> Result<(), Error> {
    if binaries.is_empty() {
        return Ok(());
    }
    let attempt = check_step(image, binaries).attempt()?;
    let (needs, glibc) = read(&attempt.stdout);
    if needs.len() != binaries.len() {
        return Err(check_step(image, binaries).failed(&attempt));
    }
    match needs.into_iter().find(|n| !n.is_met()) {
        None => Ok(()),
        Some(unmet) => Err(cannot_run(&unmet, glibc.as_deref(), base, target)),
    }
}

/// The error for a binary whose needs the image does not meet, with the fix as its hint.
fn cannot_run(needs: &Needs, glibc: Option<&str>, base: &str, target: &str) -> Error {
    let (why, hint) = if let Some(failed) = &needs.failed {
        let hint =
            "run the binary in the image by hand (`docker run --entrypoint /bin/sh …`) to see why";
        (failed.clone(), hint.to_string())
    } else if let Some(loader) = &needs.no_loader {
        (
            format!("its dynamic loader {loader} is not in the image"),
            format!(
                "build for {} (a static binary needs no loader), or use a glibc base such as debian:bookworm-slim",
                static_target(target)
            ),
        )
    } else if !needs.versions.is_empty() {
        glibc_too_old(&needs.versions, glibc, base, target)
    } else {
        libraries_missing(&needs.missing)
    };
    Error::WithHint {
        error: Box::new(Error::CannotRun {
            binary: needs.binary.clone(),
            why,
        }),
        hint,
    }
}

/// Why and what to do, when the image's glibc lacks symbol `versions`.
fn glibc_too_old(
    versions: &[String],
    glibc: Option<&str>,
    base: &str,
    target: &str,
) -> (String, String) {
    let newest = newest_version(versions).trim_start_matches("GLIBC_");
    let has = glibc.unwrap_or("an older one");
    (
        format!(
            "it needs glibc {newest} ({}), and {base} has glibc {has}",
            versions.join(", ")
        ),
        format!(
            "build for {} (a static binary runs on any base), or use a base with glibc {newest} or newer (debian:bookworm-slim has 2.36)",
            static_target(target)
        ),
    )
}

/// Why and what to do, when the loader finds no `missing` libraries: each named with its
/// Debian package, and the `packages` line that adds them.
fn libraries_missing(missing: &[String]) -> (String, String) {
    let found: Vec<(&String, Option<String>)> =
        missing.iter().map(|lib| (lib, package_of(lib))).collect();
    let named: Vec<String> = found
        .iter()
        .map(|(lib, package)| match package {
            Some(package) => format!("{lib} (Debian package {package})"),
            None => format!("{lib} (no package known to provide it)"),
        })
        .collect();
    let packages: BTreeSet<&str> = found.iter().filter_map(|(_, p)| p.as_deref()).collect();
    let hint = if packages.is_empty() {
        "install the package that provides it with [image] packages, or build a static binary"
            .to_string()
    } else {
        let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
        format!(
            "add packages = [{}] to [image] (beside any packages it lists already)",
            list.join(", ")
        )
    };
    (
        format!("the dynamic loader finds no {}", named.join(", ")),
        hint,
    )
}

/// The musl target of the same architecture as `target`.
fn static_target(target: &str) -> String {
    let arch = target.split('-').next().unwrap_or("x86_64");
    format!("{arch}-unknown-linux-musl")
}

/// The highest of `GLIBC_2.x` versions, by number.
fn newest_version(versions: &[String]) -> &str {
    let key = |v: &String| -> Vec<u32> {
        v.trim_start_matches("GLIBC_")
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect()
    };
    versions
        .iter()
        .max_by_key(|v| key(v))
        .map_or("GLIBC_?", String::as_str)
}

/// Well-known shared libraries and the Debian (bookworm) package that provides each: for
/// when this host's package database does not know the library.
const PACKAGES: &[(&str, &str)] = &[
    ("libssl.so.3", "libssl3"),
    ("libcrypto.so.3", "libssl3"),
    ("libssl.so.1.1", "libssl1.1"),
    ("libcrypto.so.1.1", "libssl1.1"),
    ("libpq.so.5", "libpq5"),
    ("libsqlite3.so.0", "libsqlite3-0"),
    ("libz.so.1", "zlib1g"),
    ("libzstd.so.1", "libzstd1"),
    ("liblzma.so.5", "liblzma5"),
    ("libbz2.so.1.0", "libbz2-1.0"),
    ("libgcc_s.so.1", "libgcc-s1"),
    ("libstdc++.so.6", "libstdc++6"),
    ("libcurl.so.4", "libcurl4"),
    ("libmariadb.so.3", "libmariadb3"),
    ("libdbus-1.so.3", "libdbus-1-3"),
    ("libudev.so.1", "libudev1"),
    ("libgmp.so.10", "libgmp10"),
    ("libffi.so.8", "libffi8"),
    ("libsodium.so.23", "libsodium23"),
    ("libpcre2-8.so.0", "libpcre2-8-0"),
];

/// The Debian package that provides the shared library `lib`: this host's package
/// database first (the library the linker used is most likely the host's), then
/// [`PACKAGES`].
pub fn package_of(lib: &str) -> Option<String> {
    host_package(lib).or_else(|| {
        PACKAGES
            .iter()
            .find(|(name, _)| *name == lib)
            .map(|(_, package)| package.to_string())
    })
}

/// `dpkg-query -S '*/<lib>'`: the package of a file of that name in a library directory.
fn host_package(lib: &str) -> Option<String> {
    let out = Step::new("ask dpkg which package has a library", "dpkg-query")
        .args(["-S", &format!("*/{lib}")])
        .output()
        .ok()?;
    out.lines().find_map(|line| {
        let (packages, path) = line.split_once(": ")?;
        let in_lib_dir = path.contains("/lib/") || path.contains("/lib64/");
        let named = path.rsplit('/').next() == Some(lib);
        let package = packages.split(", ").next()?.split(':').next()?;
        (in_lib_dir && named && !package.ends_with("-dev")).then(|| package.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaders_words_are_read() {
        let output = "== binary /bin/app\n\tlinux-vdso.so.1 (0x00007ffd)\n\tlibssl.so.3 => not found\n\tlibcrypto.so.3 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n== binary /bin/old\n/bin/old: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by /bin/old)\n/bin/old: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found (required by /bin/old)\n== status 1\n== binary /bin/musl\n== no loader /lib/ld-musl-x86_64.so.1\n== glibc glibc 2.31\n";
        let (needs, glibc) = read(output);
        assert_eq!(glibc.as_deref(), Some("2.31"));
        assert_eq!(needs[0].missing, ["libssl.so.3", "libcrypto.so.3"]);
        assert_eq!(needs[1].versions, ["GLIBC_2.34", "GLIBC_2.32"]);
        assert_eq!(
            needs[2].no_loader.as_deref(),
            Some("/lib/ld-musl-x86_64.so.1")
        );

        let err = cannot_run(
            &needs[1],
            glibc.as_deref(),
            "debian:bullseye-slim",
            "x86_64-unknown-linux-gnu",
        );
        let text = err.to_string();
        assert!(
            text.contains("/bin/old cannot run in the image: it needs glibc 2.34 (GLIBC_2.34, GLIBC_2.32), and debian:bullseye-slim has glibc 2.31"),
            "{text}"
        );
        assert!(
            text.contains("hint: build for x86_64-unknown-linux-musl"),
            "{text}"
        );
        let (needs, _) = read(
            "== binary /bin/a\n/bin/a: error while loading shared libraries: libpq.so.5: cannot open shared object file: No such file or directory\n== status 127\n== binary /bin/b\nsomething odd\n== status 139\n== glibc glibc 2.36\n",
        );
        assert_eq!(needs[0].missing, ["libpq.so.5"]);
        assert!(needs[0].failed.is_none());
        assert_eq!(
            needs[1].failed.as_deref(),
            Some("the loader exited with 139: something odd")
        );
    }

    #[test]
    fn well_known_libraries_have_their_package() {
        assert_eq!(package_of("libssl.so.3").as_deref(), Some("libssl3"));
        assert_eq!(package_of("libpq.so.5").as_deref(), Some("libpq5"));
        assert_eq!(package_of("libnothing-here.so.9"), None);
    }
}
