//! Positioned manifest problems: a key path (`checks.ping.ttl`), a line and column, the
//! message, and the source line with a caret under the offending text.
//!
//! In: the manifest text, its parsed table (with spans), and either a byte span, a key path or
//! a toml/serde error. Out: [`Diagnostic`] values that `error.rs` prints. Nothing here prints.

mod duplicate;
pub mod suggest;

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where a value sits in the manifest, printed TOML-style: `services.web.command[2]`,
/// `checks."a b".ttl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path with one more key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.to_string()));
        p
    }

    /// This path with one more array index.
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(index));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        // A TOML basic string, as the user would write the key.
                        write!(f, "{}", serde_json::Value::String(k.clone()))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The manifest text with its line starts, to turn byte offsets into lines and columns.
pub struct SourceMap<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceMap { text, line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.text[start..floor_char(self.text, offset)]
            .chars()
            .count()
            + 1;
        (line + 1, column)
    }

    fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Characters of a source line shown around the caret; longer lines are cut to a window.
const EXCERPT_CHARS: usize = 100;
/// Characters kept before the caret when a long line is cut.
const EXCERPT_BEFORE: usize = 40;

/// A problem located by a byte span, made into a [`Diagnostic`] (line, column, excerpt) only
/// when it is shown: a manifest with 100,000 problems costs 100,000 of these, not 100,000
/// copies of its longest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub span: Range<usize>,
    /// The key path; found from the span when `None`.
    pub key: Option<KeyPath>,
    pub message: String,
}

impl Located {
    pub fn at_span(span: Range<usize>, key: KeyPath, message: String) -> Self {
        Located {
            span,
            key: Some(key),
            message,
        }
    }

    /// A problem with the value at `key`: positioned at that value, or at the nearest
    /// enclosing table that exists when the key is absent.
    pub fn at_path(root: &DeTable<'_>, key: KeyPath, message: String) -> Self {
        let span = span_of(root, &key.0).unwrap_or(0..0);
        Self::at_span(span, key, message)
    }

    /// A problem with the name of the key at `key` (not its value): positioned at the key.
    pub fn at_key(root: &DeTable<'_>, key: KeyPath, message: String) -> Self {
        let span = key_span_of(root, &key.0)
            .or_else(|| span_of(root, &key.0))
            .unwrap_or(0..0);
        Self::at_span(span, key, message)
    }

    /// A toml syntax error or a serde error from deserializing one table; its key path is
    /// found from its span.
    pub fn from_toml(err: &toml::de::Error) -> Self {
        Located {
            span: err.span().unwrap_or(0..0),
            key: None,
            message: rewrite_serde_message(err.message()),
        }
    }

    /// A document `text` that does not parse: where, and why. A duplicate key is named
    /// whole, with the line that first set it.
    pub fn from_parse(err: &toml::de::Error, text: &str) -> Self {
        let span = err.span().unwrap_or(0..0);
        if !err.message().starts_with("duplicate key") {
            return Self::from_toml(err);
        }
        let found = duplicate::duplicate(text, &span);
        let table = found.table;
        let what = match table {
            true => format!("duplicate table [{}]", found.path),
            false => "duplicate key".to_string(),
        };
        let message = match (found.first_line, table) {
            (Some(line), true) => format!("{what}, first defined at line {line}"),
            (Some(line), false) => format!("{what}, first set at line {line}"),
            (None, _) => what,
        };
        Located::at_span(span, found.path, message)
    }

    /// A problem at `span` whose key path is found from the span.
    pub fn at_unknown_key(span: Range<usize>, message: String) -> Self {
        Located {
            span,
            key: None,
            message,
        }
    }

    /// The line, column, key path and excerpt, for showing.
    pub fn resolve(self, map: &SourceMap, root: Option<&DeTable<'_>>) -> Diagnostic {
        let key = match (self.key, root) {
            (Some(key), _) => key,
            (None, Some(root)) => {
                let mut key = KeyPath::root();
                find_in_table(root, self.span.start, &mut key);
                key
            }
            (None, None) => KeyPath::root(),
        };
        let message = with_range(&key, self.message);
        Diagnostic::at_span(map, self.span, key, message)
    }
}

/// One problem in a manifest, positioned for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub key: KeyPath,
    pub message: String,
    /// The source line, or a window of it around the caret, for the caret display.
    excerpt: String,
    /// Characters of `excerpt` before the caret.
    caret_at: usize,
    /// How many characters the caret underlines.
    width: usize,
}

