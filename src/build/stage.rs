//! Writing a build context to disk, atomically and safely: complete or absent, never
//! half-written, never through a symlink that leaves the project, never over what is not
//! a render.
//!
//! In: a [`FileTree`] (plus the binary, for `build`) and a destination directory. The tree is
//! written into a temporary directory beside the destination, which then takes the
//! destination's place in one atomic step (`renameat2` with `RENAME_EXCHANGE`; two renames
//! where the file system lacks it). Writers of one destination take turns on a lock (the
//! `flock` of its parent directory), so temporaries found beside it are leftovers of a
//! killed run and are removed. An existing destination is replaced only when it is a
//! directory (not a file, not a symlink), does not hold the manifest (where its link is or
//! where it leads) or the current directory, and is a previous render unless forced.
//!
//! `build` also owns `<manifest dir>/target/buildkit-lite/<app>` ([`BuildDir`]): created
//! without following a symlink out of the project, and locked for the whole build, so two
//! builds of one app take turns. Nothing here prints.

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::exec;
use crate::render::{DOCKERFILE_HEADER, FileTree};

/// Whether an existing directory that is not a previous render may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an empty directory or a previous render.
    OnlyRender,
    /// Any directory but one that holds the manifest or the current directory
    /// (`render --force`).
    Force,
}

/// Writes `text` to `path` whole, or not at all (a temporary file beside it, renamed over
/// it): the SBOM, the SBOM layer's and cross's Dockerfiles, the remembered packages.
pub fn write_file(path: &Utf8Path, text: &str) -> Result<(), Error> {
    let write_error = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    fs::create_dir_all(dir).map_err(write_error)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    io::Write::write_all(&mut file, text.as_bytes()).map_err(write_error)?;
    file.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

/// Writes `tree` into `dest` atomically. Neither `manifest` (as linked or as resolved) nor
/// the current directory is ever inside what gets replaced.
pub fn write_tree(
    tree: &FileTree,
    dest: &Utf8Path,
    manifest: &Utf8Path,
    replace: Replace,
) -> Result<(), Error> {
    let write_err = |source: io::Error| Error::Write {
        path: dest.to_owned(),
        source,
    };
    let (parent, name) = parent_and_name(dest).map_err(write_err)?;
    fs::create_dir_all(&parent).map_err(write_err)?;
    let _turn = lock(&parent, || {}).map_err(write_err)?;
    let exists = check_destination(dest, manifest, replace)?;
    remove_temporaries(&parent, &name);
    let tmp = tempfile::Builder::new()
        .prefix(&temporary_prefix(&name))
        .tempdir_in(&parent)
        .map_err(write_err)?;
    for (rel, file) in tree {
        if exec::interrupted() {
            return Err(Error::Interrupted);
        }
        let path = tmp.path().join(rel);
        let file_err = |source| Error::Write {
            path: dest.join(rel),
            source,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(file_err)?;
        }
        let mut reader = file.contents.reader()?;
        let mut out = fs::File::create(&path).map_err(file_err)?;
        io::copy(&mut reader, &mut out).map_err(file_err)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode)).map_err(file_err)?;
    }
    set_dir_modes(tmp.path()).map_err(write_err)?;
    if exec::interrupted() {
        return Err(Error::Interrupted);
    }
    let tmp = tmp.keep();
    let result = swap_into_place(&tmp, &parent.join(&name), exists);
    if tmp.exists() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map_err(write_err)
}

/// The directory a destination lives in and its name there, resolving `.` and `..`.
fn parent_and_name(dest: &Utf8Path) -> io::Result<(PathBuf, String)> {
    if let Some(name) = dest.file_name() {
        let parent = match dest.parent() {
            Some(p) if !p.as_str().is_empty() => p.as_std_path().to_owned(),
            _ => PathBuf::from("."),
        };
        return Ok((parent, name.to_string()));
    }
    // `.`, `..`, `/`: name the directory by its real path.
    let real = dest.canonicalize()?;
    match (real.parent(), real.file_name()) {
        (Some(parent), Some(name)) => Ok((parent.to_owned(), name.to_string_lossy().into())),
        _ => Err(io::Error::other("cannot replace the root directory")),
    }
}

/// Whether `dest` exists, after refusing what may not be replaced.
fn check_destination(
    dest: &Utf8Path,
    manifest: &Utf8Path,
    replace: Replace,
) -> Result<bool, Error> {
    let refuse = |why: String| Error::Write {
        path: dest.to_owned(),
        source: io::Error::other(why),
    };
    let meta = match fs::symlink_metadata(dest) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(refuse(e.to_string())),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            "it is a symbolic link: name the directory itself, so that nothing is replaced through a link"
                .into(),
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(
            "it is a file, not a directory: only a directory is ever replaced (even with --force)"
                .into(),
        ));
    }
    let real = dest.canonicalize().map_err(|e| refuse(e.to_string()))?;
    for (what, path) in protected(manifest) {
        if path.starts_with(&real) {
            return Err(refuse(format!("it holds {what}; choose another directory")));
        }
    }
    if replace == Replace::OnlyRender && !is_render_or_empty(dest) {
        return Err(Error::NotARender {
            path: dest.to_owned(),
        });
    }
    Ok(true)
}

/// What a replaced directory must never hold: the manifest where its link is and where it
/// leads, and the current directory.
fn protected(manifest: &Utf8Path) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let dir = crate::host::project::manifest_dir(manifest);
    if let (Ok(dir), Some(name)) = (dir.canonicalize(), manifest.file_name()) {
        out.push(("the manifest itself", dir.join(name)));
    }
    if let Ok(real) = manifest.canonicalize() {
        out.push(("the manifest itself", real));
    }
    if let Ok(cwd) = std::env::current_dir().and_then(|d| d.canonicalize()) {
        out.push(("the current directory", cwd));
    }
    out
}

