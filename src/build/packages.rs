//! `[build] packages` where the compile runs, for the builders that compile outside the
//! image: on this host (cargo, cargo-zigbuild) each is looked up with `dpkg-query` before
//! anything compiles, and a missing one stops the build with the `apt-get install` line
//! to run (nothing is installed on the user's machine behind their back); for cross, an
//! image made from cross's own (`FROM <cross image>` and `apt-get install`) that cross
//! is told to use (`CROSS_TARGET_<TRIPLE>_IMAGE`). The container builder installs them in
//! its build stage (`render/container.rs`).
//!
//! A host without `dpkg-query` (not Debian) cannot be checked: the build says so in a note
//! and goes on, since the packages' programs may be there under other names.

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::host::exec::{Step, find_program, path_arg};
use crate::shell;

/// What the host said of `[build] packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnHost {
    /// Each is installed (or there are none).
    Installed,
    /// These are not installed.
    Missing(Vec<String>),
    /// This host has no `dpkg-query`: nothing could be checked.
    Unchecked,
}

/// Asks `dpkg-query` whether each of `packages` is installed. Read-only.
pub fn on_host(packages: &[String]) -> Result<OnHost, Error> {
    if packages.is_empty() {
        return Ok(OnHost::Installed);
    }
    if find_program("dpkg-query").is_none() {
        return Ok(OnHost::Unchecked);
    }
    let mut missing = Vec::new();
    for package in packages {
        let asked = Step::new("look up a [build] package with dpkg-query", "dpkg-query")
            .args(["--show", "--showformat", "${db:Status-Status}", package])
            .attempt()?;
        if asked.code != Some(0) || asked.stdout.trim() != "installed" {
            missing.push(package.clone());
        }
    }
    Ok(match missing.is_empty() {
        true => OnHost::Installed,
        false => OnHost::Missing(missing),
    })
}

/// The error of `[build] packages` missing on this host, with the line that installs them.
pub fn missing_error(missing: &[String], builder: &str) -> Error {
    Error::WithHint {
        error: Box::new(Error::MissingPackages {
            packages: missing.to_vec(),
            builder: builder.to_string(),
        }),
        hint: format!(
            "run `sudo apt-get install {}`, or compile in the image's build stage, which installs them: builder = \"container\" in [app]",
            missing.join(" ")
        ),
    }
}

/// The image cross compiles in for `target`, as cross picks it: the environment's
/// `CROSS_TARGET_<TRIPLE>_IMAGE`, else `[target.<triple>] image` in the workspace's
/// `Cross.toml`, else cross's own image of its version (`cross_version()`, "0.2.5"; asked
/// only then).
pub fn cross_image(
    target: &str,
    workspace_root: &Utf8Path,
    cross_version: impl FnOnce() -> String,
) -> String {
    if let Ok(image) = std::env::var(cross_image_variable(target))
        && !image.is_empty()
    {
        return image;
    }
    let configured = std::fs::read_to_string(workspace_root.join("Cross.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            let image = &t.get("target")?.get(target)?.get("image")?;
            let name = image.as_str().or_else(|| image.get("name")?.as_str())?;
            Some(name.to_string())
        });
    configured.unwrap_or_else(|| format!("ghcr.io/cross-rs/{target}:{}", cross_version()))
}

/// The variable that names cross's image for `target`:
/// `CROSS_TARGET_X86_64_UNKNOWN_LINUX_GNU_IMAGE`.
pub fn cross_image_variable(target: &str) -> String {
    let triple = target.to_ascii_uppercase().replace(['-', '.'], "_");
    format!("CROSS_TARGET_{triple}_IMAGE")
}

/// The image made from cross's `base` with `packages`, to build before cross compiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossImage {
    /// `buildkit-lite-cross:<target>-<digest>`: the same base and packages, the same tag.
    pub tag: String,
    /// Its Dockerfile, written into `dir` before `step` runs.
    pub dockerfile: String,
    pub dir: Utf8PathBuf,
    /// `docker build --tag <tag> <dir>`.
    pub step: Step,
}

/// The image made from cross's `base` with `packages`, its Dockerfile in `dir`.
pub fn derived_cross_image(
    target: &str,
    base: &str,
    packages: &[String],
    dir: &Utf8Path,
) -> CrossImage {
    let words: Vec<String> = packages.iter().map(|p| shell::quote(p)).collect();
    let dockerfile = format!(
        "# cross's image for {target} with [build] packages, made by buildkit-lite\nFROM {base}\nRUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install --assume-yes --no-install-recommends {} \\\n && rm -rf /var/lib/apt/lists/*\n",
        words.join(" ")
    );
    let digest = Sha256::digest(dockerfile.as_bytes());
    let short = super::hex(&digest[..6]);
    let tag = format!("buildkit-lite-cross:{target}-{short}");
    let step = Step::new(
        format!("make cross's image for {target} with [build] packages"),
        "docker",
    )
    .args(["build", "--quiet", "--tag", &tag])
    .arg(path_arg(dir));
    CrossImage {
        tag,
        dockerfile,
        dir: dir.to_owned(),
        step,
    }
}

/// Writes the image's Dockerfile into its directory (whole, or not at all) and builds it.
pub fn make_cross_image(
    image: &CrossImage,
    run: impl Fn(&Step) -> Result<(), Error>,
) -> Result<(), Error> {
    super::stage::write_file(&image.dir.join("Dockerfile"), &image.dockerfile)?;
    run(&image.step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cross_image_variable_is_crosss_own() {
        assert_eq!(
            cross_image_variable("x86_64-unknown-linux-gnu"),
            "CROSS_TARGET_X86_64_UNKNOWN_LINUX_GNU_IMAGE"
        );
    }

    #[test]
    fn cross_toml_names_the_image_as_a_string_or_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let t = "aarch64-unknown-linux-musl";
        assert_eq!(
            cross_image(t, root, || "0.2.5".into()),
            "ghcr.io/cross-rs/aarch64-unknown-linux-musl:0.2.5"
        );
        std::fs::write(
            root.join("Cross.toml"),
            format!("[target.{t}]\nimage = \"mine:1\"\n"),
        )
        .unwrap();
        assert_eq!(cross_image(t, root, || "0.2.5".into()), "mine:1");
        std::fs::write(
            root.join("Cross.toml"),
            format!("[target.{t}.image]\nname = \"mine:2\"\n"),
        )
        .unwrap();
        assert_eq!(cross_image(t, root, || "0.2.5".into()), "mine:2");
    }

    #[test]
    fn the_derived_image_is_named_by_its_base_and_packages() {
        let dir = Utf8Path::new("/b/cross-image");
        let one = derived_cross_image("x86_64-unknown-linux-gnu", "c:1", &["make".into()], dir);
        let again = derived_cross_image("x86_64-unknown-linux-gnu", "c:1", &["make".into()], dir);
        let other = derived_cross_image("x86_64-unknown-linux-gnu", "c:2", &["make".into()], dir);
        assert_eq!(one, again);
        assert_ne!(one.tag, other.tag);
        assert!(
            one.tag
                .starts_with("buildkit-lite-cross:x86_64-unknown-linux-gnu-")
        );
        assert!(one.dockerfile.contains("FROM c:1\n"), "{}", one.dockerfile);
        assert!(one.dockerfile.contains("--no-install-recommends make \\"));
        assert_eq!(
            one.step.command_line(),
            format!("docker build --quiet --tag {} /b/cross-image", one.tag)
        );
    }
}
