//! What is in a built image, for its SBOM (`sbom.rs`) and provenance labels: the crates
//! of its binaries (`cargo metadata --filter-platform <target>` with the build's features,
//! walked from the packages whose bins are shipped), the Debian packages (`dpkg-query` in
//! the image, remembered by the image's layers up to the packages), the base (registry
//! digest, or ID for a local image) and when it was made (`SOURCE_DATE_EPOCH`, else the
//! commit time). Then the SBOM layer: one `docker build` on the new image that copies the
//! SBOM to `/usr/share/buildkit-lite/sbom.cdx.json` and sets the labels. Nothing here
//! prints.

use std::collections::{BTreeMap, BTreeSet};

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use super::sbom::{self, Base, Crate, Deb};
use super::stage::write_file;
use crate::error::Error;
use crate::host::exec::{Step, path_arg};
use crate::host::project::Trust;
use crate::plan::Plan;

/// Where the SBOM lands in the image.
pub const IN_IMAGE: &str = "/usr/share/buildkit-lite/sbom.cdx.json";

/// `cargo metadata` with the dependencies, for the app's target and features.
pub fn metadata_step(plan: &Plan) -> Step {
    let app = &plan.app;
    let mut step = Step::new("read the crates of the app with cargo metadata", "cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &app.target,
        ])
        .arg("--manifest-path")
        .arg(path_arg(
            &Trust::Project.path(&app.cargo_manifest, &plan.manifest_dir),
        ))
        .cwd(&plan.manifest_dir);
    if !app.features.is_empty() {
        step = step.args(["--features", &app.features.join(",")]);
    }
    if !app.default_features {
        step = step.arg("--no-default-features");
    }
    step.args(app.locked.then_some("--locked"))
}

/// The crates of the binaries `bins` from `cargo metadata` output, and the version of the
/// app (its first package's): those reached through normal dependencies from the packages
/// that own the bins are shipped; those reached only through a build dependency or a proc
/// macro are build-time only. Dev dependencies are not followed.
pub fn crates(meta: &Value, bins: &[&str], lock: &Utf8Path) -> (Vec<Crate>, String) {
    let packages: BTreeMap<&str, &Value> = list(&meta["packages"])
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes: BTreeMap<&str, &Value> = list(&meta["resolve"]["nodes"])
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let members: BTreeSet<&str> = list(&meta["workspace_members"])
        .filter_map(Value::as_str)
        .collect();
    let roots: Vec<&str> = members
        .iter()
        .copied()
        .filter(|id| packages.get(id).is_some_and(|p| owns_a_bin(p, bins)))
        .collect();
    let shipped = reach(&roots, &nodes, &packages);
    let checksums = lock_checksums(lock);
    let version = roots
        .first()
        .and_then(|id| packages.get(id)?["version"].as_str())
        .unwrap_or("0.0.0")
        .to_string();
    let crates = shipped
        .iter()
        .filter_map(|(id, &on_binary)| {
            let node = nodes.get(id).copied().unwrap_or(&Value::Null);
            let mut one = crate_of(packages.get(id)?, node, &packages, &checksums)?;
            one.shipped = on_binary;
            one.app = roots.contains(id);
            Some(one)
        })
        .collect();
    (crates, version)
}

/// The crate of package `p` (its `node` in the resolve), before its scope is known.
fn crate_of(
    p: &Value,
    node: &Value,
    packages: &BTreeMap<&str, &Value>,
    checksums: &BTreeMap<(String, String), String>,
) -> Option<Crate> {
    let (name, version) = (p["name"].as_str()?, p["version"].as_str()?);
    let depends_on: BTreeSet<String> = list(&node["deps"])
        .filter(|d| followed(d).is_some())
        .filter_map(|d| packages.get(d["pkg"].as_str()?))
        .filter_map(|p| {
            Some(sbom::purl_cargo(
                p["name"].as_str()?,
                p["version"].as_str()?,
            ))
        })
        .collect();
    Some(Crate {
        name: name.to_string(),
        version: version.to_string(),
        checksum: checksums
            .get(&(name.to_string(), version.to_string()))
            .cloned(),
        license: p["license"].as_str().map(str::to_string),
        features: list(&node["features"])
            .filter_map(|f| Some(f.as_str()?.to_string()))
            .collect(),
        shipped: false,
        app: false,
        depends_on: depends_on.into_iter().collect(),
    })
}