fn temporary_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// Removes the temporaries of `name` in `parent`: with the lock held, any found is what a
/// killed run left.
fn remove_temporaries(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let prefix = temporary_prefix(name);
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
}

/// Puts the finished directory `new` at `dest` in one step. With `exists`, the two are
/// exchanged (`RENAME_EXCHANGE`), so `dest` is never missing, and the old tree, now at
/// `new`, is removed; file systems without the exchange get two renames.
fn swap_into_place(new: &Path, dest: &Path, exists: bool) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    if !exists {
        return fs::rename(new, dest);
    }
    match renameat_with(CWD, new, CWD, dest, RenameFlags::EXCHANGE) {
        Ok(()) => return fs::remove_dir_all(new),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
        Err(e) => return Err(e.into()),
    }
    let old = {
        let mut s = new.as_os_str().to_owned();
        s.push(".old");
        PathBuf::from(s)
    };
    fs::rename(dest, &old)?;
    if let Err(e) = fs::rename(new, dest) {
        fs::rename(&old, dest)?;
        return Err(e);
    }
    fs::remove_dir_all(&old)
}

/// Takes the lock of directory `dir` (its `flock`), calling `waiting` first when another
/// process holds it. Released when the returned file is dropped.
fn lock(dir: &Path, waiting: impl FnOnce()) -> io::Result<fs::File> {
    let file = fs::File::open(dir)?;
    take_turn(file, waiting)
}

fn take_turn(file: fs::File, waiting: impl FnOnce()) -> io::Result<fs::File> {
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => {
            waiting();
            file.lock()?;
            Ok(file)
        }
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Directories of the context are 0755, whatever the umask.
fn set_dir_modes(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            set_dir_modes(&entry.path())?;
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

/// The directory `build` owns for one app, `<manifest dir>/target/buildkit-lite/<app>`,
/// locked for as long as this value lives.
#[derive(Debug)]
pub struct BuildDir {
    pub dir: Utf8PathBuf,
    _turn: fs::File,
}

impl BuildDir {
    /// Path of the build directory of `app` (without creating it).
    pub fn path(manifest_dir: &Utf8Path, app: &str) -> Utf8PathBuf {
        manifest_dir.join("target/buildkit-lite").join(app)
    }

    /// Refuses, creating nothing, a build directory of `app` whose existing components
    /// include a symlink that leads out of the project or something that is not a
    /// directory: run before compiling, so that cargo's `target` is not one either.
    pub fn check(manifest_dir: &Utf8Path, app: &str) -> Result<(), Error> {
        let project = manifest_dir.canonicalize().map_err(|source| Error::Write {
            path: manifest_dir.to_owned(),
            source,
        })?;
        let mut at = manifest_dir.to_owned();
        for component in ["target", "buildkit-lite", app] {
            at.push(component);
            if fs::symlink_metadata(&at).is_err() {
                return Ok(());
            }
            dir_inside(&at, &project).map_err(|source| Error::Write {
                path: at.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Creates the build directory of `app` and takes its lock (calling `waiting` first
    /// when another build holds it); for one of several platforms, its own directory
    /// inside (`<app>/<arch>`) and that directory's lock, so that the platforms of one
    /// build stage and build side by side. No component may be a symlink that leads out
    /// of the project, nor anything but a directory.
    pub fn create(
        manifest_dir: &Utf8Path,
        app: &str,
        platform: Option<&str>,
        waiting: impl FnOnce(),
    ) -> Result<BuildDir, Error> {
        let mut dir = Self::path(manifest_dir, app);
        dir.extend(platform);
        let write_err = |path: &Utf8Path, source: io::Error| Error::Write {
            path: path.to_owned(),
            source,
        };
        let project = manifest_dir
            .canonicalize()
            .map_err(|e| write_err(manifest_dir, e))?;
        let mut at = manifest_dir.to_owned();
        for component in ["target", "buildkit-lite", app].into_iter().chain(platform) {
            at.push(component);
            ensure_dir_inside(&at, &project).map_err(|e| write_err(&at, e))?;
        }
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(dir.join("lock"))
            .map_err(|e| write_err(&dir.join("lock"), e))?;
        let turn = take_turn(lock, waiting).map_err(|e| write_err(&dir, e))?;
        Ok(BuildDir { dir, _turn: turn })
    }

    /// Where the context is staged.
    pub fn context(&self) -> Utf8PathBuf {
        self.dir.join("context")
    }

    /// Where docker writes the ID of the image it built (`--iidfile`).
    pub fn image_id_file(&self) -> Utf8PathBuf {
        self.dir.join("image-id")
    }
}

/// Makes `path` a directory inside `project` (a canonical path): creates it when missing;
/// an existing one may be a symlink only when it resolves inside the project.
fn ensure_dir_inside(path: &Utf8Path, project: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        },
        Err(e) => return Err(e),
        Ok(meta) if !meta.is_dir() && !meta.file_type().is_symlink() => {
            return Err(io::Error::other("it is not a directory"));
        }
        Ok(_) => {}
    }
    dir_inside(path, project)
}

/// An existing `path` that is a directory inside `project`, symlinks followed.
fn dir_inside(path: &Utf8Path, project: &Path) -> io::Result<()> {
    let real = path.canonicalize()?;
    if !real.starts_with(project) {
        return Err(io::Error::other(format!(
            "it is a symbolic link that leads out of the project (to {}): refusing to write or delete through it",
            real.display()
        )));
    }
    if !real.is_dir() {
        return Err(io::Error::other("it is not a directory"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::File;

    fn file(text: &str) -> File {
        File {
            contents: crate::render::Contents::Bytes(text.as_bytes().to_vec()),
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