impl Diagnostic {
    pub fn at_span(map: &SourceMap, span: Range<usize>, key: KeyPath, message: String) -> Self {
        let (line, column) = map.line_col(span.start);
        let text = map.line_text(line);
        let (end_line, end_col) = map.line_col(span.end);
        let width = if end_line == line && end_col > column {
            end_col - column
        } else {
            text.chars().count().saturating_sub(column - 1).max(1)
        };
        let (excerpt, caret_at, width) = excerpt(text, column - 1, width);
        Diagnostic {
            line,
            column,
            key,
            message,
            excerpt,
            caret_at,
            width,
        }
    }
}

/// The part of `line` shown under the message: all of it when short, else a window of
/// [`EXCERPT_CHARS`] around the caret with `…` where it was cut. Returns the excerpt, the
/// caret's character position in it, and the caret's width within it.
fn excerpt(line: &str, caret: usize, width: usize) -> (String, usize, usize) {
    let total = line.chars().count();
    if total <= EXCERPT_CHARS {
        return (line.to_string(), caret, width);
    }
    let start = caret.saturating_sub(EXCERPT_BEFORE);
    let mut shown: String = line.chars().skip(start).take(EXCERPT_CHARS).collect();
    let cut_after = start + EXCERPT_CHARS < total;
    let caret_in = caret - start;
    let width = width.min(EXCERPT_CHARS.saturating_sub(caret_in)).max(1);
    if cut_after {
        shown.push('…');
    }
    if start > 0 {
        (format!("…{shown}"), caret_in + 1, width)
    } else {
        (shown, caret_in, width)
    }
}

impl fmt::Display for Diagnostic {
    /// `LINE:COL: KEY: MESSAGE` and the source line with a caret. The caller prefixes the
    /// file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.key, self.message
        )?;
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        let shown: String = self.excerpt.chars().flat_map(visible).collect();
        // Under each character before the caret, the same width of blank: a tab stays a
        // tab, so the caret lines up however the terminal sets its tab stops.
        let before: String = self
            .excerpt
            .chars()
            .take(self.caret_at)
            .flat_map(|c| {
                let blank = if c == '\t' { '\t' } else { ' ' };
                std::iter::repeat_n(blank, visible(c).len())
            })
            .collect();
        let under: usize = self
            .excerpt
            .chars()
            .skip(self.caret_at)
            .take(self.width)
            .map(|c| visible(c).len())
            .sum();
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {shown}")?;
        write!(f, "{pad} | {before}{}", "^".repeat(under.max(1)))
    }
}

/// How many problems are shown in full; the rest are only counted.
pub const MAX_SHOWN_PROBLEMS: usize = 50;

/// Why a manifest is invalid: the first [`MAX_SHOWN_PROBLEMS`] problems in source order,
/// each positioned, and how many more there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub diagnostics: Vec<Diagnostic>,
    pub omitted: usize,
}

impl Problems {
    /// Sorts the problems by position, drops repeats, and positions the first few.
    pub fn new(mut found: Vec<Located>, map: &SourceMap, root: Option<&DeTable<'_>>) -> Self {
        found.sort_by_key(|l| l.span.start);
        found.dedup_by(|a, b| a.span.start == b.span.start && a.message == b.message);
        let omitted = found.len().saturating_sub(MAX_SHOWN_PROBLEMS);
        found.truncate(MAX_SHOWN_PROBLEMS);
        Problems {
            diagnostics: found.into_iter().map(|l| l.resolve(map, root)).collect(),
            omitted,
        }
    }

    /// Every problem, shown or not.
    pub fn total(&self) -> usize {
        self.diagnostics.len() + self.omitted
    }
}

/// The key of `table` (a table value) whose key or value holds byte `offset`.
pub fn key_at(table: &Spanned<DeValue<'_>>, offset: usize) -> Option<String> {
    let mut path = KeyPath::root();
    let DeValue::Table(t) = table.get_ref() else {
        return None;
    };
    find_in_table(t, offset, &mut path);
    match path.0.first() {
        Some(Segment::Key(k)) => Some(k.clone()),
        _ => None,
    }
}

/// A character as shown in the source excerpt: control characters escaped, the rest as is.
fn visible(c: char) -> Vec<char> {
    if c.is_control() && c != '\t' {
        c.escape_default().collect()
    } else {
        vec![c]
    }
}

/// Finds the key path of the innermost key or value at byte `offset`.
fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut KeyPath) -> bool {
    for (k, v) in table.iter() {
        path.0.push(Segment::Key(k.get_ref().to_string()));
        if k.span().contains(&offset) || find_in_value(v, offset, path) {
            return true;
        }
        path.0.pop();
    }
    false
}

