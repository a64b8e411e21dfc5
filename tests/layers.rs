//! The layers of `src/` as `ARCHITECTURE.md` lists them: every top-level
//! module of the crate is in its table, imports only modules of lower layers,
//! and no file imports another that imports it back, however far round.
//!
//! The imports are read with `syn` from the sources: `use` trees and every
//! path in items, types and expressions (`crate::`, `super::`, `self::` and
//! a child module's name), with the crate root's re-exports followed to the
//! module that defines the item. Test modules (`#[cfg(test)]`, inline or a
//! file of their own) may reach anywhere and are not read; nor are paths
//! inside macro invocations.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module of the crate, by its path from the root (`["protocol", "wire"]`).
type ModPath = Vec<String>;

/// Every module that is a file of `src/`, and its file (the root's `lib.rs`
/// is the empty path).
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut segments: ModPath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            found.insert(segments, path);
        }
    }
    found
}

/// Whether an item is compiled for tests only.
fn test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr.meta.require_list().is_ok_and(|list| {
                list.tokens
                    .clone()
                    .into_iter()
                    .any(|t| t.to_string() == "test")
            })
    })
}

/// The paths a file names, as written.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let mut full = prefix.clone();
                if name.ident != "self" {
                    full.push(name.ident.to_string());
                }
                self.0.push(full);
            }
            syn::UseTree::Rename(rename) => {
                let mut full = prefix.clone();
                full.push(rename.ident.to_string());
                self.0.push(full);
            }
            syn::UseTree::Glob(_) => self.0.push(prefix.clone()),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !test_only(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !test_only(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !test_only(&item.attrs) {
            self.use_tree(&mut Vec::new(), &item.tree);
        }
    }
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.0
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

fn parse(file: &Path) -> syn::File {
    syn::parse_file(&fs::read_to_string(file).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

/// The crate root's re-exports: a name at the root, and the path it names.
fn root_exports(lib: &syn::File) -> BTreeMap<String, ModPath> {
    let mut paths = Paths::default();
    for item in &lib.items {
        if let syn::Item::Use(item) = item {
            paths.use_tree(&mut Vec::new(), &item.tree);
        }
    }
    paths
        .0
        .into_iter()
        .filter_map(|path| Some((path.last()?.clone(), path)))
        .collect()
}

/// The module a path written in `from` names, or `None` for another
/// crate's or a local item.
fn resolve(
    from: &ModPath,
    path: &[String],
    modules: &BTreeMap<ModPath, PathBuf>,
    exports: &BTreeMap<String, ModPath>,
) -> Option<ModPath> {
    let (mut absolute, mut rest): (ModPath, &[String]) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (from.clone(), &path[1..]),
        "super" => {
            // `super` of a file `a/b.rs` is `a`; of a folder's `a/mod.rs`, the root.
            let mut base = from.clone();
            base.pop();
            let mut rest = &path[1..];
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        first => {
            let mut child = from.clone();
            child.push(first.to_owned());
            if !modules.contains_key(&child) {
                return None;
            }
            (from.clone(), path)
        }
    };
    if let Some(target) = rest
        .first()
        .filter(|_| absolute.is_empty())
        .and_then(|first| exports.get(first))
    {
        absolute = target.iter().filter(|s| *s != "crate").cloned().collect();
        rest = &rest[1..];
    }
    absolute.extend(rest.iter().cloned());
    // The deepest module along the path: the rest names an item in it.
    (0..=absolute.len())
        .rev()
        .map(|len| absolute[..len].to_vec())
        .find(|prefix| modules.contains_key(prefix))
}

/// The layers of ARCHITECTURE.md's table, lowest first: the top-level
/// modules of each row.
fn layers(architecture: &str) -> Vec<BTreeSet<String>> {
    let table = architecture
        .split("## Layers")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section");
    table
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            cells.get(1)?.trim().parse::<usize>().ok()?;
            let names = cells.get(2)?;
            Some(
                names
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(|name| name.trim_end_matches('/').to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// A cycle in `graph`, as the files along it, if there is one.
fn cycle(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    fn walk(
        node: &ModPath,
        graph: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        done: &mut BTreeSet<ModPath>,
        stack: &mut Vec<ModPath>,
    ) -> Option<Vec<ModPath>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut found = stack[at..].to_vec();
            found.push(node.clone());
            return Some(found);
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = walk(next, graph, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| walk(node, graph, &mut done, &mut Vec::new()))
}

fn name(path: &ModPath) -> String {
    if path.is_empty() {
        "lib".into()
    } else {
        path.join("::")
    }
}

/// The modules declared `#[cfg(test)] mod name;`, which only tests compile.
fn test_modules(modules: &BTreeMap<ModPath, PathBuf>) -> BTreeSet<ModPath> {
    let mut found = BTreeSet::new();
    for (module, file) in modules {
        for item in parse(file).items {
            if let syn::Item::Mod(declared) = item
                && declared.content.is_none()
                && test_only(&declared.attrs)
            {
                let mut child = module.clone();
                child.push(declared.ident.to_string());
                found.insert(child);
            }
        }
    }
    found
}

/// Every import edge of `src/` between two files, the edges of a folder's
/// `mod.rs` to the modules inside it left out: declaring and re-exporting
/// its own children is what a `mod.rs` is for. Modules only tests compile
/// are left out too.
fn imports(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut modules = modules(src);
    let tests = test_modules(&modules);
    modules.retain(|module, _| !tests.iter().any(|test| module.starts_with(test)));
    let exports = root_exports(&parse(&src.join("lib.rs")));
    let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (module, file) in &modules {
        if module.is_empty() {
            continue;
        }
        let is_folder = file.ends_with("mod.rs");
        let mut paths = Paths::default();
        paths.visit_file(&parse(file));
        let targets = graph.entry(module.clone()).or_default();
        for path in &paths.0 {
            let Some(target) = resolve(module, path, &modules, &exports) else {
                continue;
            };
            let inside = is_folder && target.starts_with(module);
            if target != *module && !target.is_empty() && !inside {
                targets.insert(target);
            }
        }
    }
    graph
}

#[test]
fn every_module_imports_only_lower_layers_and_no_file_imports_itself_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = imports(&root.join("src"));
    let layers = layers(&fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let layer_of = |top: &str| layers.iter().position(|layer| layer.contains(top));

    let tops: BTreeSet<&str> = graph.keys().map(|m| m[0].as_str()).collect();
    let unlisted: Vec<&&str> = tops.iter().filter(|top| layer_of(top).is_none()).collect();
    assert!(
        unlisted.is_empty(),
        "modules missing from ARCHITECTURE.md's layers: {unlisted:?}"
    );

    let mut upward = Vec::new();
    for (from, targets) in &graph {
        for to in targets {
            let (a, b) = (layer_of(&from[0]), layer_of(&to[0]));
            if from[0] != to[0] && a <= b {
                upward.push(format!("{} -> {}", name(from), name(to)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports of a module of the same or a higher layer:\n{}",
        upward.join("\n")
    );

    if let Some(found) = cycle(&graph) {
        let names: Vec<String> = found.iter().map(name).collect();
        panic!("an import circle: {}", names.join(" -> "));
    }
}

/// The check sees what it must: a circle written into a copy of the
/// sources is found, and an import of a higher layer is named.
#[test]
fn the_check_finds_a_circle_and_an_upward_import() {
    let mut graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(cycle(&graph).is_none());
    let protocol = vec!["protocol".to_owned()];
    assert!(
        graph
            .get(&protocol)
            .is_some_and(|targets| targets.contains(&vec!["trace".to_owned()])),
        "the core's run traces its operations: the reader must see that import"
    );
    graph
        .entry(vec!["trace".to_owned()])
        .or_default()
        .insert(protocol);
    assert!(cycle(&graph).is_some());
}