/// Every crate reached from `roots`, and whether it is compiled into a binary (reached
/// through normal dependencies of crates that are, proc macros aside).
fn reach<'a>(
    roots: &[&'a str],
    nodes: &BTreeMap<&'a str, &'a Value>,
    packages: &BTreeMap<&'a str, &'a Value>,
) -> BTreeMap<&'a str, bool> {
    let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
    let mut todo: Vec<(&str, bool)> = roots.iter().map(|r| (*r, true)).collect();
    while let Some((id, on_binary)) = todo.pop() {
        match seen.get(id) {
            Some(&known) if known || !on_binary => continue,
            _ => seen.insert(id, on_binary),
        };
        let deps = nodes.get(id).map_or(&Value::Null, |n| &n["deps"]);
        for dep in list(deps) {
            let (Some(normal), Some(pkg)) = (followed(dep), dep["pkg"].as_str()) else {
                continue;
            };
            let macro_crate = packages
                .get(pkg)
                .is_some_and(|p| list(&p["targets"]).any(|t| is_kind(t, "proc-macro")));
            todo.push((pkg, on_binary && normal && !macro_crate));
        }
    }
    seen
}

/// Whether a dependency edge is followed (not dev-only), and whether it is a normal one.
fn followed(dep: &Value) -> Option<bool> {
    let kinds: Vec<&Value> = list(&dep["dep_kinds"]).map(|k| &k["kind"]).collect();
    if kinds.is_empty() {
        return Some(true);
    }
    let normal = kinds.iter().any(|k| k.is_null());
    (normal || kinds.iter().any(|k| *k == "build")).then_some(normal)
}

/// Whether package `p` has a bin target named in `bins`.
fn owns_a_bin(p: &Value, bins: &[&str]) -> bool {
    list(&p["targets"])
        .any(|t| is_kind(t, "bin") && t["name"].as_str().is_some_and(|n| bins.contains(&n)))
}

fn is_kind(target: &Value, kind: &str) -> bool {
    list(&target["kind"]).any(|k| k == kind)
}

fn list(value: &Value) -> std::slice::Iter<'_, Value> {
    value.as_array().map_or([].iter(), |a| a.iter())
}

/// `(name, version)` → checksum of each registry crate in `Cargo.lock`.
fn lock_checksums(lock: &Utf8Path) -> BTreeMap<(String, String), String> {
    (super::compile::locked_packages(lock).into_iter())
        .filter_map(|p| Some(((p.name, p.version), p.checksum?)))
        .collect()
}

/// `dpkg-query` in `image`: every installed package. An image without dpkg (or a shell)
/// has none.
pub fn dpkg_step(image: &str) -> Step {
    Step::new("list the Debian packages in the image", "docker")
        .args(["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c"])
        .arg("dpkg-query -W -f '${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\n' 2>/dev/null || true")
}

/// The installed packages in `dpkg_step`'s output, sorted.
pub fn parse_debs(out: &str) -> Vec<Deb> {
    let mut debs: Vec<Deb> = out
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (status, name, version, arch) = (f.next()?, f.next()?, f.next()?, f.next()?);
            (status == "installed").then(|| Deb {
                name: name.to_string(),
                version: version.to_string(),
                arch: arch.to_string(),
            })
        })
        .collect();
    debs.sort();
    debs
}

/// `docker image inspect` of `image`: its repository digests, ID and layers.
pub fn inspect_step(image: &str) -> Step {
    Step::new("inspect an image", "docker")
        .args(["image", "inspect", "--format"])
        .arg("{{json .RepoDigests}}\t{{.Id}}\t{{json .RootFS.Layers}}")
        .arg(image)
}

/// What [`inspect_step`] says: the first repository digest, else the ID; and the layers.
pub fn parse_inspect(out: &str) -> Option<(String, Vec<String>)> {
    let mut fields = out.trim().split('\t');
    let digests: Vec<String> = serde_json::from_str(fields.next()?).unwrap_or_default();
    let id = fields.next()?.to_string();
    let layers: Vec<String> = serde_json::from_str(fields.next()?).ok()?;
    let digest = digests
        .first()
        .and_then(|d| d.split_once('@'))
        .map_or(id, |(_, digest)| digest.to_string());
    Some((digest, layers))
}

