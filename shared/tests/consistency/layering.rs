//! The modules of `shared` form layers, and every dependency between them points down (see the
//! table at the top of `shared/src/lib.rs`): storage knows nothing of HTTP or the API error, the
//! error vocabulary nothing of responses. This reads every `crate::<module>` reference in the
//! sources, grouped ones (`use crate::{a::X, b::{Y, Z}}`) included, test modules at the end of a
//! file aside, and fails on one that points up, on a cycle within a layer, and on a module that
//! has no layer yet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top; a module may use modules of its own layer or below.
const LAYERS: &[&[&str]] = &[
    &[
        "config",
        "roles",
        "routes",
        "blocklist",
        "telemetry",
        "metrics",
    ],
    &["aws"],
    &["store", "keys", "mail"],
    &["rate_limit", "lockout"],
    &["error"],
    &[
        "validation",
        "password",
        "token",
        "refresh",
        "mfa",
        "keyed_token",
        "mfa_token",
    ],
    &["http"],
    &["audit"],
    &["admin", "account", "email"],
    &["testing", "bad_tokens"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`http/response.rs` is `http`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// The names `text` refers to as `crate::<name>` or in a `crate::{...}` group in code (comments
/// and intra-doc links are no dependency), before its `#[cfg(test)]` section.
fn references(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = code[i + "crate::".len()..].trim_start();
        match rest.strip_prefix('{') {
            Some(group) => found.extend(group_heads(group)),
            None => found.extend(leading_name(rest)),
        }
    }
    found
}

/// The name a path starts with (`http::json` gives `http`), if it starts with a lowercase one.
fn leading_name(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The first name of each path in a `crate::{...}` group, `group` being what follows its `{`:
/// `a::X, b::{Y, Z}, c}` gives `a`, `b` and `c`. Names nested deeper are items of those
/// modules, not modules of the crate.
fn group_heads(group: &str) -> Vec<String> {
    // A use group holds no string literal, so `//` starts a comment, which may hold a brace or
    // a comma: cut each line there.
    let group: String = group
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut heads = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => {
                heads.extend(leading_name(group[start..i].trim_start()));
                if c == '}' {
                    break;
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    heads
}

/// module -> the modules it uses (itself left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        graph
            .entry(module.clone())
            .or_default()
            .extend(references(&text));
    }
    // Keep references to modules only: items of the crate root (`crate::Clock`,
    // `crate::unix_now`) are no module, and a module's use of itself is no edge.
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (module, uses) in graph.iter_mut() {
        uses.retain(|m| modules.contains(m) && m != module);
    }
    graph
}

fn cycle_from(
    node: &str,
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|n| n == node) {
        let mut cycle = path[i..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    path.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = cycle_from(next, graph, path) {
            return Some(c);
        }
    }
    path.pop();
    None
}

/// Every module without a layer, and every use of a module a layer above.
fn layer_problems(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (module, uses) in graph {
        let Some(own) = layer_of(module) else {
            problems.push(format!(
                "{module} has no layer: add it to LAYERS and to lib.rs"
            ));
            continue;
        };
        for used in uses {
            if layer_of(used).is_some_and(|l| l > own) {
                problems.push(format!("{module} (layer {own}) uses {used}, a layer above"));
            }
        }
    }
    problems
}

#[test]
fn every_module_has_a_layer_and_uses_only_its_layer_or_below() {
    let graph = graph();
    assert!(graph.len() >= 15, "{:?}", graph.keys());
    let problems = layer_problems(&graph);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(module, &graph, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn an_upward_import_and_a_cycle_are_both_caught() {
    // The checks above, on a made-up graph: store -> error points up, and error -> store too.
    assert!(
        references("use crate::error::ApiError;\n#[cfg(test)]\nuse crate::http;").contains("error")
    );
    assert!(!references("#[cfg(test)]\nuse crate::http;").contains("http"));
    let mut graph = BTreeMap::new();
    graph.insert("store".to_owned(), BTreeSet::from(["error".to_owned()]));
    graph.insert("error".to_owned(), BTreeSet::from(["store".to_owned()]));
    assert!(layer_of("error") > layer_of("store"));
    assert!(cycle_from("store", &graph, &mut Vec::new()).is_some());
}

#[test]
fn a_grouped_import_that_points_up_is_caught() {
    // A made-up `store` module whose imports are all grouped, nested, over several lines and
    // with a comment: `error` and `http` are layers above it, `config` and `aws` below.
    let source = r#"
use crate::{
    config::Vars,
    error::{ApiError, Code}, // why: {not, a, module}
    http,
    Clock,
};
use crate::{aws::{self, sdk::Client}};
"#;
    let uses = references(source);
    let expected = ["aws", "config", "error", "http"].map(String::from);
    assert_eq!(uses, BTreeSet::from(expected));
    let graph = BTreeMap::from([("store".to_owned(), uses)]);
    assert_eq!(
        layer_problems(&graph),
        [
            "store (layer 2) uses error, a layer above",
            "store (layer 2) uses http, a layer above",
        ]
    );
}
