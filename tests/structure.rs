//! The shape of `src/` (issue 7): every module import points one way (no module imports
//! one that imports it back, directly or through others), and no function is longer than
//! 60 lines. Read from the source text, the way a reviewer would.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::root;

/// The longest a function may be, in lines from `fn` to its closing brace.
const MAX_FUNCTION_LINES: usize = 60;

/// The modules of `src/` (file stems, without `main` and `lib`) and their source.
fn modules() -> BTreeMap<String, String> {
    std::fs::read_dir(root().join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(name, _)| name != "main" && name != "lib")
        .collect()
}

/// The code of a module without its comments and its `#[cfg(test)]` tests.
fn code(source: &str) -> String {
    let body = source.split("\n#[cfg(test)]").next().unwrap();
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `source` uses: `crate::x…` anywhere, and each name of `use crate::{a, b::c}`.
fn imports(source: &str) -> BTreeSet<String> {
    let code = code(source);
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(first_ident(&item));
        } else {
            found.insert(first_ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// A path `from → … → from` in `graph`, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn module_imports_point_one_way() {
    let modules = modules();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, source)| {
            let mut deps = imports(source);
            deps.remove(name);
            deps.retain(|d| modules.contains_key(d));
            (name.clone(), deps)
        })
        .collect();
    assert!(
        graph["build"].contains("stage") && graph["load"].contains("validate"),
        "the import reader lost its way: {graph:#?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    for leaf in ["manifest", "diagnostic", "suggest", "layout", "shell"] {
        let deps = &graph[leaf];
        assert!(
            deps.iter()
                .all(|d| ["suggest", "shell"].contains(&d.as_str())),
            "{leaf} should be a leaf, imports {deps:?}"
        );
    }
}

/// `(module, first line, length, name)` of every function outside the tests.
fn functions() -> Vec<(String, usize, usize, String)> {
    let mut out = Vec::new();
    for (module, source) in modules() {
        let body = source.split("\n#[cfg(test)]").next().unwrap();
        let lines: Vec<&str> = body.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            let signature = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
            let Some(rest) = signature else { continue };
            if line.trim_end().ends_with(';') {
                continue; // a declaration in a trait
            }
            let close = format!("{}}}", " ".repeat(indent));
            let end = (i..lines.len())
                .find(|&j| lines[j] == close || (j == i && line.trim_end().ends_with('}')))
                .unwrap_or_else(|| panic!("{module}.rs:{}: no end of `{trimmed}`", i + 1));
            out.push((module.clone(), i + 1, end - i + 1, first_ident(rest)));
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_sixty_lines() {
    let all = functions();
    assert!(all.len() > 100, "only {} functions found", all.len());
    let long: Vec<String> = all
        .iter()
        .filter(|(_, _, len, _)| *len > MAX_FUNCTION_LINES)
        .map(|(m, line, len, name)| format!("src/{m}.rs:{line}: {name} has {len} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}