/// The base as the SBOM and the labels name it.
pub fn base(name: &str, out: &str) -> Option<(Base, Vec<String>)> {
    let (digest, layers) = parse_inspect(out)?;
    let base = Base {
        name: name.to_string(),
        digest,
    };
    Some((base, layers))
}

/// The key the Debian packages of an image are remembered by: its layers up to the first
/// one above the base's (the packages' layer).
pub fn packages_key(image_layers: &[String], base_layers: &[String]) -> String {
    let upto = (base_layers.len() + 1).min(image_layers.len());
    image_layers[..upto].join(" ")
}

/// When the image was made: `SOURCE_DATE_EPOCH`, else `commit_time()` (asked only then).
pub fn created(commit_time: impl FnOnce() -> Option<i64>) -> Option<i64> {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    epoch
        .and_then(|s| s.trim().parse().ok())
        .or_else(commit_time)
}

/// The SBOM layer: `docker build` of `dir` (its Dockerfile, [`layer_dockerfile`], is on
/// the new image), tagged `references` (none when a check or another platform comes
/// first).
pub fn layer_step(dir: &Utf8Path, iidfile: &Utf8Path, references: &[String]) -> Step {
    let mut step =
        Step::new("add the SBOM and provenance labels to the image", "docker").arg("build");
    for reference in references {
        step = step.args(["--tag", reference]);
    }
    step.arg("--force-rm")
        .args(["--iidfile".to_string(), path_arg(iidfile)])
        .arg(path_arg(dir))
}

/// The SBOM layer's Dockerfile on `image`: the SBOM copied in, and the labels in one
/// LABEL (one step: each `--label` would be a step of its own with the classic builder).
pub fn layer_dockerfile(image: &str, labels: &[(String, String)]) -> String {
    let quote = crate::render::dockerfile_string;
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    // The empty argument `dockerfile_string` may use after a backslash, only then: each
    // instruction is a step.
    let nothing = match labels
        .iter()
        .any(|l| l.contains("${BUILDKIT_LITE_NOTHING}"))
    {
        true => "ARG BUILDKIT_LITE_NOTHING=\"\"\n",
        false => "",
    };
    format!(
        "# The SBOM of the image below, and its provenance labels, added by buildkit-lite.\nFROM {image}\n{nothing}COPY sbom.cdx.json {IN_IMAGE}\nLABEL {}\n",
        labels.join(" \\\n      ")
    )
}

/// The provenance labels: `created` (when known), the base's name and digest, and the
/// source repository (when the package names one).
pub fn labels(created: Option<i64>, base: &Base, source: Option<&str>) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    if let Some(seconds) = created {
        labels.push((
            "org.opencontainers.image.created".into(),
            sbom::rfc3339(seconds),
        ));
    }
    labels.push((
        "org.opencontainers.image.base.name".into(),
        base.name.clone(),
    ));
    labels.push((
        "org.opencontainers.image.base.digest".into(),
        base.digest.clone(),
    ));
    // A repository with control characters (none a real URL has) would not fit a line.
    if let Some(source) = source.filter(|s| !s.chars().any(char::is_control)) {
        labels.push(("org.opencontainers.image.source".into(), source.to_string()));
    }
    labels
}

/// The package's `repository`, from `cargo metadata` output, of the first package of `bins`.
pub fn repository(meta: &Value, bins: &[&str]) -> Option<String> {
    list(&meta["packages"])
        .find(|p| owns_a_bin(p, bins))
        .and_then(|p| p["repository"].as_str())
        .map(str::to_string)
}

/// The SBOM in `image` (`IN_IMAGE`), as the image has it.
pub fn read_from_image(image: &str) -> Result<String, Error> {
    Step::new("read the SBOM in the image", "docker")
        .args(["run", "--rm", "--pull", "never", "--network", "none"])
        .args(["--entrypoint", "cat", image, IN_IMAGE])
        .output()
}

/// One SBOM layer to make: on `image`, the image `docker build` just made of `context`.
pub struct Job<'a> {
    pub image: &'a str,
    /// What [`metadata_step`] said, when it ran (see [`crates_here`]).
    pub metadata: Option<Result<String, Error>>,
    pub context: &'a Utf8Path,
    pub references: &'a [String],
    pub created: Option<i64>,
}

