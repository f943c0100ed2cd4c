//! "Did you mean": the known name closest to a mistyped one, and the unknown-key message.
//! A leaf: it knows no manifest type, and anything may use it.

/// "unknown key `x`", with a "did you mean" when a known key is close (clap's own rule).
pub fn unknown_key_message(bad: &str, known: &[&str]) -> String {
    let mut msg = format!("unknown key `{bad}`");
    if let Some(best) = did_you_mean(bad, known) {
        msg.push_str(&format!(", did you mean `{best}`?"));
    }
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    msg.push_str(&format!(" (expected one of {})", list.join(", ")));
    msg
}

/// The known name closest to `bad`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(bad: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro(bad, k), *k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_needs_a_close_name() {
        assert_eq!(
            did_you_mean("intervall", &["interval", "ttl"]),
            Some("interval")
        );
        assert_eq!(did_you_mean("zzz", &["interval", "ttl"]), None);
    }
}
