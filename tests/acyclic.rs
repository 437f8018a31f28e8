//! No import cycles between the modules of `src/` (issue 14, point 6).
//!
//! Run it alone with `cargo test --test acyclic` (it is also its own step in `.ci/run`).
//!
//! The check reads every `src/**/*.rs` file (`src/main.rs` aside: it is the binary crate and
//! reaches the library as `syncdeck::`), treats each file as one module (`mod.rs` and `lib.rs`
//! are their folder's module; inline `mod x { … }` blocks, tests included, belong to their file),
//! and draws an edge A → B for every path in A that names an item of B: `use crate::…`,
//! `use super::…`, `use self::…`, a child's bare `child::…`, and the same paths written in code
//! (`crate::store::Store::open(…)`). A path is followed through `use` / `pub use` re-exports to
//! the module that defines the item, so `crate::engine::Command` counts as a use of
//! `engine::protocol`, not of `engine`. A parent's `mod x;` and its `pub use x::…` re-export of
//! its own child are not edges; a child using an item defined in its parent's `mod.rs` is.
//!
//! It fails naming each cycle as a chain of modules, each step with the line that makes it.
//! Cycles break by moving the shared item into a leaf module both sides can use.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Cycles tolerated, as printed by the check (`a -> b -> a`, starting at the smallest module
/// name): none. A cycle is broken by moving the shared item into a leaf module, not by listing it
/// here; a listed cycle that is no longer found fails the check, so the list cannot go stale.
const ALLOWED_CYCLES: &[&str] = &[];

#[test]
fn src_has_no_import_cycles() {
    let sources = read_src();
    assert!(
        sources.len() > 50,
        "only {} files read from src/",
        sources.len()
    );
    let graph = Graph::build(&sources);
    assert!(
        graph.edges.len() > 100,
        "only {} module edges found: the reader is broken",
        graph.edges.len()
    );
    let cycles = graph.cycles();
    let allowed: BTreeSet<&str> = ALLOWED_CYCLES.iter().copied().collect();
    let mut report = String::new();
    for cycle in &cycles {
        let name = cycle.join(" -> ");
        if !allowed.contains(name.as_str()) {
            let _ = writeln!(report, "cycle: {name}");
            for step in cycle.windows(2) {
                let (site, path) = &graph.edges[&(step[0].clone(), step[1].clone())];
                let _ = writeln!(report, "    {} -> {}: {site} `{path}`", step[0], step[1]);
            }
        }
    }
    let found: BTreeSet<String> = cycles.iter().map(|cycle| cycle.join(" -> ")).collect();
    for stale in allowed.iter().filter(|name| !found.contains(**name)) {
        let _ = writeln!(
            report,
            "allowed cycle no longer found, remove it from ALLOWED_CYCLES: {stale}"
        );
    }
    assert!(
        report.is_empty(),
        "import cycles in src/ (move the shared item into a leaf module):\n{report}"
    );
}

/// The one-way flow of STYLE.md, for the rooms below the front ends: the engine, the store, the
/// config and the shared leaves (the export both front ends use among them) never reach up into
/// `commands` or `ui`.
#[test]
fn lower_rooms_never_reach_up_into_the_front_ends() {
    let sources = read_src();
    let graph = Graph::build(&sources);
    let room = |module: &str| module.split("::").next().unwrap_or("").to_string();
    let lower = [
        "engine", "store", "config", "export", "text", "paths", "panics",
    ];
    let upper = ["commands", "ui"];
    let reaching_up: Vec<String> = graph
        .edges
        .iter()
        .filter(|((from, to), _)| {
            lower.contains(&room(from).as_str()) && upper.contains(&room(to).as_str())
        })
        .map(|((from, to), (site, path))| format!("{from} -> {to}: {site} `{path}`"))
        .collect();
    assert!(
        reaching_up.is_empty(),
        "a lower room uses a front end:\n{}",
        reaching_up.join("\n")
    );
    // The export is used by both front ends, so it must be below both.
    for front_end in upper {
        assert!(
            graph
                .edges
                .keys()
                .any(|(from, to)| room(from) == front_end && to == "export"),
            "{front_end} no longer uses the export: update this test"
        );
    }
}