/// Whether cargo runs here for this build (the host builders, or the container builder's
/// `cargo vendor`): the crates are read with [`metadata_step`] then. The container builder
/// without vendoring runs nothing here: its SBOM lists no crates, and says so.
pub fn crates_here(plan: &Plan) -> bool {
    plan.app.prebuilt.is_none() && (!plan.in_container() || plan.build.vendor)
}

/// Makes the SBOM of `job.image`, writes it beside the context, and builds it into the
/// image with the provenance labels; the new image's ID.
pub fn add(
    plan: &Plan,
    mut job: Job,
    run: impl Fn(&Step) -> Result<(), Error>,
) -> Result<String, Error> {
    let base_name = plan.platform.as_ref().map_or(&plan.image.base, |p| &p.base);
    let (base, base_layers) = base(base_name, &inspect_step(base_name).output()?)
        .ok_or_else(|| inspect_failed(base_name))?;
    let (_, layers) = parse_inspect(&inspect_step(job.image).output()?)
        .ok_or_else(|| inspect_failed(job.image))?;
    let debs = debs(&job, &packages_key(&layers, &base_layers))?;
    let metadata = job.metadata.take();
    let unlisted = (metadata.is_none() && plan.app.prebuilt.is_none()).then(|| {
        "the container builder compiled in the engine and nothing read the crates where buildkit-lite ran ([build] vendor = true does)".to_string()
    });
    let (crates, version, source) = crates_of(plan, metadata, job.references)?;
    let labels = labels(job.created, &base, source.as_deref());
    let document = sbom::document(&sbom::Contents {
        app: plan.app.name.clone(),
        version,
        crates_unlisted: unlisted,
        crates,
        debs,
        base,
        created: job.created,
    });
    write_file(&beside(job.context), &document)?;
    build_layer(&job, &document, &labels, run)
}

/// The crates, the app's version and its source repository from `cargo metadata`'s
/// output; without it, no crates and the first tag as the version.
fn crates_of(
    plan: &Plan,
    metadata: Option<Result<String, Error>>,
    references: &[String],
) -> Result<(Vec<Crate>, String, Option<String>), Error> {
    let bins: Vec<&str> = plan.app.binaries.iter().map(|b| b.name.as_str()).collect();
    let Some(said) = metadata else {
        let tag = references.first().and_then(|r| r.rsplit_once(':'));
        return Ok((Vec::new(), tag.map_or("", |(_, t)| t).to_string(), None));
    };
    let meta: Value = serde_json::from_str(&said?)
        .map_err(|e| Error::CargoMetadata(format!("cannot read cargo metadata output: {e}")))?;
    let root = Utf8Path::new(meta["workspace_root"].as_str().unwrap_or_default());
    let (crates, version) = crates(&meta, &bins, &root.join("Cargo.lock"));
    Ok((crates, version, repository(&meta, &bins)))
}

/// Builds the SBOM layer (`document` and `labels`) on `job.image`; the new image's ID.
fn build_layer(
    job: &Job,
    document: &str,
    labels: &[(String, String)],
    run: impl Fn(&Step) -> Result<(), Error>,
) -> Result<String, Error> {
    let dir = layer_dir(job.context);
    write_file(&dir.join("sbom.cdx.json"), document)?;
    // BuildKit takes no image ID in FROM (it asks a registry for `sha256`): a local name.
    let below = format!(
        "buildkit-lite-sbom:{}",
        job.image.trim_start_matches("sha256:")
    );
    crate::host::docker::tag_step(job.image, &below).output()?;
    write_file(&dir.join("Dockerfile"), &layer_dockerfile(&below, labels))?;
    let iidfile = job.context.with_file_name("image-id");
    let built = run(&layer_step(&dir, &iidfile, job.references));
    let untag = Step::new("remove the SBOM layer's name for the image below", "docker").args([
        "rmi",
        "--no-prune",
        &below,
    ]);
    let _ = untag.output();
    built?;
    let id = std::fs::read_to_string(&iidfile).map_err(|source| Error::Input {
        path: iidfile.clone(),
        source,
    })?;
    Ok(id.trim().to_string())
}

fn inspect_failed(image: &str) -> Error {
    Error::Usage(format!(
        "docker image inspect {image} said nothing readable"
    ))
}

