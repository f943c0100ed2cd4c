//! `init`: a first `service.toml` from the `Cargo.toml` of a directory, with the schema
//! file it points at. Never overwrites a manifest.
//!
//! What cargo says of the package or workspace (`cargo.rs`) gives the name, the bin
//! targets and the C libraries the package links; the manifest builds every binary its
//! default features build, for musl (a static binary runs on any base) unless a system C
//! library needs gnu, and supervises a service per binary that looks long-running, with
//! the others and the usual next keys commented out. Nothing here prints.

mod cargo;

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};

use crate::build::clibs;
use crate::error::Error;

/// What `init` wrote.
#[derive(Debug)]
pub struct Initialized {
    pub manifest: Utf8PathBuf,
    /// The schema file, or `None` when one was there already (and was kept).
    pub schema: Option<Utf8PathBuf>,
}

/// The name the manifest's `#:schema` line points at, beside the manifest.
pub const SCHEMA_FILE: &str = "service.schema.json";

/// Writes `<dir>/service.toml` (and `<dir>/service.schema.json` when missing) from
/// `<dir>/Cargo.toml`.
pub fn init(dir: &Utf8Path) -> Result<Initialized, Error> {
    let manifest = dir.join("service.toml");
    if manifest.symlink_metadata().is_ok() {
        return Err(Error::Usage(format!(
            "{manifest} exists: init never overwrites a manifest (check it with `buildkit-lite check -f {}`)",
            crate::shell::quote(manifest.as_str())
        )));
    }
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        return Err(Error::Usage(format!(
            "no {cargo_toml}: init writes a manifest for a cargo package or workspace (run it where Cargo.toml is, or pass --dir)"
        )));
    }
    let cargo = cargo::read(&cargo_toml, dir)?;
    let closure =
        cargo::dependency_closure(&cargo_toml, dir, &cargo.root, cargo.package.as_deref());
    let libraries = system_libraries(&cargo.root, closure.as_ref());
    let (bins, left_out) = installable(&cargo.bins, &cargo.root);
    if bins.is_empty() {
        return Err(Error::Usage(format!(
            "no bin target of {cargo_toml} can be installed ({}): rename one, turn on its features by default, or write the manifest by hand",
            left_out.join("; ")
        )));
    }
    let name = app_name(&cargo.name);
    let mut text = manifest_text(&name, &bins, cargo.package.as_deref(), &libraries);
    for reason in &left_out {
        text.push_str(&format!(
            "
# left out: {reason}
"
        ));
    }
    if text.len() as u64 > crate::manifest::load::MAX_MANIFEST_BYTES {
        return Err(Error::Usage(format!(
            "{cargo_toml} has {} bin targets: a manifest with a service for each would be over the {} KiB a manifest may have; write one by hand for the binaries to run",
            bins.len(),
            crate::manifest::load::MAX_MANIFEST_BYTES / 1024
        )));
    }
    write_new(&manifest, text.as_bytes())?;
    let schema = dir.join(SCHEMA_FILE);
    // A link that leads nowhere is no schema: it is replaced (the link, not what it names).
    let dangling = schema.symlink_metadata().is_ok() && schema.metadata().is_err();
    if dangling {
        std::fs::remove_file(&schema).map_err(|source| Error::Write {
            path: schema.clone(),
            source,
        })?;
    }
    let schema = match schema.symlink_metadata() {
        Ok(_) => None,
        Err(_) => {
            write_new(&schema, crate::manifest::schema::json().as_bytes())?;
            Some(schema)
        }
    };
    Ok(Initialized { manifest, schema })
}

/// A bin `init` installs, and why it gets no live service when it gets none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub no_service: Option<String>,
}

/// The bin targets `app.binary` can take, each with why it gets no service, if so; and
/// for each other one why it is left out: a name with characters a binary's name may not
/// have (`x.y`, `a b`, `a;b`), or `required-features` the default features do not turn on.
fn installable(bins: &[cargo::Bin], root: &Utf8Path) -> (Vec<Installed>, Vec<String>) {
    let mut ok = Vec::new();
    let mut left_out = Vec::new();
    for bin in bins {
        let shown = quoted(&bin.name).replace('\n', " ");
        if let Err(why) = crate::manifest::rules::cargo_name(&bin.name) {
            left_out.push(format!("bin target {shown}: {}", why.replace('\n', " ")));
        } else if !bin.unmet_features.is_empty() {
            left_out.push(format!(
                "bin target {shown} needs the features {}, which the default features do not turn on (add them to [app] features, and the bin to binary, to build it)",
                bin.unmet_features.join(", ")
            ));
        } else {
            let no_service = match is_client(&bin.name) {
                true => Some("its name says it is a client".to_string()),
                false => cargo::in_doubt(bin, root),
            };
            ok.push(Installed {
                name: bin.name.clone(),
                no_service,
            });
        }
    }
    (ok, left_out)
}

/// Creates `path` with `contents`; fails rather than replace anything there.
fn write_new(path: &Utf8Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(contents)
    };
    write().map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Whether a bin's name marks a client, not a server: a `cli`, `client` or `ctl` word
