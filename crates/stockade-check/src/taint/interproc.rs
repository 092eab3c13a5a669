//! Taint across functions and modules: request data (or argv/environment data) passed to a
//! function of the checked tree, whose parameter reaches a sink there — or in a function it passes
//! it on to, in the same module or another one imported by name.
//!
//! Two passes, so code that passes no tainted data to a function of its own costs nothing here:
//! 1. The ordinary per-file pass (crate::checker) records each call whose callee may be a
//!    function of the tree and that is given tainted data or a request object ([`CallOut`]).
//! 2. [`resolve`] maps those callees to modules of the tree through the caller's imports
//!    (`from app.db import find`, `import app.db as db; db.find(...)`, relative imports,
//!    `self.method(...)`, `Class(...)` → `__init__`), parses only the files that hold them, and
//!    summarises every function of such a file once ([`Summary`]: which parameters reach which
//!    sinks, and which calls of other functions they flow into, with the kinds of taint left
//!    after sanitisers). A file reached again is not parsed again; a summary's calls are followed
//!    the same way, level by level, at most [`MAX_HOPS`] deep, with cycles cut.
//!
//! Parameters are tracked two ways: as data (`name` reaching `execute`), and as a request object
//! (`req.args["q"]` reaching `execute`, which counts when the caller passes its `request`).
//! What a function returns is not summarised: a call of a function of the tree given tainted data
//! is taken to return tainted data, as every unknown call is.

use crate::finding::Finding;
use crate::registry::RuleId;
use crate::suppress::Marker;
use crate::{Level, Settings};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// How many functions deep a parameter is followed from the call site.
pub const MAX_HOPS: usize = 6;
/// Parameters beyond this position are not summarised (a bit each, as data and as request).
pub const MAX_PARAMS: usize = 16;

/// Which function a call may reach, as the caller's imports spell it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Callee {
    /// A dotted name with imports resolved (`app.db.find`, `.db.find` for a relative import).
    Name(String),
    /// A name of the caller's own module (`find`, `Repo`, `Repo.find`).
    Local(String),
    /// `self.m(...)`/`cls.m(...)` inside a method of class `class` (same module).
    Method { class: String, method: String },
}

/// Where an argument is passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    Pos(usize),
    Kw(String),
}

/// What one argument carries at a call of a function of the tree, in the caller's own body.
#[derive(Clone, Debug)]
pub struct ArgFlow {
    pub slot: Slot,
    /// Sink kinds the value is still dangerous for.
    pub kinds: u16,
    /// The argument is a request object (its data attributes are sources), not data.
    pub request_object: bool,
    /// argv/environment/input() data (reported at low confidence).
    pub local: bool,
    /// Where the data came from (`request.args`), and its line.
    pub source: String,
    pub source_line: usize,
}

/// A call recorded by the per-file pass.
#[derive(Clone, Debug)]
pub struct CallOut {
    pub callee: Callee,
    /// Whether the callee's first parameter is bound by the call (`self.m(x)`, `Class(x)`).
    pub bound: bool,
    pub args: Vec<ArgFlow>,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub line_text: String,
    /// Suppression comments on the call's first and last line.
    pub markers: Vec<Marker>,
}

/// One argument of a call inside a summarised function: which of its parameters flow there.
#[derive(Clone, Debug)]
pub struct EdgeArg {
    pub slot: Slot,
    pub kinds: u16,
    /// Bit i: parameter i as data; bit 16 + i: data read from parameter i as a request object.
    pub params: u32,
    /// The argument is parameter i itself (a request object stays one when passed on).
    pub whole_param: Option<usize>,
}

/// A sink a summarised function's parameters reach.
#[derive(Clone, Debug)]
pub struct Hit {
    pub params: u32,
    pub kind: u16,
    pub rule: RuleId,
    /// `cur.execute as the SQL text`.
    pub what: String,
    pub line: usize,
    /// The call's start (hits of one call are merged).
    pub at: u32,
}

/// What a function does with its parameters.
#[derive(Clone, Debug)]
pub struct Summary {
    /// `find` or `Repo.find`.
    pub qualname: String,
    pub line: usize,
    /// Positional parameters in order (`self` included), then keyword-only ones.
    pub params: Vec<String>,
    /// How many of `params` can be passed by position.
    pub positional: usize,
    pub hits: Vec<Hit>,
    pub calls: Vec<(Callee, bool, Vec<EdgeArg>)>,
}

