//! git: the revision of the manifest's checkout, for the image's revision label, found
//! without running any program the repository names.
//!
//! A project's `.git/config` (or a file it includes) can name programs that git runs while
//! it looks at the working tree: a filter driver's `clean` or `process` (hashing a file
//! whose stat changed), `core.fsmonitor`, and hooks (`post-index-change`, when the
//! refreshed index is written, from `core.hooksPath` or `.git/hooks`). The revision probe
//! runs in `build --dry-run` too, which promises to run nothing the project names. So it
//! first lists the repository's own configuration (`git config --list`, which runs nothing)
//! and then asks `git describe --dirty` with every filter driver the repository defines
//! emptied (an empty command is no filter), `core.fsmonitor` off and hooks looked up in
//! `/dev/null`. The settings go through `GIT_CONFIG_COUNT`, which git reads after every
//! configuration file and which takes any driver name as it is. textconv and external diff
//! programs are never run by `describe` (plumbing diffs use neither).
//!
//! A file whose filter is emptied is compared as it is on disk: at worst a checkout whose
//! files' stats changed reads as `-dirty`. The user's own global and system configuration
//! (a git-lfs installed for the user) applies as usual.

use camino::Utf8Path;

use crate::host::exec::{Step, path_arg};

/// The commit of the manifest's git checkout, for the revision label: `<sha>`, or
/// `<sha>-dirty` when tracked files differ from HEAD (untracked ones do not count); `None`
/// outside a checkout.
pub fn revision(manifest_dir: &Utf8Path) -> Option<String> {
    let config = config_step(manifest_dir).output().ok()?;
    let drivers = repository_filter_drivers(&config);
    let out = describe_step(manifest_dir, &drivers).output().ok()?;
    Some(out.trim().to_string()).filter(|r| !r.is_empty())
}

/// The commit time of HEAD (seconds since the epoch), if the manifest is in a git checkout
/// with a commit. `git log` reads the object store only: no filter, hook or fsmonitor runs.
pub fn commit_time(manifest_dir: &Utf8Path) -> Option<i64> {
    let out = git(
        "read the commit time of the manifest's checkout",
        manifest_dir,
    )
    .args(["log", "-1", "--no-show-signature", "--format=%ct", "HEAD"])
    .output()
    .ok()?;
    out.trim().parse().ok()
}

/// `git` with the settings every probe takes: a project directory shaped like a bare
/// repository (HEAD, refs/, objects/: files a pull request can add) is no checkout, git
/// uses a bare repository only when told.
fn git(summary: &str, manifest_dir: &Utf8Path) -> Step {
    Step::new(summary, "git")
        .args(["-c", "safe.bareRepository=explicit"])
        .arg("-C")
        .arg(path_arg(manifest_dir))
}

/// Lists the configuration with each value's scope (`git config --list`: reading only).
pub fn config_step(manifest_dir: &Utf8Path) -> Step {
    git(
        "read the git configuration of the manifest's checkout",
        manifest_dir,
    )
    .args(["config", "--list", "--show-scope", "-z"])
}

/// The names of the filter drivers the repository's own configuration (its `config`,
/// `config.worktree` and what they include) defines, from [`config_step`]'s output: records
/// of `scope NUL key NEWLINE value NUL`.
pub fn repository_filter_drivers(listing: &str) -> Vec<String> {
    let mut fields = listing.split('\0');
    let mut drivers = Vec::new();
    while let (Some(scope), Some(entry)) = (fields.next(), fields.next()) {
        let key = entry.split('\n').next().unwrap_or_default();
        let own = matches!(scope, "local" | "worktree");
        let driver = key
            .strip_prefix("filter.")
            .and_then(|rest| rest.rsplit_once('.'))
            .map(|(name, _)| name.to_string());
        if let Some(name) = driver.filter(|n| own && !drivers.contains(n)) {
            drivers.push(name);
        }
    }
    drivers
}

/// `git describe --dirty`, with no program of the repository's able to run: each of
/// `drivers` emptied, no fsmonitor, no hook. No tag names the commit.
pub fn describe_step(manifest_dir: &Utf8Path, drivers: &[String]) -> Step {
    let mut settings = vec![
        ("core.fsmonitor".to_string(), "false".to_string()),
        ("core.hooksPath".to_string(), "/dev/null".to_string()),
    ];
    for name in drivers {
        for program in ["clean", "smudge", "process"] {
            settings.push((format!("filter.{name}.{program}"), String::new()));
        }
        settings.push((format!("filter.{name}.required"), "false".to_string()));
    }
    let mut step = git(
        "read the git revision of the manifest's checkout",
        manifest_dir,
    )
    .args([
        "describe",
        "--always",
        "--abbrev=40",
        "--dirty=-dirty",
        "--exclude=*",
    ])
    .env("GIT_CONFIG_COUNT", settings.len().to_string());
    for (i, (key, value)) in settings.into_iter().enumerate() {
        step = step
            .env(format!("GIT_CONFIG_KEY_{i}"), key)
            .env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_repositorys_own_filter_drivers_are_named() {
        let listing = "global\0filter.lfs.process\ngit-lfs filter-process\0\
                       local\0core.bare\nfalse\0\
                       local\0filter.Evil=x.y.clean\n/tmp/trap\0\
                       local\0filter.Evil=x.y.smudge\n/tmp/trap\0\
                       worktree\0filter.w.process\n/tmp/p\0\
                       local\0diff.t.textconv\n/tmp/t\0";
        assert_eq!(repository_filter_drivers(listing), ["Evil=x.y", "w"]);
    }

    #[test]
    fn describe_empties_each_driver_and_turns_fsmonitor_and_hooks_off() {
        let step = describe_step(Utf8Path::new("/p"), &["x".to_string()]);
        let env: Vec<String> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert!(env.contains(&"GIT_CONFIG_COUNT=6".to_string()), "{env:?}");
        for expected in [
            "GIT_CONFIG_KEY_0=core.fsmonitor",
            "GIT_CONFIG_KEY_1=core.hooksPath",
            "GIT_CONFIG_VALUE_1=/dev/null",
            "GIT_CONFIG_KEY_2=filter.x.clean",
            "GIT_CONFIG_VALUE_2=",
            "GIT_CONFIG_KEY_4=filter.x.process",
            "GIT_CONFIG_KEY_5=filter.x.required",
            "GIT_CONFIG_VALUE_5=false",
        ] {
            assert!(env.contains(&expected.to_string()), "{expected}: {env:?}");
        }
    }
}
