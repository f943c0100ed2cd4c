//! The run-time settings of `test`'s container, as a deployment would give them: `[test]`
//! merged with `test --env`, `--env-file`, `--network` and `--volume` (the flags win), as
//! [`RunSettings`](crate::host::docker::RunSettings), whose `docker run` arguments carry
//! no value.

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::Error;
use crate::host::docker::{Hardening, RunSettings as Settings};
use crate::manifest::TestSettings;
use crate::manifest::volume::{Source, table_volume, volume, with_mode};
use crate::plan::ImagePlan;

/// The settings given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--env K=V`, in order: a later one wins.
    pub env: Vec<String>,
    pub env_file: Option<Utf8PathBuf>,
    pub network: Option<String>,
    /// `--volume SRC:DST[:ro]`.
    pub volumes: Vec<String>,
    /// `--hardened`: as production runs the image (see [`hardening`]).
    pub hardened: bool,
    /// `--read-only`: a read-only root, with a tmpfs on /run.
    pub read_only: bool,
}

/// How `test` hardens the container: `--hardened` (or `[test] hardened`) adds
/// `no-new-privileges`, drops every capability when the image runs as one non-root user,
/// and makes the root read-only when the image is; `--read-only` makes it read-only
/// whatever the image says (to see what a service writes).
pub fn hardening(image: &ImagePlan, hardened: bool, read_only: bool) -> Hardening {
    let user = image.user.as_ref();
    Hardening {
        read_only: read_only || (hardened && image.read_only),
        drop_capabilities: hardened && user.is_some(),
        no_new_privileges: hardened,
        run_owner: user.and_then(|u| Some((u.uid?, u.gid?))),
    }
}

/// A `--volume` flag: as a `[test]` one, or a path of this machine's own; a relative
/// directory is the current directory's.
fn flag_volume(spec: &str) -> Result<String, String> {
    let (source, dst, mode) = volume(spec)?;
    let src = match source {
        Source::Project(rel) => std::path::absolute(rel)
            .map_err(|e| format!("volume `{spec}`: {e}"))?
            .to_string_lossy()
            .into_owned(),
        Source::Host(path) | Source::Named(path) => path.to_string(),
    };
    Ok(with_mode(&src, dst, mode))
}

/// `[test]` with the flags over it: a flag's variable replaces the table's of that name,
/// and `--env-file`, `--network`, `--volume` (any) replace the table's.
/// The hardening is the image's ([`hardening`]), from `--hardened`, `--read-only` or
/// `[test] hardened`.
pub fn merge(
    table: &TestSettings,
    flags: &Flags,
    dir: &Utf8Path,
    image: &ImagePlan,
) -> Result<Settings, Error> {
    let mut settings = merge_table(table, flags, dir)?;
    let (hardened, read_only) = (
        flags.hardened || table.hardened,
        flags.read_only || table.read_only,
    );
    settings.hardening = hardening(image, hardened, read_only);
    Ok(settings)
}

/// The table and the flags, without the hardening.
fn merge_table(table: &TestSettings, flags: &Flags, dir: &Utf8Path) -> Result<Settings, Error> {
    let usage = Error::Argument;
    let mut env: Vec<(String, String)> = table.env.clone().into_iter().collect();
    for pair in &flags.env {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(usage(format!("--env {pair}: write NAME=VALUE")));
        };
        env.retain(|(n, _)| n != name);
        env.push((name.to_string(), value.to_string()));
    }
    let env_file = match (&flags.env_file, &table.env_file) {
        (Some(file), _) => Some(file.clone()),
        (None, Some(rel)) => Some(dir.join(rel)),
        (None, None) => None,
    };
    let volumes = match flags.volumes.is_empty() {
        true => (table.volumes.iter())
            .map(|v| table_volume(v, dir))
            .collect::<Result<_, _>>()
            .map_err(usage)?,
        false => (flags.volumes.iter())
            .map(|v| flag_volume(v))
            .collect::<Result<_, _>>()
            .map_err(usage)?,
    };
    Ok(Settings {
        env,
        env_file,
        network: flags.network.clone().or_else(|| table.network.clone()),
        volumes,
        hardening: Hardening::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_and_values_never_reach_the_arguments() {
        let table = TestSettings {
            env: [("A".into(), "table".into()), ("B".into(), "kept".into())].into(),
            network: Some("table-net".into()),
            ..TestSettings::default()
        };
        let flags = Flags {
            env: vec!["A=flag-secret".into()],
            network: Some("flag-net".into()),
            ..Flags::default()
        };
        let s = merge_table(&table, &flags, Utf8Path::new(".")).unwrap();
        assert_eq!(
            s.env,
            [
                ("B".into(), "kept".into()),
                ("A".into(), "flag-secret".into())
            ]
        );
        let args = s.args().join(" ");
        assert_eq!(args, "--env B --env A --network flag-net");
        let bad = Flags {
            env: vec!["NOEQUALS".into()],
            ..Flags::default()
        };
        assert!(merge_table(&table, &bad, Utf8Path::new(".")).is_err());
    }
}
