//! The shape of `src/` (issues 7 and 19): a few files at the top and a folder a stage;
//! imports between stages point one way, in pipeline order (no stage imports one that
//! imports it back, directly or through others); every module says what it owns; no
//! function is longer than 60 lines. And `tests/` holds few files. Read from the source
//! text and the file tree, the way a reviewer would.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::root;

/// The longest a function may be, in lines from `fn` to its closing brace.
const MAX_FUNCTION_LINES: usize = 60;

/// The stages of `src/`, each a top-level file or folder, in the order imports may point:
/// a stage imports only stages before it.
const STAGES: [&str; 13] = [
    "shell",
    "layout",
    "diagnostic",
    "error",
    "host",
    "manifest",
    "plan",
    "render",
    "build",
    "warnings",
    "init",
    "image_test",
    "cli",
];

/// Every `.rs` file under `dir`, as its path relative to `src/` (`build/probe.rs`).
fn rust_files(dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let src = root().join("src");
            out.push(
                path.strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// The modules of `src/`, walked through its folders (paths relative to `src/`, without
/// `main.rs` and `lib.rs`), and their source.
fn modules() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files
        .into_iter()
        .filter(|path| path != "main.rs" && path != "lib.rs")
        .map(|path| {
            let source = std::fs::read_to_string(root().join("src").join(&path)).unwrap();
            (path, source)
        })
        .collect()
}

/// The stage a module belongs to: its folder, or its file's stem at the top.
fn stage_of(path: &str) -> String {
    let first = path.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first).to_string()
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

/// Which stages each stage imports (`crate::x…` in any of its files).
fn stage_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, source) in modules() {
        let stage = stage_of(&path);
        let mut deps = imports(&source);
        deps.remove(&stage);
        deps.retain(|d| STAGES.contains(&d.as_str()));
        graph.entry(stage).or_default().extend(deps);
    }
    graph
}

#[test]
fn stages_are_folders_and_few_files_sit_at_the_top() {
    let mut top: Vec<String> = std::fs::read_dir(root().join("src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let files: Vec<&String> = top.iter().filter(|n| n.ends_with(".rs")).collect();
    assert!(
        files.len() <= 5,
        "src/ has {} files at its top: {files:?}",
        files.len()
    );
    let stages: BTreeSet<String> = top
        .iter()
        .filter(|n| *n != "main.rs" && *n != "lib.rs")
        .map(|n| stage_of(n))
        .collect();
    let declared: BTreeSet<String> = STAGES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        stages, declared,
        "STAGES should list every top-level module of src/"
    );
    for folder in ["manifest", "plan", "render", "build", "image_test", "host"] {
        assert!(
            root().join("src").join(folder).join("mod.rs").is_file(),
            "no src/{folder}/"
        );
    }
    let tests: Vec<String> = std::fs::read_dir(root().join("tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        tests.len() <= 3,
        "tests/ has {} files at its top: {tests:?}",
        tests.len()
    );
}

#[test]
fn every_module_opens_with_what_it_owns() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 30, "only {} files found", files.len());
    for path in files {
        let source = std::fs::read_to_string(root().join("src").join(&path)).unwrap();
        assert!(
            source.starts_with("//! "),
            "src/{path} does not open with a `//!` line"
        );
    }
}

#[test]
fn stage_imports_point_one_way_in_pipeline_order() {
    let graph = stage_graph();
    assert!(
        graph["build"].contains("render") && graph["manifest"].contains("host"),
        "the import reader lost its way: {graph:#?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    let position = |s: &str| STAGES.iter().position(|x| *x == s).unwrap();
    let backwards: Vec<String> = graph
        .iter()
        .flat_map(|(stage, deps)| {
            deps.iter()
                .filter(|d| position(d) > position(stage))
                .map(move |d| format!("{stage} imports {d}, a later stage"))
        })
        .collect();
    assert!(backwards.is_empty(), "{}", backwards.join("\n"));
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
                .unwrap_or_else(|| panic!("src/{module}:{}: no end of `{trimmed}`", i + 1));
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
        .map(|(m, line, len, name)| format!("src/{m}:{line}: {name} has {len} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}
