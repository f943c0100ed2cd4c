//! Writing a build context to disk, atomically: complete or absent, never half-written.
//!
//! In: a [`FileTree`] (plus the binary, for `build`) and a destination directory. The tree is
//! written into a temporary directory beside the destination, which then takes the
//! destination's place by rename; a failure at any point leaves the previous directory as it
//! was. A directory that is not a previous render (by its Dockerfile's first line) is never
//! replaced unless forced, and one that holds the manifest never is. Nothing here prints.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::render::{DOCKERFILE_HEADER, FileTree};

/// Whether an existing directory that is not a previous render may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an empty directory or a previous render.
    OnlyRender,
    /// Anything but a directory holding the manifest (`render --force`).
    Force,
}

/// Writes `tree` into `dest` atomically. `manifest` is never inside what gets replaced.
pub fn write_tree(
    tree: &FileTree,
    dest: &Utf8Path,
    manifest: &Utf8Path,
    replace: Replace,
) -> Result<(), Error> {
    let write_err = |path: &Utf8Path| {
        let path = path.to_owned();
        move |source| Error::Write { path, source }
    };
    if dest.exists() {
        if holds(dest, manifest) {
            return Err(Error::Write {
                path: dest.to_owned(),
                source: io::Error::other("it holds the manifest itself; choose another directory"),
            });
        }
        if replace == Replace::OnlyRender && !is_render_or_empty(dest) {
            return Err(Error::NotARender {
                path: dest.to_owned(),
            });
        }
    }
    let name = dest.file_name().unwrap_or("context");
    let parent = match dest.parent() {
        Some(p) if !p.as_str().is_empty() => p.to_owned(),
        _ => Utf8PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(write_err(&parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(&parent)
        .map_err(write_err(&parent))?;
    let tmp_path = Utf8Path::from_path(tmp.path())
        .expect("a UTF-8 parent gives a UTF-8 temp path")
        .to_owned();
    for (rel, file) in tree {
        let path = tmp_path.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(write_err(dir))?;
        }
        fs::write(&path, &file.contents).map_err(write_err(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode))
            .map_err(write_err(&path))?;
    }
    set_dir_modes(&tmp_path).map_err(write_err(&tmp_path))?;
    swap_into_place(tmp.keep(), dest).map_err(write_err(dest))
}

/// Puts the finished directory `new` where `dest` is, keeping `dest` if anything fails.
fn swap_into_place(new: std::path::PathBuf, dest: &Utf8Path) -> io::Result<()> {
    let result = (|| {
        if !dest.exists() {
            return fs::rename(&new, dest);
        }
        let old = {
            let mut s = new.clone().into_os_string();
            s.push(".old");
            std::path::PathBuf::from(s)
        };
        fs::rename(dest, &old)?;
        if let Err(e) = fs::rename(&new, dest) {
            fs::rename(&old, dest)?;
            return Err(e);
        }
        if old.is_dir() {
            fs::remove_dir_all(&old)
        } else {
            fs::remove_file(&old)
        }
    })();
    if result.is_err() && new.exists() {
        let _ = fs::remove_dir_all(&new);
    }
    result
}

/// Directories of the context are 0755, whatever the umask.
fn set_dir_modes(dir: &Utf8Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let path = Utf8PathBuf::from_path_buf(entry.path())
                .map_err(|_| io::Error::other("non-UTF-8 path"))?;
            set_dir_modes(&path)?;
        }
    }
    Ok(())
}

/// An empty directory, or one holding only `Dockerfile` and `root/` with our header.
pub fn is_render_or_empty(dir: &Utf8Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return true;
    }
    let only_ours = names.iter().all(|n| n == "Dockerfile" || n == "root");
    let header = fs::read_to_string(dir.join("Dockerfile"))
        .map(|text| text.lines().next() == Some(DOCKERFILE_HEADER))
        .unwrap_or(false);
    only_ours && header
}

/// Whether `dir` is, or contains, the file `path`.
fn holds(dir: &Utf8Path, path: &Utf8Path) -> bool {
    match (dir.canonicalize_utf8(), path.canonicalize_utf8()) {
        (Ok(dir), Ok(path)) => path.starts_with(dir),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::File;

    fn file(text: &str) -> File {
        File {
            contents: text.as_bytes().to_vec(),
            mode: 0o644,
        }
    }

    #[test]
    fn a_write_that_fails_halfway_leaves_the_previous_tree_and_no_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let base = Utf8Path::from_path(tmp.path()).unwrap();
        let dest = base.join("out");
        let manifest = base.join("service.toml");
        let good = FileTree::from([
            (
                "Dockerfile".into(),
                file(&format!("{DOCKERFILE_HEADER}\nFROM x\n")),
            ),
            ("root/etc/a".into(), file("a\n")),
        ]);
        write_tree(&good, &dest, &manifest, Replace::OnlyRender).unwrap();

        // `root` as a file and then `root/x` below it: the second write fails.
        let broken = FileTree::from([
            (
                "Dockerfile".into(),
                file(&format!("{DOCKERFILE_HEADER}\nFROM y\n")),
            ),
            ("root".into(), file("not a directory\n")),
            ("root/x".into(), file("x\n")),
        ]);
        assert!(write_tree(&broken, &dest, &manifest, Replace::OnlyRender).is_err());
        assert_eq!(
            fs::read_to_string(dest.join("Dockerfile")).unwrap(),
            format!("{DOCKERFILE_HEADER}\nFROM x\n")
        );
        assert_eq!(fs::read_to_string(dest.join("root/etc/a")).unwrap(), "a\n");
        let names: Vec<String> = fs::read_dir(base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["out"], "temporary directories left behind");
    }
}
