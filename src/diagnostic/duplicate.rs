//! Naming a key TOML refused as a duplicate: its whole path, and the line where it was
//! first set, read from the text itself (a document with a duplicate does not parse).

use std::ops::Range;

use super::KeyPath;

/// What is known of a duplicate at `span` of `text`: its key path and the line (1-based)
/// that first set it, when the text shows it plainly (a header or a `key =` line of the
/// same table; a multi-line string that looks like one can hide it).
pub struct Duplicate {
    pub path: KeyPath,
    pub first_line: Option<usize>,
    /// A table header defined twice, rather than a key set twice.
    pub table: bool,
}

/// A line's table header, `[a.b]` or `[[a.b]]`, as its keys.
fn header(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    let inner = line.strip_prefix("[[").and_then(|l| l.split("]]").next());
    let inner = inner.or_else(|| line.strip_prefix('[').and_then(|l| l.split(']').next()))?;
    Some(keys(inner))
}

/// `a . "b c".d` as its keys: `a`, `b c`, `d`.
fn keys(text: &str) -> Vec<String> {
    text.split('.')
        .map(|k| k.trim().trim_matches('"').trim_matches('\'').to_string())
        .collect()
}

/// The keys a `key = value` line sets (a dotted key sets several), if it is one.
fn assigned(line: &str) -> Option<Vec<String>> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plain = !key.is_empty() && !key.starts_with('[') && !key.starts_with('#');
    plain.then(|| keys(key))
}

/// Reads what `text` says of the duplicate key at `span`.
pub fn duplicate(text: &str, span: &Range<usize>) -> Duplicate {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let lines: Vec<&str> = text[..line_start].lines().collect();
    let here = text[line_start..].lines().next().unwrap_or_default();
    // The table each earlier line is in: the last header above it.
    let mut table = Vec::new();
    let mut table_line = 0;
    for (i, line) in lines.iter().enumerate() {
        if let Some(keys) = header(line) {
            (table, table_line) = (keys, i);
        }
    }
    let line_of = |is_first: &dyn Fn(&str) -> bool, from: usize| {
        (lines.iter().enumerate().skip(from))
            .find(|(_, line)| is_first(line))
            .map(|(i, _)| i + 1)
    };
    if let Some(keys) = header(here) {
        let first = line_of(&|line| header(line).as_ref() == Some(&keys), 0);
        return Duplicate {
            path: path_of(&keys),
            first_line: first,
            table: true,
        };
    }
    let key = assigned(here).unwrap_or_default();
    // A key of an inline table (`env = { A = "1", A = "2" }`): set twice on this line.
    let column = start - line_start;
    if here.find('=').is_some_and(|eq| column > eq) {
        let inner = text[start..].split('=').next().unwrap_or_default();
        return Duplicate {
            path: path_of(&[table, key, keys(inner)].concat()),
            first_line: Some(lines.len() + 1),
            table: false,
        };
    }
    let sets_key = |line: &str| header(line).is_none() && assigned(line).as_ref() == Some(&key);
    Duplicate {
        path: path_of(&table.iter().chain(&key).cloned().collect::<Vec<_>>()),
        first_line: line_of(&sets_key, table_line),
        table: false,
    }
}

fn path_of(keys: &[String]) -> KeyPath {
    keys.iter().fold(KeyPath::root(), |path, k| path.key(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> (String, Option<usize>) {
        let start = text.rfind(needle).unwrap();
        let d = duplicate(text, &(start..start + 1));
        (d.path.to_string(), d.first_line)
    }

    #[test]
    fn a_key_set_twice_in_a_table_is_named_with_its_first_line() {
        let text = "[app]\nname = \"a\"\nbinary = \"a\"\nname = \"b\"\n";
        assert_eq!(at(text, "name"), ("app.name".into(), Some(2)));
    }

    #[test]
    fn a_table_defined_twice_is_named_with_its_first_header() {
        let text = "[app]\nname = \"a\"\n\n[services.a]\ncommand = [\"x\"]\n\n[app]\n";
        assert_eq!(at(text, "[app]"), ("app".into(), Some(1)));
        let text = "[services.a]\nx = 1\n[services . \"a\"]\n";
        assert_eq!(at(text, "[services . "), ("services.a".into(), Some(1)));
    }

    #[test]
    fn a_key_of_another_table_with_the_same_name_is_not_the_first() {
        let text = "[image]\nname = \"x\"\n[app]\nname = \"a\"\nname = \"b\"\n";
        assert_eq!(at(text, "name"), ("app.name".into(), Some(4)));
    }

    #[test]
    fn a_key_set_twice_in_an_inline_table_is_named_on_its_line() {
        let text = "[services.a]\nenv = { A = \"1\", A = \"2\" }\n";
        assert_eq!(at(text, "A ="), ("services.a.env.A".into(), Some(2)));
    }

    #[test]
    fn a_top_level_dotted_key_is_named_whole() {
        let text = "app.name = \"a\"\napp.name = \"b\"\n";
        assert_eq!(at(text, "app.name"), ("app.name".into(), Some(1)));
    }
}
