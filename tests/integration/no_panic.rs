//! No input makes manifest loading panic: every prefix of every example and fixture, and
//! byte-level mutations of them, go through the parser and validator.

use crate::common;

use buildkit_lite::manifest::load;
use camino::Utf8Path;
use common::*;

fn inputs() -> Vec<String> {
    let mut texts: Vec<String> = examples()
        .iter()
        .map(|n| std::fs::read_to_string(root().join(example_manifest(n))).unwrap())
        .collect();
    texts.extend(
        fixtures()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap()),
    );
    texts
}

#[test]
fn every_prefix_and_mutation_is_an_error_or_a_manifest_never_a_panic() {
    let dir = Utf8Path::new("examples/healthcheck-app");
    let replacements = [
        "", "\"", "[", "]", "=", "\n", "\u{0}", "é", "[[x]]\n", "{", "}", "'''", "0x", "-1",
    ];
    let mut runs = 0;
    for text in inputs() {
        let boundaries: Vec<usize> = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .collect();
        for &cut in &boundaries {
            let _ = load::parse(&text[..cut], dir);
            runs += 1;
        }
        for (k, &at) in boundaries.iter().enumerate().step_by(7) {
            let end = boundaries.get(k + 1).copied().unwrap_or(at);
            let r = replacements[k % replacements.len()];
            let mutated = format!("{}{}{}", &text[..at], r, &text[end..]);
            if let Err(problems) = load::parse(&mutated, dir) {
                assert!(problems.total() > 0, "an invalid manifest with no problem");
            }
            runs += 1;
        }
    }
    assert!(runs > 10_000, "only {runs} inputs");
}
