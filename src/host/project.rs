//! What a manifest may reach on the host: regular files inside the project, and nothing
//! else. The project is the directory that holds `service.toml`, after symlinks are resolved.
//!
//! A manifest may come from code its user did not write (a pull request in CI), so every
//! file it names to be copied into the image (a check's `script`, `prebuilt`) must resolve,
//! symlinks followed, to a regular file inside the project: not `/etc/shadow`, not
//! `../../x`, not a symlink that leads out, not a FIFO, a device or a file of /proc. The rule
//! is checked when the manifest is validated ([`resolve`]) and again on the file actually
//! opened when it is read ([`read`]). Nothing here prints.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;

/// The canonical path of the project file `rel` (relative to `dir`, or absolute), or why
/// it may not go into the image. `what` names the file for the user ("check script").
pub fn resolve(dir: &Utf8Path, rel: &str, what: &str) -> Result<PathBuf, String> {
    inside(dir, &dir.join(rel), what)
}

/// The canonical path of `path` (already joined to `dir`), if it is a regular file inside
/// the project `dir`.
fn inside(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<PathBuf, String> {
    let (_, real, meta) = within(dir, path, what)?;
    if !meta.is_file() {
        return Err(format!(
            "{what} `{path}` is not a regular file ({})",
            not_regular(&meta)
        ));
    }
    Ok(real)
}

/// The canonical path of the project directory `rel` (relative to `dir`), if it resolves,
/// links followed, to a directory inside the project.
pub fn directory(dir: &Utf8Path, rel: &str, what: &str) -> Result<PathBuf, String> {
    let (_, real, meta) = within(dir, &dir.join(rel), what)?;
    match meta.is_dir() {
        true => Ok(real),
        false => Err(format!("{what} `{rel}` is not a directory")),
    }
}

/// The Cargo.toml that cargo is to read, or why not. cargo quotes the file it reads in its
/// errors, so a `cargo-manifest` (or the default `Cargo.toml`) that named `/proc/self/environ`
/// or `~/.git-credentials` would print it: it must be a regular file named `Cargo.toml`,
/// under that name and, links followed, as the file it resolves to, and inside the project;
/// or, outside it, the workspace root of the project's own package: a `Cargo.toml` with a
/// `[workspace]` table in a directory above the project's.
pub fn cargo_manifest(dir: &Utf8Path, rel: &str) -> Result<PathBuf, String> {
    const NAME: &str = "Cargo.toml";
    let what = "Cargo manifest";
    let path = dir.join(rel);
    if path.file_name() != Some(NAME) {
        return Err(format!(
            "{what} `{path}` is not named {NAME}: cargo-manifest names a package's or workspace's {NAME}"
        ));
    }
    let real = resolved(&path, what)?;
    if real.file_name() != Some(std::ffi::OsStr::new(NAME)) {
        return Err(format!(
            "{what} `{path}` is a link to {}, not to a {NAME}",
            real.display()
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{what} `{path}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{what} `{path}` is not a regular file ({})",
            not_regular(&meta)
        ));
    }
    let root = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the project directory `{dir}`: {e}"))?;
    if real.starts_with(&root) {
        return Ok(real);
    }
    let above = real.parent().is_some_and(|parent| root.starts_with(parent));
    if above && is_workspace_root(&real) {
        return Ok(real);
    }
    Err(format!(
        "{what} `{path}` is outside the project (it resolves to {}): only a Cargo.toml inside {}, or the [workspace] Cargo.toml of a directory above it, may be read",
        real.display(),
        root.display()
    ))
}

/// Whether the Cargo.toml at `path` has a `[workspace]` table. Its text is never quoted:
/// a file that is no TOML is simply no workspace root.
fn is_workspace_root(path: &Path) -> bool {
    const LIMIT: u64 = 1 << 20;
    let Ok(file) = open_regular(path) else {
        return false;
    };
    let mut text = String::new();
    if file.take(LIMIT).read_to_string(&mut text).is_err() {
        return false;
    }
    toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("workspace"))
}

/// At most this many files in one shipped tree...
pub const MAX_TREE_FILES: usize = 100_000;
/// ...and at most this many bytes: a tree larger than either is refused, not copied.
pub const MAX_TREE_BYTES: u64 = 16 << 30;

/// The project's canonical directory, and the canonical path and metadata of `path` (joined
/// to `dir`), which must resolve, links followed, inside it.
fn within(
    dir: &Utf8Path,
    path: &Utf8Path,
    what: &str,
) -> Result<(PathBuf, PathBuf, std::fs::Metadata), String> {
    let root = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the project directory `{dir}`: {e}"))?;
    let real = resolved(path, what)?;
    if !real.starts_with(&root) {
        return Err(outside(what, path, &real, &root));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{what} `{path}`: {e}"))?;
    Ok((root, real, meta))
}

/// Checks, reading no file, that the project file or directory `rel`, and everything below
/// it, may be shipped (see [`walk_tree`]).
pub fn check_tree(dir: &Utf8Path, rel: &str, what: &str) -> Result<(), String> {
    walk_tree(dir, &dir.join(rel), what).map(|_| ())
}

/// One file of a shipped project tree: its path below the tree's top (empty for a
/// shipped file), where it is on the host (as the plan has it: joined to `dir`), its size,
/// and whether it is executable. Its bytes are read when it is staged ([`open`]).
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub rel: Utf8PathBuf,
    pub path: Utf8PathBuf,
    pub len: u64,
    pub executable: bool,
}

/// Every file at or below the project path `path` (joined to `dir`), in sorted order,
/// reading no file. A file gives one entry with an empty `rel`. The rules:
/// - everything resolves, links followed, to a regular file inside the project;
/// - a link to a directory below the top is refused, so that every real directory is
///   visited once (a tree of links to links cannot multiply);
/// - cargo's output is never shipped: the project's `target/` and any directory with a
///   `CACHEDIR.TAG` (cargo's mark on every target directory, and the tool's own build
///   directory is inside one) are left out, so `"/srv/p" = "."` ships the sources only;
/// - at most [`MAX_TREE_FILES`] files and [`MAX_TREE_BYTES`] bytes.
pub fn walk_tree(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<Vec<TreeFile>, String> {
    let (root, _, meta) = within(dir, path, what)?;
    let mut walk = Walk {
        root,
        what,
        files: Vec::new(),
        bytes: 0,
    };
    if meta.is_dir() {
        walk.directory(path, Utf8Path::new(""))?;
    } else {
        walk.file(path, Utf8PathBuf::new(), &meta)?;
    }
    Ok(walk.files)
}

/// A walk of a shipped tree under way.
struct Walk<'a> {
    root: PathBuf,
    what: &'a str,
    files: Vec<TreeFile>,
    bytes: u64,
}

impl Walk<'_> {
    fn directory(&mut self, path: &Utf8Path, rel: &Utf8Path) -> Result<(), String> {
        let what = self.what;
        let cannot_list = |e: io::Error| format!("{what} `{path}`: {e}");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(cannot_list)? {
            let name = entry.map_err(cannot_list)?.file_name();
            let name = name
                .into_string()
                .map_err(|name| format!("{what} `{path}` holds {name:?}, not a UTF-8 file name"))?;
            names.push(name);
        }
        names.sort();
        for name in names {
            let (child, child_rel) = (path.join(&name), rel.join(&name));
            let own =
                std::fs::symlink_metadata(&child).map_err(|e| format!("{what} `{child}`: {e}"))?;
            if own.is_dir() {
                if !self.is_build_output(&child) {
                    self.directory(&child, &child_rel)?;
                }
                continue;
            }
            let real = resolved(&child, what)?;
            if !real.starts_with(&self.root) {
                return Err(outside(what, &child, &real, &self.root));
            }
            let meta = std::fs::metadata(&real).map_err(|e| format!("{what} `{child}`: {e}"))?;
            if meta.is_dir() {
                return Err(format!(
                    "{what} `{child}` is a link to a directory ({}): links to directories are not followed in a shipped tree; ship that directory under a key of its own",
                    real.display()
                ));
            }
            self.file(&child, child_rel, &meta)?;
        }
        Ok(())
    }

    /// Whether the directory `path` holds cargo's output: the project's `target/`, or a
    /// directory with a `CACHEDIR.TAG`.
    fn is_build_output(&self, path: &Utf8Path) -> bool {
        path.join("CACHEDIR.TAG").is_file()
            || path
                .canonicalize()
                .is_ok_and(|real| real == self.root.join("target"))
    }

    fn file(
        &mut self,
        path: &Utf8Path,
        rel: Utf8PathBuf,
        meta: &std::fs::Metadata,
    ) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let what = self.what;
        if !meta.is_file() {
            return Err(format!(
                "{what} `{path}` is not a regular file ({})",
                not_regular(meta)
            ));
        }
        self.bytes += meta.len();
        if self.files.len() >= MAX_TREE_FILES || self.bytes > MAX_TREE_BYTES {
            return Err(format!(
                "{what} `{path}`: the tree is too large to ship: at most {MAX_TREE_FILES} files and {} GiB (are links or build output in it?)",
                MAX_TREE_BYTES >> 30
            ));
        }
        self.files.push(TreeFile {
            rel,
            path: path.to_owned(),
            len: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        });
        Ok(())
    }
}

/// The canonical path of `path`, or why it has none, in words: a link loop, a link to
/// nothing, or no such file.
fn resolved(path: &Utf8Path, what: &str) -> Result<PathBuf, String> {
    path.canonicalize().map_err(|e| {
        let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            format!("{what} `{path}` is a symlink loop")
        } else if dangling {
            format!("{what} `{path}` is a link to nothing ({e})")
        } else {
            format!("{what} `{path}` does not exist or is not a file")
        }
    })
}

fn outside(what: &str, path: &Utf8Path, real: &Path, root: &Path) -> String {
    format!(
        "{what} `{path}` is outside the project (it resolves to {}): only files inside {} can go into the image",
        real.display(),
        root.display()
    )
}

/// Opens the project file at `path` (as the plan has it: joined to `dir`) to read it,
/// checking the rule of [`resolve`] again on what is opened: the tree may have changed
/// since validation.
pub fn open(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<std::fs::File, Error> {
    let input_error = |source: io::Error| Error::Input {
        path: path.to_owned(),
        source,
    };
    let real = inside(dir, path, what).map_err(|e| input_error(io::Error::other(e)))?;
    open_regular(&real).map_err(input_error)
}

/// Reads the whole project file at `path` (a check script, a prebuilt binary), checked as
/// [`open`] checks it.
pub fn read(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    open(dir, path, what)?
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Input {
            path: path.to_owned(),
            source,
        })?;
    Ok(bytes)
}

/// Opens a regular file without following a final symlink and without blocking on a FIFO,
/// and checks the opened file is regular.
fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    Ok(file)
}

/// Why a file that is not a regular file is refused, naming what it is.
pub fn not_regular(meta: &std::fs::Metadata) -> io::Error {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    io::Error::other(format!("it is {what}, not a regular file"))
}

/// Where cargo and rustup run to read a project without running anything it names.
///
/// rustup picks the toolchain from a `rust-toolchain.toml` in the current directory or
/// above (whose `path` may name any program), and cargo reads `.cargo/config.toml` the same
/// way (`build.rustc-wrapper`, `build.rustc`). `check`, `render`, `init` and
/// `build --dry-run` therefore run cargo from `/` with an absolute `--manifest-path`: the
/// user's own default toolchain and configuration, never the project's. Only `build`
/// itself, which compiles the project and so runs its build scripts anyway, runs cargo from
/// the manifest's directory ([`Trust::Project`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// A real `build`: cargo runs from the manifest's directory, as the compile does, so
    /// that the project's toolchain and `.cargo/config.toml` (a `build.target-dir`) apply.
    Project,
    /// Everything else: cargo runs from [`OUTSIDE`], so the project chooses nothing that
    /// runs (the printed paths of a dry run ignore a `target-dir` the project's config sets).
    Nothing,
}

/// The directory read-only probes run from under [`Trust::Nothing`]: writable by root
/// only, so no `rust-toolchain.toml` or `.cargo/config.toml` is there to obey.
pub const OUTSIDE: &str = "/";

impl Trust {
    /// The directory cargo and rustup run from, for a project in `manifest_dir`.
    pub fn cwd(self, manifest_dir: &Utf8Path) -> Utf8PathBuf {
        match self {
            Trust::Project => manifest_dir.to_owned(),
            Trust::Nothing => Utf8PathBuf::from(OUTSIDE),
        }
    }

    /// `path` as cargo is given it from [`Trust::cwd`]: relative to the manifest's
    /// directory when cargo runs there and it is inside it, else absolute.
    pub fn path(self, path: &Utf8Path, manifest_dir: &Utf8Path) -> Utf8PathBuf {
        match self {
            Trust::Project => path.strip_prefix(manifest_dir).unwrap_or(path).to_owned(),
            Trust::Nothing => absolute(path),
        }
    }
}

/// `path` made absolute against the current directory (not resolved: links stay links).
pub fn absolute(path: &Utf8Path) -> Utf8PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| Utf8PathBuf::from_path_buf(d).ok());
    match cwd {
        Some(cwd) => cwd.join(path.strip_prefix(".").unwrap_or(path)),
        None => path.to_owned(),
    }
}

/// The directory that holds the manifest (`.` for a bare file name).
pub fn manifest_dir(path: &Utf8Path) -> Utf8PathBuf {
    match path.parent() {
        Some(p) if !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_project_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let base = Utf8Path::from_path(tmp.path()).unwrap();
        let dir = base.join("proj");
        std::fs::create_dir_all(dir.join("checks")).unwrap();
        std::fs::write(dir.join("checks/ok.sh"), "").unwrap();
        std::fs::write(base.join("secret"), "").unwrap();
        std::os::unix::fs::symlink("../secret", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("checks/ok.sh", dir.join("in")).unwrap();
        let ok = |rel: &str| resolve(&dir, rel, "file");
        assert!(ok("checks/ok.sh").is_ok());
        assert!(ok("checks/../checks/ok.sh").is_ok());
        assert!(ok("in").is_ok(), "a link that stays inside is fine");
        for outside in ["../secret", "out", "/etc/passwd", "/proc/self/environ"] {
            let err = ok(outside).unwrap_err();
            assert!(err.contains("is outside the project"), "{outside}: {err}");
        }
        assert!(ok("checks").unwrap_err().contains("it is a directory"));
        assert!(ok("nope").unwrap_err().contains("does not exist"));
    }
}
