//! git: the revision of the manifest's checkout, for the image's revision label.

use camino::Utf8Path;

use crate::host::exec::{Step, path_arg};

/// The commit of the manifest's git checkout, for the revision label: `<sha>`, or
/// `<sha>-dirty` when tracked files differ from HEAD (untracked ones do not count).
pub fn revision_step(manifest_dir: &Utf8Path) -> Step {
    // A project directory shaped like a bare repository (HEAD, refs/, objects/: files a
    // pull request can add) is no checkout: git uses a bare repository only when told.
    // No fsmonitor hook runs for the dirty check, and no tag names the commit.
    Step::new("read the git revision of the manifest's checkout", "git")
        .args([
            "-c",
            "safe.bareRepository=explicit",
            "-c",
            "core.fsmonitor=false",
        ])
        .arg("-C")
        .arg(path_arg(manifest_dir))
        .args([
            "describe",
            "--always",
            "--abbrev=40",
            "--dirty=-dirty",
            "--exclude=*",
        ])
}
