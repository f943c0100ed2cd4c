//! A volume of `test`'s container, `SRC:DST[:ro]`: read, and checked as `[test]` may have
//! it (a project directory or a named volume, never the machine's own files).

/// Where a volume's contents come from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// A directory of the project, relative to service.toml.
    Project(&'a str),
    /// A path of the machine's own (`/srv/data`): on the command line only.
    Host(&'a str),
    /// A named volume of the engine.
    Named(&'a str),
}

/// `SRC:DST[:ro|rw]` read: where from, the path in the container, and the mode suffix.
pub fn volume(spec: &str) -> Result<(Source<'_>, &str, &str), String> {
    let bad = |why: &str| format!("volume `{spec}`: {why} (write SRC:DST or SRC:DST:ro)");
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts[..] {
        [src, dst] => (src, dst, ""),
        [src, dst, mode @ ("ro" | "rw")] => (src, dst, mode),
        [_, _, _] => return Err(bad("its mode is `ro` or `rw`")),
        _ => return Err(bad("it is SRC:DST with an optional :ro")),
    };
    if !dst.starts_with('/') || dst.contains('\0') {
        return Err(bad("its path in the container is absolute"));
    }
    let named = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    let source = match src {
        "" => return Err(bad("it has no source")),
        s if s.starts_with('/') => Source::Host(s),
        s if s.starts_with('.') || s.contains('/') => Source::Project(s),
        s if named(s) => Source::Named(s),
        _ => return Err(bad("its source is a directory or a volume name")),
    };
    Ok((source, dst, mode))
}

/// A `[test]` volume, checked: a project directory or a named volume (a manifest may not
/// mount the machine's own files into the container).
pub fn table_volume(spec: &str, dir: &camino::Utf8Path) -> Result<String, String> {
    let (source, dst, mode) = volume(spec)?;
    let src = match source {
        Source::Host(path) => {
            return Err(format!(
                "volume `{spec}`: a [test] volume is a project directory (`./data`) or a named volume; `{path}` is the machine's own (give it with `test --volume`)"
            ));
        }
        Source::Project(rel) => crate::host::project::directory(dir, rel, "test volume")?
            .to_string_lossy()
            .into_owned(),
        Source::Named(name) => name.to_string(),
    };
    Ok(with_mode(&src, dst, mode))
}

pub fn with_mode(src: &str, dst: &str, mode: &str) -> String {
    match mode {
        "" => format!("{src}:{dst}"),
        mode => format!("{src}:{dst}:{mode}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8Path;

    #[test]
    fn volumes_are_read_and_a_manifest_mounts_nothing_of_the_machine() {
        assert_eq!(
            volume("data:/d:ro").unwrap(),
            (Source::Named("data"), "/d", "ro")
        );
        assert_eq!(
            volume("./t:/d").unwrap(),
            (Source::Project("./t"), "/d", "")
        );
        assert_eq!(volume("/srv:/d").unwrap(), (Source::Host("/srv"), "/d", ""));
        for bad in ["data", "data:d", "data:/d:rx", ":/d", "a:b:c:d", "$x:/d"] {
            assert!(volume(bad).is_err(), "{bad}");
        }
        let dir = Utf8Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(
            table_volume("/:/host", dir)
                .unwrap_err()
                .contains("machine's own")
        );
        assert!(table_volume("../..:/up", dir).is_err());
        let mounted = table_volume("./tests:/t:ro", dir).unwrap();
        assert!(
            mounted.starts_with('/') && mounted.ends_with("/tests:/t:ro"),
            "{mounted}"
        );
    }
}