impl Summary {
    fn param_index(&self, slot: &Slot, bound: bool) -> Option<usize> {
        match slot {
            Slot::Pos(i) => {
                let i = i + usize::from(bound);
                (i < self.positional).then_some(i)
            }
            Slot::Kw(name) => self.params.iter().position(|p| p == name),
        }
    }
}

/// What a file's own pass hands to [`resolve`].
#[derive(Default)]
pub struct Crossing {
    pub call_outs: Vec<CallOut>,
    /// The functions and methods it defines, by qualified name (`f`, `Class.m`).
    pub defined: Defined,
    /// Its own functions' summaries, when its calls reach them (made on the tree at hand).
    pub summaries: Option<Partial>,
}

/// Summaries of some of a module's functions: those named in `of` (a function of `of` missing
/// from `summaries` is one the walk could not summarise). [`resolve`] summarises the whole module
/// when another module's call reaches a function outside `of`.
pub struct Partial {
    pub summaries: Vec<Summary>,
    pub of: Defined,
}

/// The qualified name, in its own module, of the function a call of that module reaches.
pub fn local_target(callee: &Callee, defined: &Defined) -> Option<String> {
    let name = match callee {
        Callee::Local(name) => name.clone(),
        Callee::Method { class, method } => format!("{class}.{method}"),
        Callee::Name(_) => return None,
    };
    if defined.contains(&name) {
        return Some(name);
    }
    let init = format!("{name}.__init__");
    defined.contains(&init).then_some(init)
}

impl CallOut {
    /// Whether the callee may exist: a name of another module, or one this module defines.
    pub fn may_reach(&self, defined: &Defined) -> bool {
        match &self.callee {
            Callee::Name(_) => true,
            Callee::Local(name) => defined.contains(name) || defined.contains(&format!("{name}.__init__")),
            Callee::Method { class, method } => defined.contains(&format!("{class}.{method}")),
        }
    }
}

/// The module-level functions and the methods of module-level classes a module defines (also
/// under `if`/`try`/`with` at the top level), by qualified name: what [`Summary::qualname`] names.
pub fn defined_names(body: &[ruff_python_ast::Stmt]) -> Defined {
    use ruff_python_ast::Stmt;
    fn walk(body: &[Stmt], class: Option<&str>, out: &mut Defined, depth: usize) {
        if depth > 16 {
            return;
        }
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(f) => {
                    out.insert(match class {
                        Some(c) => format!("{c}.{}", f.name.as_str()),
                        None => f.name.to_string(),
                    });
                }
                Stmt::ClassDef(c) if class.is_none() => walk(&c.body, Some(c.name.as_str()), out, depth + 1),
                Stmt::If(i) => {
                    walk(&i.body, class, out, depth + 1);
                    for clause in &i.elif_else_clauses {
                        walk(&clause.body, class, out, depth + 1);
                    }
                }
                Stmt::Try(t) => {
                    walk(&t.body, class, out, depth + 1);
                    for handler in &t.handlers {
                        let ruff_python_ast::ExceptHandler::ExceptHandler(h) = handler;
                        walk(&h.body, class, out, depth + 1);
                    }
                    walk(&t.orelse, class, out, depth + 1);
                    walk(&t.finalbody, class, out, depth + 1);
                }
                Stmt::With(w) => walk(&w.body, class, out, depth + 1),
                _ => {}
            }
        }
    }
    let mut out = Defined::default();
    walk(body, None, &mut out, 0);
    out
}

/// Qualified names of the functions a module defines (hashed often, kept for every file).
pub type Defined = HashSet<String, crate::names::FxBuild>;

/// A file of the tree, as [`resolve`] reads it.
pub struct Unit {
    pub display: String,
    pub module: String,
    pub origin: Origin,
    /// What it defines (see [`defined_names`]).
    pub defined: Defined,
}

pub enum Origin {
    Disk(PathBuf),
    Text(String),
}

/// The dotted module name of a file shown as `display` (`app/db.py` → `app.db`, `app/__init__.py`
/// → `app`).
pub fn module_name(display: &str) -> String {
    let trimmed = display.trim_start_matches("./").trim_start_matches('/');
    let without = trimmed.strip_suffix(".py").unwrap_or(trimmed);
    let without = without.strip_suffix("/__init__").unwrap_or(without);
    // A directory whose name has a dot (`.tmpXYZ`, `v1.2`) cannot be imported as a package;
    // it keeps a component of its own.
    without
        .split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(|s| s.replace('.', "_"))
        .collect::<Vec<_>>()
        .join(".")
}