/// (`mini-redis-cli`, `ctl_tool`). It is installed, and gets no service.
fn is_client(bin: &str) -> bool {
    bin.to_ascii_lowercase()
        .split(['-', '_'])
        .any(|word| matches!(word, "cli" | "client" | "ctl"))
}

/// The well-known `-sys` crates the package depends on (`closure`, its dependencies with
/// default features) that link the system's C library (the crate that builds it from
/// source, such as `openssl-src`, is absent): a gnu binary then, with the library's
/// run-time package in the image. Without a closure (cargo could not tell), every crate of
/// the workspace's `Cargo.lock`; no lockfile, or one that does not parse, says nothing.
fn system_libraries(
    workspace_root: &Utf8Path,
    closure: Option<&BTreeSet<String>>,
) -> Vec<&'static clibs::SysCrate> {
    let names = match closure {
        Some(closure) => closure.clone(),
        None => lock_names(workspace_root),
    };
    clibs::SYS_CRATES
        .iter()
        .filter(|c| names.contains(c.name))
        .filter(|c| c.source_crate.is_some_and(|source| !names.contains(source)))
        .collect()
}

/// The names of the crates in the workspace's `Cargo.lock`.
fn lock_names(workspace_root: &Utf8Path) -> BTreeSet<String> {
    let lock = workspace_root.join("Cargo.lock");
    (crate::build::compile::locked_packages(&lock).into_iter())
        .map(|p| p.name)
        .collect()
}

/// `name` as `app.name`, a Docker repository component: lower-case letters and digits
/// with single `.`, `_` or `-` between them (`my--app_` → `my-app`), at most 64 long.
fn app_name(name: &str) -> String {
    let mut out = String::new();
    let mut separator = None;
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            if let Some(sep) = separator.take().filter(|_| !out.is_empty()) {
                out.push(sep);
            }
            if out.len() >= 64 {
                break;
            }
            out.push(c);
        } else if separator.is_none() {
            separator = Some(if "._-".contains(c) { c } else { '-' });
        }
    }
    match out.as_str() {
        "" => "app".to_string(),
        _ => out,
    }
}

/// A service name for each binary (`image_name`), made unique: a second `worker` (from
/// bins `Worker` and `worker`) becomes `worker-2`.
fn service_names(bins: &[String]) -> Vec<String> {
    let mut taken = std::collections::BTreeSet::new();
    bins.iter()
        .map(|bin| {
            let base = image_name(bin);
            let mut name = base.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                let suffix = format!("-{n}");
                let room = 64 - suffix.len();
                name = format!("{}{suffix}", &base[..base.len().min(room)]);
            }
            name
        })
        .collect()
}

/// `name` as an image name and service name: lower-case letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit.
fn image_name(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = lower.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    match trimmed {
        "" => "app".to_string(),
        name => name.chars().take(64).collect(),
    }
}

/// A TOML key: bare when TOML allows it, else quoted (`"x.y"`).
fn key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { s.to_string() } else { quoted(s) }
}

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `line`, then its trailing `# comment` in the comment column (39), or one space after a
/// longer line.
fn commented(line: &str, comment: &str) -> String {
    format!("{line:<38} # {comment}")
}

/// The `target` line and the `[image]` lines: musl and a commented-out `[image]`; or, with
/// `libraries` (system C libraries the lockfile links), gnu and their run-time packages.
fn target_and_image(libraries: &[&clibs::SysCrate]) -> (String, String) {
    match libraries {
        [] => (
            commented(
                "target = \"x86_64-unknown-linux-musl\"",
                "a static binary, for any base image",
            ),
            "[image]\n# base = \"debian:bookworm-slim\"\n# packages = [\"ca-certificates\"]       # apt packages\n".to_string(),
        ),
        libraries => {
            let crates: Vec<&str> = libraries.iter().map(|c| c.name).collect();
            let packages: Vec<String> = libraries
                .iter()
                .map(|c| quoted(c.runtime_package))
                .collect();
            let why = format!(
                "its dependencies (default features) include {}, which links the system's {} (not built from source):\n# a gnu binary, with {} in the image (for musl, the crate's `{}` feature instead)",
                crates.join(", "),
                libraries.iter().map(|c| c.library).collect::<Vec<_>>().join(", "),
                libraries.iter().map(|c| c.runtime_package).collect::<Vec<_>>().join(", "),
                libraries[0].from_source
            );
            (
                format!("# {why}\ntarget = \"x86_64-unknown-linux-gnu\""),
                format!(
                    "[image]\n# base = \"debian:bookworm-slim\"\n{}\n",
                    commented(
                        &format!("packages = [{}]", packages.join(", ")),
                        "the run-time libraries the binary links"
                    )
                ),
            )
        }
    }
}

