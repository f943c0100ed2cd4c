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
    let root = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the project directory `{dir}`: {e}"))?;
    let real = path
        .canonicalize()
        .map_err(|_| format!("{what} `{path}` does not exist or is not a file"))?;
    if !real.starts_with(&root) {
        return Err(format!(
            "{what} `{path}` is outside the project (it resolves to {}): only files inside {} can go into the image",
            real.display(),
            root.display()
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{what} `{path}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{what} `{path}` is not a regular file ({})",
            not_regular(&meta)
        ));
    }
    Ok(real)
}

/// Checks, reading nothing, that the project file or directory `rel`, and everything below
/// it, passes [`resolve`]: no symlink out of the project, no special file.
pub fn check_tree(dir: &Utf8Path, rel: &str, what: &str) -> Result<(), String> {
    files_below(dir, &dir.join(rel), what).map(|_| ())
}

/// Every file at or below the project path `path` (joined to `dir`), sorted, as its path
/// below `path` (empty for `path` itself when it is a file), each checked by [`inside`].
fn files_below(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<Vec<Utf8PathBuf>, String> {
    if inside_dir(dir, path, what).is_err() {
        inside(dir, path, what)?;
        return Ok(vec![Utf8PathBuf::new()]);
    }
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
    let mut files = Vec::new();
    for name in names {
        for below in files_below(dir, &path.join(&name), what)? {
            files.push(join(Utf8Path::new(&name), &below));
        }
    }
    Ok(files)
}

/// The canonical path of `path` if it is a directory inside the project `dir`.
fn inside_dir(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<PathBuf, String> {
    let root = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the project directory `{dir}`: {e}"))?;
    let real = path
        .canonicalize()
        .map_err(|_| format!("{what} `{path}` does not exist"))?;
    if real.starts_with(&root) && real.is_dir() {
        return Ok(real);
    }
    Err(format!(
        "{what} `{path}` is not a directory inside the project"
    ))
}

/// One file read out of a project tree: its path below the tree's top, bytes and whether
/// it is executable.
pub struct TreeFile {
    pub rel: Utf8PathBuf,
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// Reads the project file or directory at `path` (joined to `dir`): every file below a
/// directory, in sorted order, each checked by the walk and again when it is opened (see
/// [`read`]). A file gives one entry with an empty `rel`.
pub fn read_tree(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<Vec<TreeFile>, Error> {
    let files = files_below(dir, path, what).map_err(|e| Error::Input {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    files
        .into_iter()
        .map(|rel| {
            let file = join(path, &rel);
            Ok(TreeFile {
                contents: read(dir, &file, what)?,
                executable: is_executable(file.as_std_path()),
                rel,
            })
        })
        .collect()
}

/// `base/rel`, or `base` itself for an empty `rel` (where `join` would add a `/`).
fn join(base: &Utf8Path, rel: &Utf8Path) -> Utf8PathBuf {
    match rel.as_str() {
        "" => base.to_owned(),
        _ => base.join(rel),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Reads the project file at `path` (as the plan has it: joined to `dir`), checking the rule of [`resolve`] again
/// on what is opened: the tree may have changed since validation.
pub fn read(dir: &Utf8Path, path: &Utf8Path, what: &str) -> Result<Vec<u8>, Error> {
    let input_error = |source: io::Error| Error::Input {
        path: path.to_owned(),
        source,
    };
    let real = inside(dir, path, what).map_err(|e| input_error(io::Error::other(e)))?;
    let mut file = open_regular(&real).map_err(input_error)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(input_error)?;
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