/// The Debian packages of the image: remembered beside the context by `key` (its layers
/// up to the packages), else asked of the image with `dpkg-query` and remembered.
fn debs(job: &Job, key: &str) -> Result<Vec<Deb>, Error> {
    let cache = job.context.with_file_name("debian-packages");
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some((first, rest)) = text.split_once('\n')
        && first == key
    {
        return Ok(parse_debs(rest));
    }
    let listed = dpkg_step(job.image).output()?;
    let debs = parse_debs(&listed);
    write_file(&cache, &format!("{key}\n{listed}"))?;
    Ok(debs)
}

/// The directory of the SBOM layer, beside the context.
pub fn layer_dir(context: &Utf8Path) -> Utf8PathBuf {
    context.with_file_name("sbom-layer")
}

/// The SBOM beside the context.
pub fn beside(context: &Utf8Path) -> Utf8PathBuf {
    context.with_file_name("sbom.cdx.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cargo metadata of `app` (bin `app`): itoa (normal), paste (proc macro, itself with
    /// a normal dependency on `pm-dep`), autocfg (build), and a dev dependency.
    fn metadata() -> Value {
        let pkg = |name: &str, kind: &str| {
            serde_json::json!({
                "id": format!("{name} 1.0.0"), "name": name, "version": "1.0.0",
                "license": "MIT", "targets": [{ "name": name, "kind": [kind] }],
            })
        };
        let dep = |name: &str, kind: Value| serde_json::json!({ "pkg": format!("{name} 1.0.0"), "dep_kinds": [{ "kind": kind }] });
        serde_json::json!({
            "packages": [pkg("app", "bin"), pkg("itoa", "lib"), pkg("paste", "proc-macro"),
                         pkg("pm-dep", "lib"), pkg("autocfg", "lib"), pkg("tester", "lib")],
            "workspace_members": ["app 1.0.0"],
            "resolve": { "nodes": [
                { "id": "app 1.0.0", "features": [], "deps": [
                    dep("itoa", Value::Null), dep("paste", Value::Null),
                    dep("autocfg", "build".into()), dep("tester", "dev".into())] },
                { "id": "itoa 1.0.0", "features": ["std"], "deps": [] },
                { "id": "paste 1.0.0", "features": [], "deps": [dep("pm-dep", Value::Null)] },
                { "id": "pm-dep 1.0.0", "features": [], "deps": [] },
                { "id": "autocfg 1.0.0", "features": [], "deps": [] },
                { "id": "tester 1.0.0", "features": [], "deps": [] },
            ]},
        })
    }

    #[test]
    fn crates_in_the_binary_are_shipped_and_build_time_ones_excluded() {
        let (crates, version) = crates(&metadata(), &["app"], Utf8Path::new("/no/Cargo.lock"));
        assert_eq!(version, "1.0.0");
        let scope: Vec<(&str, bool)> = crates
            .iter()
            .map(|c| (c.name.as_str(), c.shipped))
            .collect();
        assert_eq!(
            scope,
            [
                ("app", true),
                ("autocfg", false),
                ("itoa", true),
                ("paste", false),
                ("pm-dep", false)
            ]
        );
        let app = &crates[0];
        assert!(app.app);
        assert_eq!(app.depends_on.len(), 3, "{:?}", app.depends_on);
        assert_eq!(crates[2].features, ["std"]);
    }

    #[test]
    fn debs_are_the_installed_ones_sorted() {
        let out = "installed\tzlib1g\t1:1.2.13.dfsg-1\tamd64\nconfig-files\told\t1\tamd64\ninstalled\tbash\t5.2.15-2+b7\tamd64\n";
        let debs = parse_debs(out);
        assert_eq!(debs.len(), 2);
        assert_eq!(debs[0].name, "bash");
    }

    #[test]
    fn a_local_base_is_named_by_its_id_and_a_pulled_one_by_its_digest() {
        let local = "[]\tsha256:aa\t[\"sha256:l1\"]\n";
        assert_eq!(parse_inspect(local).unwrap().0, "sha256:aa");
        let pulled = "[\"debian@sha256:bb\"]\tsha256:aa\t[\"sha256:l1\",\"sha256:l2\"]\n";
        let (digest, layers) = parse_inspect(pulled).unwrap();
        assert_eq!((digest.as_str(), layers.len()), ("sha256:bb", 2));
    }
}