fn find_in_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut KeyPath) -> bool {
    match value.get_ref() {
        DeValue::Table(t) if find_in_table(t, offset, path) => {
            return true;
        }
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.0.push(Segment::Index(i));
                if find_in_value(item, offset, path) {
                    return true;
                }
                path.0.pop();
            }
        }
        _ => {}
    }
    value.span().contains(&offset)
}

/// The span of the value at `path`, or of the deepest part of it that exists.
fn span_of(table: &DeTable<'_>, path: &[Segment]) -> Option<Range<usize>> {
    let (Segment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.get_key_value(first.as_str())?;
    span_in_value(value, rest).or_else(|| Some(key.span()))
}

/// The span of the key (its name, not its value) at `path`, in tables (inline or not).
fn key_span_of(table: &DeTable<'_>, path: &[Segment]) -> Option<Range<usize>> {
    let (Segment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.get_key_value(first.as_str())?;
    match (rest.first(), value.get_ref()) {
        (None, _) => Some(key.span()),
        (Some(Segment::Key(_)), DeValue::Table(t)) => key_span_of(t, rest),
        _ => None,
    }
}

fn span_in_value(value: &Spanned<DeValue<'_>>, rest: &[Segment]) -> Option<Range<usize>> {
    let deeper = match (rest.first(), value.get_ref()) {
        (None, _) => None,
        (Some(Segment::Key(_)), DeValue::Table(t)) => span_of(t, rest),
        (Some(Segment::Index(i)), DeValue::Array(a)) => {
            a.get(*i).and_then(|item| span_in_value(item, &rest[1..]))
        }
        _ => None,
    };
    deeper.or_else(|| {
        let span = value.span();
        (!span.is_empty()).then_some(span)
    })
}

/// What serde complained of, read out of its message (serde's errors carry no structure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerdeComplaint<'a> {
    /// `unknown field `bad`, expected one of `a`, `b``.
    UnknownField {
        bad: &'a str,
        known: Vec<&'a str>,
    },
    /// `unknown variant `bad`, expected one of `a`, `b``.
    UnknownVariant {
        bad: &'a str,
        known: Vec<&'a str>,
    },
    /// `missing field `key``.
    MissingField(&'a str),
    /// `invalid type: string "60", expected u64`: what was found, what was expected.
    InvalidType {
        found: &'a str,
        expected: &'a str,
    },
    Other,
}

impl<'a> SerdeComplaint<'a> {
    pub fn read(message: &'a str) -> Self {
        // The names serde quotes, in order: the bad one first, then the known ones.
        let mut names = message.split('`').skip(1).step_by(2);
        let bad = names.next().unwrap_or_default();
        if message.starts_with("unknown field `") {
            SerdeComplaint::UnknownField {
                bad,
                known: names.collect(),
            }
        } else if message.starts_with("unknown variant `") {
            SerdeComplaint::UnknownVariant {
                bad,
                known: names.collect(),
            }
        } else if message.starts_with("missing field `") {
            SerdeComplaint::MissingField(bad)
        } else if let Some((found, expected)) = message
            .trim_end()
            .strip_prefix("invalid type: ")
            .or_else(|| message.trim_end().strip_prefix("invalid value: "))
            .and_then(|rest| rest.rsplit_once(", expected "))
        {
            SerdeComplaint::InvalidType { found, expected }
        } else {
            SerdeComplaint::Other
        }
    }
}

/// A whole number's range where the key's rule is narrower than its type's: a uid or gid
/// is from 1 to 65533, not any u32.
fn with_range(key: &KeyPath, message: String) -> String {
    let name = key.to_string();
    let last = name.rsplit('.').next().unwrap_or_default();
    match (
        last,
        message.strip_prefix("expected a whole number from 0 to 4294967295"),
    ) {
        ("uid" | "gid", Some(rest)) => format!("expected a whole number from 1 to 65533{rest}"),
        _ => message,
    }
}

/// Serde's wording, in the manifest's terms, with a "did you mean" for unknown names.
fn rewrite_serde_message(message: &str) -> String {
    match SerdeComplaint::read(message) {
        SerdeComplaint::UnknownField { bad, known } => {
            crate::diagnostic::suggest::unknown_key_message(bad, &known)
        }
        SerdeComplaint::UnknownVariant { bad, known } => {
            let listed: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
            let mut msg = format!("unknown value `{bad}`");
            if let Some(best) = crate::diagnostic::suggest::did_you_mean(bad, &known) {
                msg.push_str(&format!(", did you mean `{best}`?"));
            }
            msg.push_str(&format!(" (expected one of {})", listed.join(", ")));
            msg
        }
        SerdeComplaint::MissingField(key) => format!("missing key `{key}`"),
        SerdeComplaint::InvalidType { found, expected } => invalid_type(found, expected),
        SerdeComplaint::Other => message.trim_end().to_string(),
    }
}

/// A wrong type in the words of someone writing TOML, not Rust's: "expected a whole number
/// ≥ 0, found the string "60" (write it without quotes)".
fn invalid_type(found: &str, expected: &str) -> String {
    let expected = match expected {
        "u64" | "usize" => "a whole number ≥ 0",
        "u32" => "a whole number from 0 to 4294967295",
        "u16" => "a whole number from 0 to 65535",
        "u8" => "a whole number from 0 to 255",
        "i64" | "i32" => "a whole number",
        "a boolean" => "true or false",
        "a sequence" => "a list, such as [\"a\", \"b\"]",
        "a string" => "a string in quotes",
        "a map" | "struct" => "a table",
        other => other,
    };
    // `floating point `1.5``, `integer `99…9` as i128`: the kind, and the value alone.
    let found = found.replacen("floating point", "floating", 1);
    let found = found.split(" as i128").next().unwrap_or_default();
    let (kind, value) = found.split_once(' ').unwrap_or((found, ""));
    let value = value.trim_matches('`');
    let found = match kind {
        "string" => format!("the string {value}"),
        "integer" | "floating" => format!("the number {value}"),
        "boolean" => format!("`{value}`"),
        "sequence" => "a list".to_string(),
        "map" => "a table".to_string(),
        _ => found.to_string(),
    };
    let number_in_quotes = kind == "string"
        && value.trim_matches('"').parse::<f64>().is_ok()
        && expected.contains("number");
    let hint = if number_in_quotes {
        " (write it without quotes)"
    } else {
        ""
    };
    format!("expected {expected}, found {found}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_are_said_in_toml_words() {
        assert_eq!(
            rewrite_serde_message("invalid type: string \"60\", expected u64"),
            "expected a whole number ≥ 0, found the string \"60\" (write it without quotes)"
        );
        assert_eq!(
            rewrite_serde_message("invalid type: integer `1`, expected a string"),
            "expected a string in quotes, found the number 1"
        );
        assert_eq!(
            rewrite_serde_message("invalid type: string \"x\", expected a sequence"),
            "expected a list, such as [\"a\", \"b\"], found the string \"x\""
        );
    }

    #[test]
    fn key_paths_print_like_toml() {
        let p = KeyPath::root()
            .key("checks")
            .key("a b")
            .key("args")
            .index(2);
        assert_eq!(p.to_string(), "checks.\"a b\".args[2]");
    }

    #[test]
    fn line_and_column_count_characters() {
        let map = SourceMap::new("a = 1\nbé = \"x\"\n");
        assert_eq!(map.line_col(0), (1, 1));
        assert_eq!(map.line_col(11), (2, 5));
    }

    #[test]
    fn unknown_field_gets_did_you_mean() {
        let m =
            rewrite_serde_message("unknown field `intervall`, expected one of `interval`, `ttl`");
        assert!(m.contains("did you mean `interval`"), "{m}");
    }

    fn shown(text: &str, span: Range<usize>) -> String {
        let map = SourceMap::new(text);
        Diagnostic::at_span(&map, span, KeyPath::root().key("k"), "m".into()).to_string()
    }

    #[test]
    fn the_caret_lines_up_after_a_tab() {
        let text = "\tk = \"x\"\n";
        assert_eq!(
            shown(text, 5..8),
            "1:6: k: m\n  |\n1 | \tk = \"x\"\n  | \t    ^^^"
        );
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_caret() {
        let text = format!("k = [{}\"bad\"]\n", "1, ".repeat(1000));
        let at = text.find("\"bad").unwrap();
        let out = shown(&text, at..at + 5);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[2].starts_with("1 | …") && lines[2].ends_with("\"bad\"]"),
            "{out}"
        );
        assert!(lines[2].chars().count() < 110, "{out}");
        let caret = lines[3].chars().position(|c| c == '^').unwrap();
        let under: String = lines[2].chars().skip(caret).take(5).collect();
        assert_eq!(under, "\"bad\"", "{out}");
        assert_eq!(lines[3].matches('^').count(), 5);
    }
}
