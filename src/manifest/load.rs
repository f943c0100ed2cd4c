//! Loading a manifest: bounded reading of the file, parsing, and every problem found.
//!
//! In: the path of a manifest. Out: a [`Loaded`] manifest, or [`Error::Invalid`] carrying
//! *every* problem found, each with its line, column and key path.
//!
//! Loading has two passes so that one run reports all problems:
//! 1. structure: the document is parsed once with spans, then each table (`[app]`,
//!    `[image]`, `[log]`, each `[services.X]`, `[checks.X]`, `[tasks.X]` and `[users.X]`,
//!    `[files]`, `[build]`) is
//!    deserialized on its own, so an unknown key in one table does not hide a wrong type in
//!    another;
//! 2. meaning: the rules serde cannot express (names, paths, Sensu's rules, files that must
//!    exist) live in `validate.rs`.
//!
//! Nothing here prints.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;

use camino::Utf8Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::suggest;
use crate::diagnostic::{KeyPath, Located, Problems, SerdeComplaint, SourceMap};
use crate::error::Error;
use crate::host::project::{manifest_dir, not_regular};
use crate::manifest::rules;
use crate::manifest::{Image, Loaded, Log, Manifest, Partial};

/// The top-level tables, in the order the spec lists them.
const TABLES: &[&str] = &[
    "app", "image", "log", "services", "checks", "files", "tasks", "users", "build", "test",
    "sensu",
];

/// The largest manifest read (1 MiB): far above any real one, and a bound on the memory and
/// time that loading can take, whatever the file.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// A manifest given as text, parsed and validated as if it were `dir/service.toml`.
pub fn from_text(text: &str, dir: &Utf8Path) -> Result<Loaded, Problems> {
    Ok(Loaded {
        manifest: parse(text, dir)?,
        path: dir.join("service.toml"),
        dir: dir.to_owned(),
        text: text.to_string(),
    })
}

/// Reads, parses and validates the manifest at `path`.
pub fn load(path: &Utf8Path) -> Result<Loaded, Error> {
    let bytes = read_bounded(path)?;
    let dir = manifest_dir(path);
    match parse_bytes(&bytes, &dir) {
        Ok(manifest) => Ok(Loaded {
            manifest,
            path: path.to_owned(),
            dir,
            // Valid UTF-8: it parsed.
            text: String::from_utf8_lossy(&bytes).replace("\r\n", "\n"),
        }),
        Err(problems) => Err(Error::Invalid {
            path: path.to_owned(),
            problems,
        }),
    }
}

/// The bytes of a manifest file: a regular file of at most [`MAX_MANIFEST_BYTES`], read
/// through that limit (so `/dev/zero` or a file that keeps growing costs nothing) and
/// opened without blocking (so a FIFO cannot hang the tool).
fn read_bounded(path: &Utf8Path) -> Result<Vec<u8>, Error> {
    let refuse = |source: io::Error| Error::Read {
        path: path.to_owned(),
        source,
    };
    let too_large = || {
        refuse(io::Error::other(format!(
            "it is larger than {} MiB, the most a manifest may be (is it the right file?)",
            MAX_MANIFEST_BYTES / (1024 * 1024)
        )))
    };
    let meta = std::fs::metadata(path).map_err(refuse)?;
    if !meta.is_file() {
        return Err(refuse(not_regular(&meta)));
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(too_large());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(refuse)?;
    // The path may have changed between the two looks: trust the open file.
    let meta = file.metadata().map_err(refuse)?;
    if !meta.is_file() {
        return Err(refuse(not_regular(&meta)));
    }
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(refuse)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Parses and validates the bytes of a manifest; invalid UTF-8 is a problem at the line
/// and column of the first bad byte.
pub fn parse_bytes(bytes: &[u8], dir: &Utf8Path) -> Result<Manifest, Problems> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, dir),
        Err(e) => {
            // Up to the bad byte, the lossy text has the same bytes: the same offsets.
            let text = String::from_utf8_lossy(bytes);
            let at = e.valid_up_to();
            let found = vec![Located::at_span(
                at..at + char::REPLACEMENT_CHARACTER.len_utf8(),
                KeyPath::root(),
                "the file is not valid UTF-8 (save it as UTF-8)".into(),
            )];
            Err(Problems::new(found, &SourceMap::new(&text), None))
        }
    }
}