/// A sink reached from a parameter, and the functions in between.
#[derive(Clone)]
struct Reached {
    kind: u16,
    rule: RuleId,
    what: String,
    display: String,
    line: usize,
    /// `find` (app/db.py:12), innermost last, the first being the function called.
    via: Vec<String>,
}

type FunctionId = (usize, String);

struct Resolver<'s> {
    units: &'s [Unit],
    settings: &'s Settings,
    /// Module name suffix → units (`app.db` is found as `db` and `app.db`).
    by_suffix: HashMap<String, Vec<usize>>,
    /// The most parts of any unit's module name.
    deepest_module: usize,
    summaries: HashMap<usize, HashMap<String, Summary>>,
    /// Units whose summaries cover only some functions (made by the per-file pass).
    partial: HashMap<usize, Defined>,
    memo: HashMap<(FunctionId, u32), std::rc::Rc<Vec<Reached>>>,
    active: HashSet<(FunctionId, u32)>,
}

/// Resolves the calls the per-file pass recorded (with the summaries it already made, by unit);
/// returns findings as (unit, finding).
pub fn resolve(
    units: &[Unit],
    calls: Vec<(usize, Vec<CallOut>)>,
    made: Vec<(usize, Partial)>,
    settings: &Settings,
) -> Vec<(usize, Finding)> {
    let calls: Vec<(usize, Vec<CallOut>)> = calls.into_iter().filter(|(_, c)| !c.is_empty()).collect();
    if calls.is_empty() {
        return Vec::new();
    }
    let mut by_suffix: HashMap<String, Vec<usize>> = HashMap::new();
    let mut deepest_module = 0;
    for (i, unit) in units.iter().enumerate() {
        let parts: Vec<&str> = unit.module.split('.').collect();
        deepest_module = deepest_module.max(parts.len());
        for start in 0..parts.len() {
            by_suffix.entry(parts[start..].join(".")).or_default().push(i);
        }
    }
    let mut partial: HashMap<usize, Defined> = HashMap::new();
    let mut summaries = HashMap::new();
    for (u, made) in made {
        partial.insert(u, made.of);
        summaries.insert(u, made.summaries.into_iter().map(|s| (s.qualname.clone(), s)).collect());
    }
    let mut resolver = Resolver {
        units,
        settings,
        by_suffix,
        deepest_module,
        summaries,
        partial,
        memo: HashMap::new(),
        active: HashSet::new(),
    };
    // Summarise, level by level, every file a recorded call (or a summary's call) may reach.
    let mut frontier: Vec<(usize, Callee)> = calls
        .iter()
        .flat_map(|(unit, calls)| calls.iter().map(|c| (*unit, c.callee.clone())))
        .collect();
    let mut seen: HashSet<(usize, Callee)> = HashSet::new();
    for _ in 0..=MAX_HOPS {
        frontier.retain(|c| seen.insert(c.clone()));
        if frontier.is_empty() {
            break;
        }
        let mut wanted: Vec<usize> = frontier
            .iter()
            .filter_map(|(unit, callee)| resolver.lookup(*unit, callee))
            .filter(|(u, qualname, _)| match resolver.partial.get(u) {
                Some(of) => !of.contains(qualname),
                None => !resolver.summaries.contains_key(u),
            })
            .map(|(u, _, _)| u)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        resolver.summarise(&wanted);
        let mut next = Vec::new();
        for (unit, callee) in &frontier {
            if let Some((target, qualname, _)) = resolver.lookup(*unit, callee) {
                if let Some(summary) = resolver.summaries.get(&target).and_then(|s| s.get(&qualname)) {
                    next.extend(summary.calls.iter().map(|(c, _, _)| (target, c.clone())));
                }
            }
        }
        frontier = next;
    }
    let mut findings = Vec::new();
    for (unit, calls) in &calls {
        for call in calls {
            if let Some(finding) = resolver.finding(*unit, call) {
                findings.push((*unit, finding));
            }
        }
    }
    findings
}