/// The reader on small made-up crates: a cycle through a parent's `mod.rs` is found, a parent's
/// re-export of its child is not an edge, and a path is followed through re-exports.
#[test]
fn the_check_finds_cycles_and_follows_re_exports() {
    let crate_with = |files: &[(&str, &str)]| {
        let sources: Vec<(String, String)> = files
            .iter()
            .map(|(path, text)| (path.to_string(), text.to_string()))
            .collect();
        Graph::build(&sources)
    };
    let lib = "pub mod engine;\npub mod store;";
    // The parent re-exports its child and the child uses the parent: no cycle.
    let graph = crate_with(&[
        ("lib.rs", lib),
        (
            "store/mod.rs",
            "mod types;\npub use types::Run;\npub struct Store;",
        ),
        (
            "store/types.rs",
            "use super::Store; // the child uses its parent\npub struct Run;",
        ),
        ("engine/mod.rs", "mod run;\nuse crate::store::Run;"),
        (
            "engine/run.rs",
            "/* crate::engine::nothing */ fn f() { let _ = \"super::x\"; crate::store::Store; }",
        ),
    ]);
    assert_eq!(graph.cycles(), Vec::<Vec<String>>::new());
    let edges: BTreeSet<(String, String)> = graph.edges.keys().cloned().collect();
    let expected: BTreeSet<(String, String)> = [
        ("engine", "store::types"),
        ("engine::run", "store"),
        ("store::types", "store"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(edges, expected);
    // The parent calls its child and the child uses an item of the parent: a cycle, and one
    // through a re-export and a sibling.
    let graph = crate_with(&[
        ("lib.rs", lib),
        (
            "store/mod.rs",
            "mod types;\npub struct Store;\nfn f() { types::g(); }",
        ),
        ("store/types.rs", "use super::Store;\npub fn g() {}"),
        ("engine/mod.rs", "mod a;\nmod b;\npub use a::Target;"),
        (
            "engine/a.rs",
            "use super::b::{self, Unit};\npub struct Target;",
        ),
        (
            "engine/b.rs",
            "pub struct Unit;\nfn f(_: crate::engine::Target) {}",
        ),
    ]);
    let cycles: Vec<String> = graph.cycles().iter().map(|c| c.join(" -> ")).collect();
    assert_eq!(
        cycles,
        [
            "engine::a -> engine::b -> engine::a",
            "store -> store::types -> store"
        ]
    );
}

/// Every `src/**/*.rs` but `src/main.rs` (the binary crate, which reaches the library as
/// `syncdeck::`), as (path under src/, text).
fn read_src() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    files
        .iter()
        .filter(|path| path.as_path() != src.join("main.rs"))
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy();
            let text = std::fs::read_to_string(path).expect("readable source file");
            (rel.replace('\\', "/"), text)
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable source folder")
        .map(|entry| entry.expect("readable folder entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// A module path such as `engine::record` (the crate root is empty).
type ModPath = Vec<String>;

fn show(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        path.join("::")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Rust source to tokens with their line, comments and literals dropped.
fn tokenize(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' || (matches!(c, 'b' | 'c') && at(i + 1) == '"') {
            i += if c == '"' { 1 } else { 2 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if at(i) == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if let Some(start) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br#"…"#: ends at a quote followed by as many hashes.
            let hashes = chars[start..].iter().take_while(|&&h| h == '#').count();
            i = start + hashes + 1;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                if chars[i] == '"' && chars[i + 1..].iter().take(hashes).all(|&h| h == '#') {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let q = if c == '\'' { i } else { i + 1 };
            if at(q + 1) == '\\' {
                // An escaped character literal: '\n', '\'', '\u{..}'.
                i = q + 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                // A lifetime or a label: the name follows as an identifier.
                i = q + 1;
            }
        } else if c.is_alphanumeric() || c == '_' || (c == '$' && at(i + 1).is_alphabetic()) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let word = word.strip_prefix("r#").map(str::to_string).unwrap_or(word);
            tokens.push((Token::Ident(word), line));
        } else if c == ':' && at(i + 1) == ':' {
            tokens.push((Token::PathSep, line));
            i += 2;
        } else {
            tokens.push((Token::Punct(c), line));
            i += 1;
        }
    }
    tokens
}

/// Where the hashes/quote of a raw string literal start, if one starts at `i`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let after = match (chars.get(i), chars.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b' | 'c'), Some('r')) => i + 2,
        _ => return None,
    };
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let hashes = chars[after..].iter().take_while(|&&h| h == '#').count();
    (chars.get(after + hashes) == Some(&'"')).then_some(after)
}

/// One `use` binding: the name it brings in (`*` for a glob) and the path it names.
#[derive(Debug, Clone)]
struct Binding {
    name: String,
    path: Vec<String>,
    public: bool,
}

/// A path written in code or in a `use`, in the module `scope` (inline modules included).
#[derive(Debug, Clone)]
struct Reference {
    scope: ModPath,
    segments: Vec<String>,
    line: usize,
    /// A `pub use`: not an edge when it re-exports the file's own descendant.
    public_use: bool,
}

#[derive(Default)]
struct Graph {
    /// Modules with their own file.
    files: BTreeMap<ModPath, String>,
    /// Every module, inline ones included, with the file it lives in.
    modules: BTreeSet<ModPath>,
    /// `use` bindings per module scope.
    bindings: HashMap<ModPath, Vec<Binding>>,
    /// Items (types, functions, constants, macros) defined per module scope.
    items: HashMap<ModPath, BTreeSet<String>>,
    /// from → to, with the first place that makes the edge and the path written there.
    edges: BTreeMap<(String, String), (String, String)>,
}

impl Graph {
    fn build(sources: &[(String, String)]) -> Graph {
        let mut graph = Graph::default();
        let mut references = Vec::new();
        for (rel, text) in sources {
            let module = file_module(rel);
            graph.files.insert(module.clone(), rel.clone());
            graph.modules.insert(module.clone());
            graph.read_file(&module, text, &mut references);
        }
        for (file, rel, reference) in references {
            let Some(target) = graph.resolve(&reference.scope, &reference.segments, 0) else {
                continue;
            };
            let target = graph.file_of(&target);
            if target == file {
                continue;
            }
            // A parent re-exporting its own child (`pub use child::Item`) is not a dependency.
            if reference.public_use && target.starts_with(&file) {
                continue;
            }
            graph
                .edges
                .entry((show(&file), show(&target)))
                .or_insert_with(|| {
                    (
                        format!("src/{rel}:{}", reference.line),
                        reference.segments.join("::"),
                    )
                });
        }
        graph
    }

    /// Reads one file's module declarations, item names, `use` bindings and paths.
    fn read_file(
        &mut self,
        file: &ModPath,
        text: &str,
        references: &mut Vec<(ModPath, String, Reference)>,
    ) {
        let rel = self.files[file].clone();
        let tokens = tokenize(text);
        let ident = |i: usize| match tokens.get(i) {
            Some((Token::Ident(word), _)) => Some(word.as_str()),
            _ => None,
        };
        let is = |i: usize, token: Token| tokens.get(i).map(|(t, _)| t) == Some(&token);
        // Inline module frames: (module path, brace depth at which it closes).
        let mut scopes: Vec<(ModPath, usize)> = vec![(file.clone(), 0)];
        let mut depth = 0;
        let mut i = 0;
        while i < tokens.len() {
            let scope = scopes.last().expect("the file scope").0.clone();
            let line = tokens[i].1;
            match &tokens[i].0 {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth -= 1;
                    if scopes.len() > 1 && scopes.last().expect("a frame").1 == depth {
                        scopes.pop();
                    }
                }
                Token::Ident(word) if word == "mod" => {
                    if let Some(name) = ident(i + 1) {
                        let mut child = scope.clone();
                        child.push(name.to_string());
                        self.modules.insert(child.clone());
                        if is(i + 2, Token::Punct('{')) {
                            depth += 1;
                            scopes.push((child, depth - 1));
                            i += 3;
                            continue;
                        }
                    }
                }
                Token::Ident(word) if word == "use" => {
                    let public = is_public_before(&tokens, i);
                    let end = (i..tokens.len())
                        .find(|&j| is(j, Token::Punct(';')))
                        .unwrap_or(tokens.len());
                    let mut out = Vec::new();
                    parse_use_tree(&tokens[i + 1..end], &[], &mut out);
                    for (name, path) in out {
                        references.push((
                            file.clone(),
                            rel.clone(),
                            Reference {
                                scope: scope.clone(),
                                segments: path.clone(),
                                line,
                                public_use: public,
                            },
                        ));
                        self.bindings
                            .entry(scope.clone())
                            .or_default()
                            .push(Binding { name, path, public });
                    }
                    i = end + 1;
                    continue;
                }
                Token::Ident(word)
                    if matches!(
                        word.as_str(),
                        "struct"
                            | "enum"
                            | "fn"
                            | "trait"
                            | "type"
                            | "const"
                            | "static"
                            | "union"
                            | "macro_rules"
                    ) =>
                {
                    let name = if word == "macro_rules" {
                        ident(i + 2)
                    } else {
                        ident(i + 1)
                    };
                    if let Some(name) = name {
                        self.items
                            .entry(scope.clone())
                            .or_default()
                            .insert(name.to_string());
                    }
                }
                Token::Ident(word)
                    if is(i + 1, Token::PathSep)
                        && !(i > 0 && is(i - 1, Token::PathSep))
                        && !(i > 0 && is(i - 1, Token::Punct('.'))) =>
                {
                    // `pub(in crate::x)` names a visibility, not a dependency.
                    let in_visibility =
                        i >= 2 && ident(i - 1) == Some("in") && is(i - 2, Token::Punct('('));
                    let mut segments = vec![word.clone()];
                    let mut j = i + 1;
                    while is(j, Token::PathSep) {
                        match ident(j + 1) {
                            Some(next) => segments.push(next.to_string()),
                            None => break,
                        }
                        j += 2;
                    }
                    if !in_visibility {
                        references.push((
                            file.clone(),
                            rel.clone(),
                            Reference {
                                scope: scope.clone(),
                                segments,
                                line,
                                public_use: false,
                            },
                        ));
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// The module a path names an item of, if it names one of this crate.
    fn resolve(&self, scope: &ModPath, segments: &[String], hops: usize) -> Option<ModPath> {
        if hops > 16 || segments.is_empty() {
            return None;
        }
        let (mut current, rest) = match segments[0].as_str() {
            "crate" | "$crate" => (Vec::new(), &segments[1..]),
            "self" => (scope.clone(), &segments[1..]),
            "super" => {
                let mut base = scope.clone();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                (base, rest)
            }
            "Self" | "std" | "core" | "alloc" => return None,
            first => {
                // A bare path: a child module of this scope, or a name a `use` brought in.
                let mut child = scope.clone();
                child.push(first.to_string());
                if self.modules.contains(&child) {
                    (child, &segments[1..])
                } else {
                    let binding = self.binding(scope, first, hops)?;
                    let mut path = binding;
                    path.extend_from_slice(&segments[1..]);
                    return self.resolve(scope, &path, hops + 1);
                }
            }
        };
        for segment in rest {
            let mut child = current.clone();
            child.push(segment.clone());
            if self.modules.contains(&child) {
                current = child;
                continue;
            }
            return Some(self.item_home(&current, segment, hops).unwrap_or(current));
        }
        Some(current)
    }

    /// The path a name was brought into `scope` by (a named `use`, or a glob that has it).
    fn binding(&self, scope: &ModPath, name: &str, hops: usize) -> Option<Vec<String>> {
        let bindings = self.bindings.get(scope)?;
        if let Some(binding) = bindings.iter().find(|b| b.name == name) {
            return Some(binding.path.clone());
        }
        for glob in bindings.iter().filter(|b| b.name == "*") {
            let Some(module) = self.resolve(scope, &glob.path, hops + 1) else {
                continue;
            };
            let mut child = module.clone();
            child.push(name.to_string());
            if self.modules.contains(&child) {
                return Some(prefixed(&child));
            }
            if self.item_home(&module, name, hops + 1).is_some() {
                let mut path = prefixed(&module);
                path.push(name.to_string());
                return Some(path);
            }
        }
        None
    }

    /// The module that defines `name` as seen from `module`: itself, or wherever its
    /// `use` / `pub use` of that name (or a glob re-export) leads.
    fn item_home(&self, module: &ModPath, name: &str, hops: usize) -> Option<ModPath> {
        if hops > 16 {
            return None;
        }
        if self
            .items
            .get(module)
            .is_some_and(|items| items.contains(name))
        {
            return Some(module.clone());
        }
        let bindings = self.bindings.get(module)?;
        if let Some(binding) = bindings.iter().find(|b| b.name == name) {
            return self.resolve(module, &binding.path, hops + 1);
        }
        for glob in bindings.iter().filter(|b| b.name == "*" && b.public) {
            let Some(target) = self.resolve(module, &glob.path, hops + 1) else {
                continue;
            };
            if let Some(home) = self.item_home(&target, name, hops + 1) {
                return Some(home);
            }
        }
        None
    }

    /// The file module an (inline) module lives in.
    fn file_of(&self, module: &ModPath) -> ModPath {
        let mut path = module.clone();
        while !self.files.contains_key(&path) {
            path.pop();
        }
        path
    }

    /// Every elementary cycle that is the shortest way back over one edge, each starting at
    /// its smallest module name and ending where it started.
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in self.edges.keys() {
            next.entry(from).or_default().push(to);
        }
        let mut found = BTreeSet::new();
        for (from, to) in self.edges.keys() {
            // Shortest way from `to` back to `from`.
            let mut came_from: HashMap<&str, &str> = HashMap::new();
            let mut queue = VecDeque::from([to.as_str()]);
            came_from.insert(to, to);
            while let Some(node) = queue.pop_front() {
                if node == from {
                    break;
                }
                for &n in next.get(node).into_iter().flatten() {
                    if !came_from.contains_key(n) {
                        came_from.insert(n, node);
                        queue.push_back(n);
                    }
                }
            }
            if !came_from.contains_key(from.as_str()) {
                continue;
            }
            let mut back = vec![from.as_str()];
            let mut node = from.as_str();
            while node != to {
                node = came_from[node];
                back.push(node);
            }
            back.reverse(); // to … from
            let mut cycle: Vec<String> = std::iter::once(from.as_str())
                .chain(back.iter().copied())
                .map(str::to_string)
                .collect();
            cycle.pop(); // ends at `from` again: keep the ring only
            let start = (0..cycle.len())
                .min_by_key(|&k| &cycle[k])
                .expect("a non-empty cycle");
            cycle.rotate_left(start);
            cycle.push(cycle[0].clone());
            found.insert(cycle);
        }
        found.into_iter().collect()
    }
}

/// `["engine", "record"]` as an absolute path `crate::engine::record`.
fn prefixed(module: &ModPath) -> Vec<String> {
    std::iter::once("crate".to_string())
        .chain(module.iter().cloned())
        .collect()
}

/// `engine/record.rs` → `engine::record`; `engine/mod.rs` → `engine`; `lib.rs` → the root.
fn file_module(rel: &str) -> ModPath {
    let without = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = without.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Whether the `use` at `i` is preceded by `pub` or `pub(…)`.
fn is_public_before(tokens: &[(Token, usize)], i: usize) -> bool {
    let word = |k: usize| matches!(&tokens[k].0, Token::Ident(w) if w == "pub");
    if i >= 1 && word(i - 1) {
        return true;
    }
    if i >= 1 && tokens[i - 1].0 == Token::Punct(')') {
        let open = (0..i - 1).rev().find(|&k| tokens[k].0 == Token::Punct('('));
        return open.is_some_and(|k| k >= 1 && word(k - 1));
    }
    false
}

/// Flattens a use tree (`a::{b, c::{self, D as E}, f::*}`) into (bound name, full path) pairs.
fn parse_use_tree(
    tokens: &[(Token, usize)],
    prefix: &[String],
    out: &mut Vec<(String, Vec<String>)>,
) {
    let mut i = 0;
    let mut path = prefix.to_vec();
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Ident(word) if word == "as" => {
                if let Some((Token::Ident(alias), _)) = tokens.get(i + 1) {
                    let mut full = path.clone();
                    if full.last().map(String::as_str) == Some("self") {
                        full.pop();
                    }
                    if alias != "_" {
                        out.push((alias.clone(), full));
                    } else {
                        out.push(("_".to_string(), full));
                    }
                    path = prefix.to_vec();
                    i += 2;
                    // The alias ended this leaf: skip to the separating comma.
                    if let Some((Token::Punct(','), _)) = tokens.get(i) {
                        i += 1;
                    }
                    continue;
                }
                i += 1;
            }
            Token::Ident(word) => {
                path.push(word.clone());
                i += 1;
            }
            Token::PathSep => i += 1,
            Token::Punct('*') => {
                out.push(("*".to_string(), path.clone()));
                path = prefix.to_vec();
                i += 1;
            }
            Token::Punct('{') => {
                // Find the matching brace and recurse with the path so far as the prefix.
                let mut depth = 0;
                let mut end = i;
                for (k, (token, _)) in tokens.iter().enumerate().skip(i) {
                    match token {
                        Token::Punct('{') => depth += 1,
                        Token::Punct('}') => {
                            depth -= 1;
                            if depth == 0 {
                                end = k;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                // Split the group at top-level commas.
                let inner = &tokens[i + 1..end];
                let mut start = 0;
                let mut level = 0;
                for k in 0..=inner.len() {
                    let split = k == inner.len() || (level == 0 && inner[k].0 == Token::Punct(','));
                    if k < inner.len() {
                        match inner[k].0 {
                            Token::Punct('{') => level += 1,
                            Token::Punct('}') => level -= 1,
                            _ => {}
                        }
                    }
                    if split {
                        if start < k {
                            parse_use_tree(&inner[start..k], &path, out);
                        }
                        start = k + 1;
                    }
                }
                path = prefix.to_vec();
                i = end + 1;
            }
            Token::Punct(',') => {
                flush_leaf(&mut path, prefix, out);
                i += 1;
            }
            _ => i += 1,
        }
    }
    flush_leaf(&mut path, prefix, out);
}

/// Ends one plain leaf of a use tree: `a::b` binds `b`, `a::{self}` binds `a`.
fn flush_leaf(path: &mut Vec<String>, prefix: &[String], out: &mut Vec<(String, Vec<String>)>) {
    if path.len() > prefix.len() {
        let mut full = path.clone();
        if full.last().map(String::as_str) == Some("self") {
            full.pop();
        }
        if let Some(name) = full.last().cloned() {
            out.push((name, full));
        }
    }
    *path = prefix.to_vec();
}