/// Parses and validates manifest text; relative file paths are checked against `dir`.
/// Returns the manifest when it is valid, else every problem found.
///
/// CRLF line ends are read as LF first, so that a manifest saved on Windows means what it
/// says: TOML lets a parser normalise the newlines of multi-line strings, and a shell
/// service must not get `echo one\r`. Lines and columns are unchanged by it.
pub fn parse(text: &str, dir: &Utf8Path) -> Result<Manifest, Problems> {
    let text = if text.contains("\r\n") {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    };
    let map = SourceMap::new(&text);
    let root = match DeTable::parse(&text) {
        Ok(root) => root,
        Err(e) => {
            let found = vec![Located::from_parse(&e, &text)];
            return Err(Problems::new(found, &map, None));
        }
    };
    let root = root.get_ref();
    let mut found = Vec::new();
    let partial = structure(root, &mut found);
    for problem in rules::validate(&partial, dir) {
        found.push(if problem.at_key {
            Located::at_key(root, problem.path, problem.message)
        } else {
            Located::at_path(root, problem.path, problem.message)
        });
    }
    match partial.into_manifest() {
        Some(manifest) if found.is_empty() => Ok(manifest),
        _ => Err(Problems::new(found, &map, Some(root))),
    }
}

/// Pass 1: deserializes each table on its own, collecting every structural problem.
fn structure(root: &DeTable<'_>, found: &mut Vec<Located>) -> Partial {
    let mut partial = Partial {
        image: Some(Image::default()),
        log: Some(Log::default()),
        build: Some(Default::default()),
        test: Some(Default::default()),
        sensu: Some(Default::default()),
        all_services_read: true,
        ..Partial::default()
    };
    let mut have_app = false;
    for (key, value) in root.iter() {
        let name: &str = key.get_ref();
        let path = KeyPath::root().key(name);
        if !TABLES.contains(&name) {
            let msg = suggest::unknown_key_message(name, TABLES);
            found.push(Located::at_span(key.span(), path, msg));
            continue;
        }
        if !value.get_ref().is_table() {
            let msg = format!("expected a table, found {}", value.get_ref().type_str());
            found.push(Located::at_span(value.span(), path, msg));
            if name == "app" {
                have_app = true;
            }
            if name == "services" {
                partial.all_services_read = false;
            }
            continue;
        }
        match name {
            "app" => {
                have_app = true;
                partial.app = de_value(value, found);
            }
            "image" => partial.image = de_value(value, found),
            "log" => partial.log = de_value(value, found),
            "services" => {
                let (entries, all) = de_entries(&path, value, found);
                partial.services = entries;
                partial.all_services_read = all;
            }
            "checks" => partial.checks = de_entries(&path, value, found).0,
            "tasks" => partial.tasks = de_entries(&path, value, found).0,
            "users" => partial.users = de_entries(&path, value, found).0,
            "build" => partial.build = de_value(value, found),
            "test" => partial.test = de_value(value, found),
            "sensu" => partial.sensu = de_value(value, found),
            _ => partial.files = de_value(value, found).unwrap_or_default(),
        }
    }
    log_user_follows_the_image(root, &mut partial);
    if !have_app {
        let msg = "missing table [app] (with name, binary and target)".to_string();
        found.push(Located::at_span(0..1, KeyPath::root().key("app"), msg));
    }
    partial
}

/// With `[image] user` and no `[log] user` written, the log services run as the image's
/// user (the one user a hardened image has), not the default `syslog`.
fn log_user_follows_the_image(root: &DeTable<'_>, partial: &mut Partial) {
    let written = (root.get("log"))
        .and_then(|log| log.get_ref().as_table())
        .is_some_and(|log| log.contains_key("user"));
    if let (Some(image), Some(log), false) = (&partial.image, &mut partial.log, written)
        && let Some(user) = &image.user
    {
        log.user = user.clone();
    }
}

