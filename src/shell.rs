//! Shell words: POSIX-sh quoting, and the `${NAME}` placeholders of `services.X.command`.
//!
//! Everything the tool writes into a shell script goes through [`quote`] or [`word`], so no
//! manifest value can inject a command. Pure functions; nothing here prints.

use serde::Serialize;

/// One piece of a command word: literal text, or an environment variable read at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Piece {
    Literal(String),
    Var(String),
}

/// Characters that need no quoting in POSIX sh (as Python's `shlex.quote`).
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c)
}

/// Quotes `s` as one POSIX sh word: bare when it is plain, else single-quoted (a `'` inside
/// becomes `'"'"'`). The result, read by sh, is exactly `s`, whatever bytes it holds.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r#"'"'"'"#))
}

/// A shell word from pieces: literals quoted, variables as `"${NAME}"`, glued together.
pub fn word(pieces: &[Piece]) -> String {
    if pieces.is_empty() {
        return "''".into();
    }
    pieces
        .iter()
        .map(|p| match p {
            Piece::Literal(s) => quote(s),
            Piece::Var(name) => format!("\"${{{name}}}\""),
        })
        .collect()
}

/// Whether `name` is a portable environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a command word into literal text and `${NAME}` placeholders; `$${` is a literal
/// `${`. Any other `$` is literal. An unclosed `${` or a name that is not a variable name is
/// an error, with a message for the user.
pub fn parse_word(w: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = w;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            lit.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Err(format!(
                    "`${{` without a closing `}}` in {w:?} (write `$${{` for a literal `${{`)"
                ));
            };
            let name = &tail[..end];
            if !is_var_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a variable reference: only `${{NAME}}` with NAME of letters, digits and `_` (not starting with a digit) is replaced; write `$${{` for a literal `${{`"
                ));
            }
            if !lit.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var(name.to_string()));
            rest = &tail[end + 1..];
        } else {
            lit.push('$');
            rest = &after[1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(lit));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_leaves_plain_words_bare_and_quotes_the_rest() {
        assert_eq!(quote("/bin/app"), "/bin/app");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(quote("$(id)"), "'$(id)'");
    }

    #[test]
    fn placeholders_split_and_escape() {
        assert_eq!(
            parse_word("--port=${PORT}").unwrap(),
            vec![Piece::Literal("--port=".into()), Piece::Var("PORT".into())]
        );
        assert_eq!(
            parse_word("$${HOME} $x").unwrap(),
            vec![Piece::Literal("${HOME} $x".into())]
        );
        assert!(parse_word("${1x}").is_err());
        assert!(parse_word("${PORT").is_err());
        assert!(parse_word("${A:-b}").is_err());
        assert_eq!(word(&parse_word("a'${B}c").unwrap()), r#"'a'"'"''"${B}"c"#);
    }
}