/// A `[services.NAME]` table per binary that looks long-running, the usual next keys
/// commented out under the first, a commented-out service with the reason for each other
/// binary, and a commented check that follows the first service. With no binary that
/// looks long-running, the first that is not named a client gets the service.
fn services_text(bins: &[Installed]) -> String {
    let mut text = String::new();
    let (mut servers, mut others): (Vec<&Installed>, Vec<&Installed>) =
        bins.iter().partition(|b| b.no_service.is_none());
    if servers.is_empty() {
        let first = others.iter().position(|b| !is_client(&b.name)).unwrap_or(0);
        servers.push(others.remove(first));
    }
    let names: Vec<String> = servers.iter().map(|b| b.name.clone()).collect();
    let services = service_names(&names);
    for (i, (bin, service)) in names.iter().zip(&services).enumerate() {
        text.push_str(&format!("\n[services.{}]\n", key(service)));
        if service != bin {
            text.push_str(&format!("command = [{}]\n", quoted(&format!("/bin/{bin}"))));
        } else if i == 0 {
            text.push_str(&format!(
                "# command = [\"/bin/{bin}\", \"--port\", \"${{PORT}}\"]\n"
            ));
        }
        // The usual next keys, once: a workspace of many binaries stays readable.
        if i == 0 {
            let user = commented("# user = \"app\"", "created in the image");
            let env = commented(
                "# env = { PORT = \"8080\" }",
                "defaults; `docker run -e` wins",
            );
            text.push_str(&format!("{user}\n{env}\n"));
        }
    }
    for other in others {
        let (bin, why) = (&other.name, other.no_service.as_deref().unwrap_or_default());
        text.push_str(&format!(
            "\n# {bin} gets no service: {why}.\n# It is installed at /bin/{bin}; uncomment if it is a service.\n# [services.{}]\n# command = [{}]\n",
            key(&image_name(bin)),
            quoted(&format!("/bin/{bin}"))
        ));
    }
    let first = &services[0];
    text.push_str(&format!(
        "\n# [checks.ping]\n# http = \"http://127.0.0.1:${{PORT}}/ping\"\n# service = {}\n# interval = 30\n",
        quoted(first)
    ));
    text
}

/// The manifest: the app, a service per binary, and the next keys commented out. With
/// `libraries` (system C libraries the lockfile links), a gnu target and their run-time
/// packages.
pub fn manifest_text(
    name: &str,
    bins: &[Installed],
    package: Option<&str>,
    libraries: &[&clibs::SysCrate],
) -> String {
    let binary = match bins {
        [one] => quoted(&one.name),
        many => format!(
            "[{}]",
            many.iter()
                .map(|b| quoted(&b.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let name_line = commented(
        &format!("name = {}", quoted(name)),
        "the image is <name>:<tag> (image.name overrides)",
    );
    let mut binary_line = commented(&format!("binary = {binary}"), "cargo bin targets");
    if let Some(package) = package {
        let line = format!("package = {}", quoted(package));
        binary_line.push_str(&format!(
            "\n{}",
            commented(&line, "a member of the workspace")
        ));
    }
    let (target_line, image) = target_and_image(libraries);
    let mut text = format!(
        r#"#:schema ./{SCHEMA_FILE}

# Written by `buildkit-lite init` from Cargo.toml. Every key is in docs/manifest.md of
# buildkit-lite; the schema above gives editors completion and checking as you type.
# Next: `buildkit-lite check`, then `buildkit-lite build v1`.

[app]
{name_line}
{binary_line}
{target_line}
# builder = "auto"                     # auto | cargo | cross | zigbuild

{image}# expose = [8080]
# healthcheck = "ping"                 # a check whose command is Docker's HEALTHCHECK

# [log]
# user = "syslog"                      # svlogd writes <dir>/<service>/current as this user
# stdout = true                        # log lines on `docker logs` too
"#,
    );
    text.push_str(&services_text(bins));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_docker_repository_components() {
        assert_eq!(app_name("my--app_"), "my-app");
        assert_eq!(app_name("__x..y"), "x.y");
        assert_eq!(app_name("Basic HTTP"), "basic-http");
        assert_eq!(app_name("ü"), "app");
        assert_eq!(app_name(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn clients_are_told_by_their_names() {
        for client in ["mini-redis-cli", "ctl", "my_client", "Tool-CLI"] {
            assert!(is_client(client), "{client}");
        }
        for server in ["mini-redis-server", "clippy", "clientele", "api"] {
            assert!(!is_client(server), "{server}");
        }
    }

    #[test]
    fn services_never_collide() {
        let bins = ["Worker".to_string(), "worker".into(), "WORKER".into()];
        assert_eq!(service_names(&bins), ["worker", "worker-2", "worker-3"]);
    }

    #[test]
    fn names_become_image_and_service_names() {
        assert_eq!(image_name("Basic_HTTP server"), "basic_http-server");
        assert_eq!(image_name("-x"), "x");
        assert_eq!(image_name("ü"), "app");
    }

    #[test]
    fn the_manifest_parses_and_runs_each_binary() {
        let bin = |name: &str| Installed {
            name: name.into(),
            no_service: None,
        };
        let text = manifest_text("shop", &[bin("api"), bin("Worker")], None, &[]);
        let dir = Utf8Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = crate::manifest::load::parse(&text, dir).unwrap();
        assert_eq!(manifest.services.len(), 2);
        let worker = &manifest.services["worker"];
        assert_eq!(
            worker.command.as_deref(),
            Some(&["/bin/Worker".to_string()][..])
        );
    }
}