/// Deserializes one table, turning each serde error into a located problem.
///
/// Serde stops at the first problem, so the table is read again without the keys at fault
/// until it deserializes: every unknown key and wrong type in the table is reported, and
/// what remains is still validated. All unknown keys go in one pass (serde names the known
/// ones), so the cost stays linear however many there are; the other retries are bounded
/// by the number of known keys. Gives up (returns `None`) when the problem is not one
/// key's (a missing required key).
fn de_value<T: serde::de::DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    found: &mut Vec<Located>,
) -> Option<T> {
    let read = |value: &Spanned<DeValue<'_>>| {
        T::deserialize(toml::de::ValueDeserializer::from(value.clone()))
    };
    // The common case, a table that reads, costs one copy.
    let mut err = match read(value) {
        Ok(v) => return Some(v),
        Err(err) => err,
    };
    let mut value = value.clone();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let culprit = err
            .span()
            .and_then(|s| crate::diagnostic::key_at(&value, s.start));
        let DeValue::Table(table) = value.get_mut() else {
            found.push(Located::from_toml(&err));
            return None;
        };
        let before = table.len();
        // All unknown keys at once only when serde complains of one of this table's own
        // keys (not of a key in a table nested in it).
        let own_key = err
            .span()
            .is_some_and(|s| table.iter().any(|(k, _)| k.span().start == s.start));
        let (known, missing) = match SerdeComplaint::read(err.message()) {
            SerdeComplaint::UnknownField { known, .. } if own_key => (Some(known), None),
            SerdeComplaint::MissingField(key) => (None, Some(key)),
            _ => (None, None),
        };
        if missing.is_some_and(|key| removed.iter().any(|r| r == key)) {
            // Taken out below for its wrong type, and already reported.
            return None;
        }
        if known.is_none() {
            found.push(Located::from_toml(&err));
        }
        removed.extend(take_out(table, known.as_deref(), culprit.as_deref(), found));
        if table.len() == before {
            return None;
        }
        err = match read(&value) {
            Ok(v) => return Some(v),
            Err(err) => err,
        };
    }
}

/// Takes the keys at fault out of `table`: every unknown key when serde named the known
/// ones (each reported here), else the `culprit`. Returns the keys taken out.
fn take_out(
    table: &mut DeTable<'_>,
    known: Option<&[&str]>,
    culprit: Option<&str>,
    found: &mut Vec<Located>,
) -> Vec<String> {
    let mut removed = Vec::new();
    for (k, v) in std::mem::take(table) {
        let name: &str = k.get_ref();
        let keep = match known {
            Some(known) if !known.contains(&name) => {
                let msg = suggest::unknown_key_message(name, known);
                found.push(Located::at_unknown_key(k.span(), msg));
                false
            }
            Some(_) => true,
            None => culprit != Some(name),
        };
        if keep {
            table.insert(k, v);
        } else {
            removed.push(name.to_string());
        }
    }
    removed
}

/// Deserializes each entry of a table of named tables (`[services.X]`, `[checks.X]`) on its
/// own. Returns the entries that were read, and whether all were.
fn de_entries<T: serde::de::DeserializeOwned>(
    path: &KeyPath,
    value: &Spanned<DeValue<'_>>,
    found: &mut Vec<Located>,
) -> (BTreeMap<String, T>, bool) {
    let mut out = BTreeMap::new();
    let mut all = true;
    let Some(table) = value.get_ref().as_table() else {
        return (out, false);
    };
    for (key, entry) in table.iter() {
        let read = if entry.get_ref().is_table() {
            de_value::<T>(entry, found)
        } else {
            let msg = format!("expected a table, found {}", entry.get_ref().type_str());
            found.push(Located::at_span(entry.span(), path.key(key.get_ref()), msg));
            None
        };
        match read {
            Some(v) => {
                out.insert(key.get_ref().to_string(), v);
            }
            None => all = false,
        }
    }
    (out, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let d = parse(text, Utf8Path::new(".")).err().map(|p| p.diagnostics);
        d.unwrap_or_default()
            .iter()
            .map(|d| format!("{}:{} {} {}", d.line, d.column, d.key, d.message))
            .collect()
    }

    const OK: &str = r#"
[app]
name = "demo"
binary = "demo"
target = "x86_64-unknown-linux-musl"
prebuilt = "Cargo.toml"

[services.demo]
"#;

    #[test]
    fn unknown_keys_in_two_tables_are_both_reported() {
        let text = OK.replace("binary = \"demo\"", "binary = \"demo\"\nnmae = 1")
            + "command = [\"/bin/demo\"]\ncommnd = 2\n";
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("app.nmae") && p[0].contains("did you mean `name`"),
            "{p:?}"
        );
        assert!(
            p[1].contains("services.demo.commnd") && p[1].contains("did you mean `command`"),
            "{p:?}"
        );
    }

    #[test]
    fn syntax_error_has_a_position() {
        let p = problems("[app\nname = 1");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("1:"), "{p:?}");
    }
}
