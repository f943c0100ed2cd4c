//! Whether a build is up to date: the digest of a context and its `docker build` line.

use crate::error::Error;
use crate::render::FileTree;

/// SHA-256 of the `docker build` line and every file of the context (path, mode, size and
/// contents, in the tree's order): equal digests mean docker would be given the same.
/// Shipped files are hashed as they are read, a piece at a time.
pub fn context_digest(tree: &FileTree, build_line: &str) -> Result<String, Error> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(build_line.as_bytes());
    hash.update([0]);
    for (path, file) in tree {
        let head = format!("{path}\0{:o}\0{}\0", file.mode, file.contents.len());
        hash.update(head.as_bytes());
        std::io::copy(&mut file.contents.reader()?, &mut hash).map_err(|source| Error::Input {
            path: path.clone(),
            source,
        })?;
    }
    Ok(format!("sha256:{}", super::hex(&hash.finalize())))
}