impl Resolver<'_> {
    /// A relative name (`.db.find`, `..util.f`) made absolute from `unit`'s package.
    fn absolute(&self, unit: usize, name: &str) -> String {
        let dots = name.bytes().take_while(|b| *b == b'.').count();
        if dots == 0 {
            return name.to_string();
        }
        let unit = &self.units[unit];
        let is_package = unit.display.ends_with("__init__.py");
        let mut package: Vec<&str> = unit.module.split('.').filter(|s| !s.is_empty()).collect();
        if !is_package {
            package.pop();
        }
        for _ in 1..dots {
            package.pop();
        }
        let rest = &name[dots..];
        if package.is_empty() {
            rest.to_string()
        } else if rest.is_empty() {
            package.join(".")
        } else {
            format!("{}.{rest}", package.join("."))
        }
    }

    /// The function `callee` names from `unit`: its unit, qualified name, and whether the call
    /// binds its first parameter (a constructor call binds `self` of `__init__`).
    fn lookup(&self, unit: usize, callee: &Callee) -> Option<(usize, String, bool)> {
        let has = |u: usize, q: &str| self.units[u].defined.contains(q);
        let find = |u: usize, q: &str| -> Option<(usize, String, bool)> {
            if has(u, q) {
                return Some((u, q.to_string(), false));
            }
            let init = format!("{q}.__init__");
            has(u, &init).then_some((u, init, true))
        };
        match callee {
            Callee::Method { class, method } => {
                let q = format!("{class}.{method}");
                has(unit, &q).then_some((unit, q, false))
            }
            Callee::Local(name) => find(unit, name),
            Callee::Name(name) => {
                let absolute = self.absolute(unit, name);
                let parts: Vec<&str> = absolute.split('.').collect();
                // The longest module first: `a.b.c` is function `c` of `a.b` before it is `b.c`
                // of `a`; a leading package the tree does not name (the project's own name,
                // above the checked directory) may be dropped. What follows the module is a
                // function or `Class.method` (what `defined_names` holds), and the module is no
                // longer than the tree's deepest: a hostile `a.a.a…` of thousands of parts costs
                // a few lookups, not a cube of its length.
                let n = parts.len();
                let deepest = self.deepest_module;
                let spans = (n.saturating_sub(2 + deepest)..n).flat_map(move |drop| {
                    (drop + 1..n)
                        .rev()
                        .filter(move |split| n - split <= 2 && split - drop <= deepest)
                        .map(move |split| (drop, split))
                });
                for (drop, split) in spans {
                    let Some(units) = self.by_suffix.get(&parts[drop..split].join(".")) else {
                        continue;
                    };
                    let function = parts[split..].join(".");
                    // Ambiguous suffixes (two `utils` modules) resolve to the shortest module
                    // name, the likeliest import root; ties to the first in path order.
                    let mut candidates: Vec<usize> = units.clone();
                    candidates.sort_by_key(|u| (self.units[*u].module.len(), *u));
                    if let Some(found) = candidates.into_iter().find_map(|u| find(u, &function)) {
                        return Some(found);
                    }
                }
                None
            }
        }
    }

    /// Summarises every function of each unit (in parallel); a unit that cannot be read or
    /// checked has none.
    fn summarise(&mut self, wanted: &[usize]) {
        use rayon::prelude::*;
        let settings = self.settings;
        let units = self.units;
        let done: Vec<(usize, HashMap<String, Summary>)> = wanted
            .par_iter()
            .map(|&u| {
                let unit = &units[u];
                let source = match &unit.origin {
                    Origin::Text(text) => Some(std::borrow::Cow::Borrowed(text.as_str())),
                    Origin::Disk(path) => crate::read_source(path).ok().map(std::borrow::Cow::Owned),
                };
                let summaries = source
                    .map(|s| crate::with_parser_room(|| crate::checker::summarise(&unit.display, &s, settings)))
                    .unwrap_or_default();
                (u, summaries.into_iter().map(|s| (s.qualname.clone(), s)).collect())
            })
            .collect();
        for (u, _) in &done {
            self.partial.remove(u);
        }
        self.summaries.extend(done);
    }

    /// Every sink parameter `bit` of `function` reaches, through the functions it calls.
    fn reach(&mut self, function: &FunctionId, bit: u32, hops: usize) -> std::rc::Rc<Vec<Reached>> {
        let key = (function.clone(), bit);
        if let Some(done) = self.memo.get(&key) {
            return done.clone();
        }
        if hops >= MAX_HOPS || !self.active.insert(key.clone()) {
            return std::rc::Rc::new(Vec::new());
        }
        let mut out = Vec::new();
        let Some(summary) = self
            .summaries
            .get(&function.0)
            .and_then(|s| s.get(&function.1))
            .cloned()
        else {
            self.active.remove(&key);
            return std::rc::Rc::new(out);
        };
        let display = self.units[function.0].display.clone();
        let here = format!("`{}` ({display}:{})", summary.qualname, summary.line);
        for hit in &summary.hits {
            if hit.params & (1 << bit) != 0 {
                out.push(Reached {
                    kind: hit.kind,
                    rule: hit.rule,
                    what: hit.what.clone(),
                    display: display.clone(),
                    line: hit.line,
                    via: vec![here.clone()],
                });
            }
        }
        for (callee, bound, args) in &summary.calls {
            let Some((unit, qualname, binds)) = self.lookup(function.0, callee) else {
                continue;
            };
            let Some(target) = self.summaries.get(&unit).and_then(|s| s.get(&qualname)) else {
                continue;
            };
            let mut targets = Vec::new();
            for arg in args.iter().filter(|a| a.params & (1 << bit) != 0) {
                let Some(j) = target.param_index(&arg.slot, *bound || binds) else {
                    continue;
                };
                if j >= MAX_PARAMS {
                    continue;
                }
                // A request object passed on stays one; data read from it is data.
                let as_request = bit >= 16 && arg.whole_param == Some(bit as usize - 16);
                targets.push((if as_request { 16 + j as u32 } else { j as u32 }, arg.kinds));
            }
            for (target_bit, kinds) in targets {
                let reached = self.reach(&(unit, qualname.clone()), target_bit, hops + 1);
                for r in reached.iter().filter(|r| r.kind & kinds != 0) {
                    let mut r = r.clone();
                    r.via.insert(0, here.clone());
                    out.push(r);
                }
            }
        }
        self.active.remove(&key);
        let out = std::rc::Rc::new(out);
        self.memo.insert(key, out.clone());
        out
    }

    fn finding(&mut self, unit: usize, call: &CallOut) -> Option<Finding> {
        let (target, qualname, binds) = self.lookup(unit, &call.callee)?;
        let summary = self.summaries.get(&target)?.get(&qualname)?.clone();
        for arg in &call.args {
            let Some(j) = summary.param_index(&arg.slot, call.bound || binds) else {
                continue;
            };
            if j >= MAX_PARAMS {
                continue;
            }
            let bit = if arg.request_object { 16 + j as u32 } else { j as u32 };
            let reached = self.reach(&(target, qualname.clone()), bit, 0);
            let Some(r) = reached
                .iter()
                .find(|r| r.kind & arg.kinds != 0 && self.settings.is_enabled(r.rule))
            else {
                continue;
            };
            let path = &self.units[unit].display;
            if self.settings.ignored_in_file(path, r.rule) {
                return None;
            }
            let through = if r.via.len() > 1 {
                format!(" through {}", r.via[1..].join(" → "))
            } else {
                String::new()
            };
            let message = format!(
                "{} (line {}) is passed to {} as `{}`{through}, and reaches {} there ({}:{})",
                arg.source, arg.source_line, r.via[0], summary.params[j], r.what, r.display, r.line
            );
            let meta = r.rule.meta();
            let mut finding = Finding {
                path: path.clone(),
                line: call.line,
                column: call.column,
                end_line: call.end_line,
                end_column: call.end_column,
                rule: r.rule,
                severity: Level::High,
                confidence: if arg.local { Level::Low } else { meta.confidence },
                message,
                line_text: call.line_text.clone(),
                suppression: None,
                baselined: false,
            };
            if self.settings.honour_suppressions {
                crate::suppress::apply_markers(&mut finding, &call.markers, self.settings);
            }
            return Some(finding);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::module_name;

    #[test]
    fn module_names() {
        assert_eq!(module_name("app/db.py"), "app.db");
        assert_eq!(module_name("./app/__init__.py"), "app");
        assert_eq!(module_name("/srv/x/app/views.py"), "srv.x.app.views");
        assert_eq!(module_name("t.py"), "t");
        assert_eq!(module_name("/tmp/.tmpX1/v1.2/app.py"), "tmp._tmpX1.v1_2.app");
    }
}
