//! Intra-function taint tracking: data from a request, argv, the environment or input() that
//! reaches a sink (SQL, shell, path, redirect, outgoing URL, eval, deserialisation, templates)
//! without passing a sanitiser.
//!
//! One linear pass over a body, in statement order, with a small map from local name (or
//! `name.attr`) to where its taint came from. Branches are analysed on copies of the map and
//! joined; a branch that ends in return/raise/abort/continue/break does not flow on, which is what
//! makes `if x not in ALLOWED: abort(400)` a sanitiser. A loop body is walked a second time only
//! if the first walk tainted something new. Nested functions, classes and lambdas are not entered:
//! the checker calls [`check_body`] for each function body on its own. An unknown function given
//! tainted data returns tainted data; when it may be a function of the checked tree, the call is
//! recorded, and [`interproc`] follows the data into it (and the functions it calls, in this
//! module or others) once every file has had its own pass.
//!
//! Request data is reported at the rule's confidence; argv/environment/input() data only reaches
//! command, SQL, code, deserialisation and template sinks, at low confidence (a command-line tool
//! opening the file it was given is its job).

pub mod interproc;
mod model;

use crate::checker::Checker;
use crate::registry::RuleId;
use crate::rules::util;
use crate::Level;
use interproc::{ArgFlow, CallOut, Callee, EdgeArg, Hit, Slot, Summary, MAX_PARAMS};
use model::*;
use ruff_python_ast::{
    self as ast, BoolOp, CmpOp, Expr, ExprCall, InterpolatedStringElement, Operator, Pattern, Stmt, StmtFunctionDef,
    UnaryOp,
};
use ruff_text_size::{Ranged, TextSize};

/// Expressions and statements nested deeper than this are not analysed (the checker reports such
/// files itself); the bound keeps the recursion's stack use bounded.
const MAX_DEPTH: u32 = 800;
/// Loops nested deeper than this get a single walk of their body.
const MAX_LOOP_REWALK: u32 = 2;
/// Earlier `elif` tests whose failure is applied to a later branch.
const MAX_ELIF_REFINE: usize = 32;
/// Walks of a loop body while it keeps tainting new places (a chain of assignments carried
/// around the loop needs one walk per link).
const MAX_LOOP_PASSES: usize = 3;

/// Names whose meaning as a module or framework global a local binding hides.
fn is_watched_name(name: &str) -> bool {
    matches!(
        name,
        "request" | "os" | "sys" | "flask" | "quart" | "bottle" | "input" | "getenv" | "environ" | "argv"
    )
}

/// The rules this pass reports (the checker skips the pass when none is enabled).
pub const RULES: &[RuleId] = &[
    RuleId::TaintedSql,
    RuleId::TaintedCommand,
    RuleId::TaintedPath,
    RuleId::OpenRedirect,
    RuleId::TaintedUrl,
    RuleId::TaintedCode,
    RuleId::TaintedDeserialization,
    RuleId::TaintedTemplate,
    RuleId::ZipSlip,
    RuleId::TaintedXpath,
];

/// Which bodies of a file can hold a source at all, read from its tokens once: a body none of
/// whose tokens names a source cannot report anything (every report names a source), so the
/// pass is skipped there. Exact, not a guess, because of what the engine reads a source from:
/// - sys.argv, os.environ, os.getenv(), input(), archive member lists and handler accessors
///   are recognised by the identifier as written (`argv`, `environ`, `getenv`, `input`,
///   `namelist`, `get_argument`, ...), which is then a token of the body;
/// - route parameters by the function's decorator, and GraphQL arguments by the resolver's name
///   and decorator, which [`Gate::may_taint`] reads itself;
/// - `http.server` handlers by their base class's name (every body of such a file is analysed);
/// - request objects also through aliases (`from flask import request as rq`) and imported
///   annotation types, so a file with any request-ish token anywhere (`request`, `Request`,
///   `WebSocket`, ...) has every body analysed;
/// - a non-ASCII file may spell an identifier in another Unicode form (NFKC), which the
///   parser normalises: every body of such a file is analysed.
pub struct Gate {
    everywhere: bool,
    /// Start offsets of source-naming tokens, in order.
    at: Vec<TextSize>,
}

impl Gate {
    /// A gate that lets every body through.
    pub fn open() -> Gate {
        Gate {
            everywhere: true,
            at: Vec::new(),
        }
    }

    pub fn of(source: &str, tokens: &ruff_python_ast::token::Tokens) -> Gate {
        let mut gate = Gate {
            everywhere: !source.is_ascii(),
            at: Vec::new(),
        };
        if gate.everywhere {
            return gate;
        }
        let bytes = source.as_bytes();
        for token in tokens.iter() {
            if token.kind() != ruff_python_ast::token::TokenKind::Name {
                continue;
            }
            let range = token.range();
            let name = bytes.get(range.to_std_range()).unwrap_or(b"");
            match name {
                b"request" | b"Request" | b"HttpRequest" | b"WSGIRequest" | b"ASGIRequest" | b"BaseRequest"
                | b"WebSocket" => {
                    gate.everywhere = true;
                    return gate;
                }
                b"argv" | b"orig_argv" | b"environ" | b"environb" | b"getenv" | b"getenvb" | b"input"
                | b"raw_input" | b"namelist" | b"infolist" | b"getnames" | b"getmembers" => gate.at.push(range.start()),
                _ => match std::str::from_utf8(name) {
                    // A request handler of the standard library: `self.path` is a source.
                    Ok(name) if model::is_stdlib_handler_base(name) => {
                        gate.everywhere = true;
                        return gate;
                    }
                    Ok(name) if model::is_handler_accessor(name) => gate.at.push(range.start()),
                    _ => {}
                },
            }
        }
        gate
    }

    /// Whether the pass can report anything in this body (the module's when `function` is None).
    pub fn may_taint(&self, function: Option<&StmtFunctionDef>) -> bool {
        if self.everywhere {
            return true;
        }
        let Some(function) = function else {
            return !self.at.is_empty();
        };
        if function
            .decorator_list
            .iter()
            .any(|d| route_of(&d.expression).is_some())
            || is_graphql_resolver(function)
        {
            return true;
        }
        let range = function.range();
        let first = self.at.partition_point(|at| *at < range.start());
        self.at.get(first).is_some_and(|at| *at < range.end())
    }
}

/// Checks one body (a function's, or the module's top level when `function` is None).
pub fn check_body<'a>(checker: &mut Checker<'a>, body: &'a [Stmt], function: Option<&'a StmtFunctionDef>) {
    let enabled = enabled_kinds(checker);
    if enabled == 0 {
        return;
    }
    let class = function.and_then(|_| enclosing_class(checker));
    let mut engine = Engine::new(checker, enabled, class.map(|c| c.name.as_str()));
    engine.stdlib_handler = class.is_some_and(is_stdlib_handler);
    if let Some(function) = function {
        engine.seed(function);
    }
    engine.block(body);
}

/// The class a function being walked is a method of (the function is the innermost statement).
pub fn enclosing_class<'a>(checker: &Checker<'a>) -> Option<&'a ast::StmtClassDef> {
    let outer = checker.stmts.len().checked_sub(1)?;
    for stmt in checker.stmts[..outer].iter().rev() {
        match stmt {
            Stmt::ClassDef(c) => return Some(c),
            Stmt::FunctionDef(_) => return None,
            _ => {}
        }
    }
    None
}

/// Whether a class derives (by name) from an `http.server`/`socketserver` request handler.
pub fn is_stdlib_handler(class: &ast::StmtClassDef) -> bool {
    class
        .bases()
        .iter()
        .any(|b| last_name(b).is_some_and(is_stdlib_handler_base))
}

/// Summarises a module-level function (`class` None) or a method for the calls of other bodies
/// (see [`interproc`]): which parameters reach which sinks, and which calls of other functions.
pub fn summarise<'a>(checker: &mut Checker<'a>, function: &'a StmtFunctionDef, class: Option<&'a str>) -> Summary {
    let params = &*function.parameters;
    let names: Vec<&'a str> = params
        .posonlyargs
        .iter()
        .chain(params.args.iter())
        .chain(params.kwonlyargs.iter())
        .map(|p| p.parameter.name.as_str())
        .collect();
    let positional = params.posonlyargs.len() + params.args.len();
    let is_static = function
        .decorator_list
        .iter()
        .any(|d| matches!(&d.expression, Expr::Name(n) if n.id.as_str() == "staticmethod"));
    let bound = class.is_some() && !is_static;
    let enabled = enabled_kinds(checker);
    let mut engine = Engine::new(checker, enabled, class);
    engine.seed(function);
    engine.sources.push(Source {
        label: "a parameter".to_string(),
        at: function.range().start(),
    });
    let src = (engine.sources.len() - 1).min(u16::MAX as usize) as u16;
    for (i, name) in names.iter().enumerate().take(MAX_PARAMS) {
        if i == 0 && bound {
            continue;
        }
        engine.set(
            Key::Name(name),
            Some(Taint {
                src,
                kinds: REQUEST_KINDS & enabled,
                flags: WHOLE,
                params: 1 << i,
            }),
        );
    }
    engine.summary = Some(Acc {
        params: names.clone(),
        hits: Vec::new(),
        calls: Vec::new(),
    });
    if enabled != 0 {
        engine.block(&function.body);
    }
    let acc = engine.summary.take().unwrap_or(Acc {
        params: Vec::new(),
        hits: Vec::new(),
        calls: Vec::new(),
    });
    let line = engine.checker.index().line(function.range().start());
    Summary {
        qualname: match class {
            Some(class) => format!("{class}.{}", function.name.as_str()),
            None => function.name.to_string(),
        },
        line,
        params: names.iter().map(|n| n.to_string()).collect(),
        positional,
        hits: acc.hits,
        calls: acc.calls,
    }
}

impl<'c, 'a> Engine<'c, 'a> {
    fn new(checker: &'c mut Checker<'a>, enabled: u16, class: Option<&'a str>) -> Engine<'c, 'a> {
        Engine {
            checker,
            enabled,
            vars: Vars::default(),
            attr_bases: Vec::new(),
            sources: Vec::new(),
            request_objs: Vec::new(),
            http_clients: Vec::new(),
            imports: Vec::new(),
            shadowed: Vec::new(),
            parsed_urls: Vec::new(),
            reported: Vec::new(),
            last_reported_kind: 0,
            depth: 0,
            loops: 0,
            class,
            stdlib_handler: false,
            instances: Vec::new(),
            summary: None,
            code_files: Vec::new(),
        }
    }
}

fn enabled_kinds(checker: &Checker) -> u16 {
    let mut kinds = 0;
    for (rule, kind) in [
        (RuleId::TaintedSql, SQL),
        (RuleId::TaintedCommand, CMD),
        (RuleId::TaintedPath, PATH),
        (RuleId::OpenRedirect, REDIRECT),
        (RuleId::TaintedUrl, URL),
        (RuleId::TaintedCode, CODE),
        (RuleId::TaintedDeserialization, DESER),
        (RuleId::TaintedTemplate, TEMPLATE),
        (RuleId::ZipSlip, ARCHIVE | TAR_MEMBER),
        (RuleId::TaintedXpath, XPATH),
    ] {
        if checker.enabled(rule) {
            kinds |= kind;
        }
    }
    kinds
}

fn rule_for(kind: u16) -> RuleId {
    match kind {
        SQL => RuleId::TaintedSql,
        CMD => RuleId::TaintedCommand,
        PATH => RuleId::TaintedPath,
        REDIRECT => RuleId::OpenRedirect,
        URL => RuleId::TaintedUrl,
        CODE => RuleId::TaintedCode,
        DESER => RuleId::TaintedDeserialization,
        TEMPLATE => RuleId::TaintedTemplate,
        XPATH => RuleId::TaintedXpath,
        _ => RuleId::ZipSlip,
    }
}

fn kind_of(rule: RuleId) -> u16 {
    match rule {
        RuleId::TaintedSql => SQL,
        RuleId::TaintedCommand => CMD,
        RuleId::TaintedPath => PATH,
        RuleId::OpenRedirect => REDIRECT,
        RuleId::TaintedUrl => URL,
        RuleId::TaintedCode => CODE,
        RuleId::TaintedDeserialization => DESER,
        RuleId::TaintedTemplate => TEMPLATE,
        RuleId::TaintedXpath => XPATH,
        _ => ARCHIVE | TAR_MEMBER,
    }
}

/// A tracked place: a local name, or one attribute of a local name (`self.path`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Key<'a> {
    Name(&'a str),
    Attr(&'a str, &'a str),
}

fn key_of(expr: &Expr) -> Option<Key<'_>> {
    match expr {
        Expr::Name(n) => Some(Key::Name(n.id.as_str())),
        Expr::Attribute(a) => match &*a.value {
            Expr::Name(base) => Some(Key::Attr(base.id.as_str(), a.attr.as_str())),
            _ => None,
        },
        _ => None,
    }
}

const WHOLE: u8 = 1;
const NORMALISED: u8 = 2;
const LOCAL: u8 = 4;
const PATH_OBJECT: u8 = 8;

/// Where a value's taint came from and what it is still dangerous for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Taint {
    /// Index into `Engine::sources`.
    src: u16,
    /// Sink kinds the value is still dangerous for.
    kinds: u16,
    /// WHOLE: the value itself is tainted (not only some element of a container);
    /// NORMALISED: a resolved path; LOCAL: argv/environment/input(); PATH_OBJECT: a pathlib path.
    flags: u8,
    /// When summarising a function: which of its parameters the value comes from (bit i: as
    /// data; bit 16 + i: read from it as a request object). Zero otherwise.
    params: u32,
}

impl Taint {
    fn whole(self) -> bool {
        self.flags & WHOLE != 0
    }
    fn with(mut self, flag: u8) -> Taint {
        self.flags |= flag;
        self
    }
    fn without(mut self, flag: u8) -> Taint {
        self.flags &= !flag;
        self
    }
}

fn whole(t: Option<Taint>) -> Option<Taint> {
    t.map(|t| t.with(WHOLE))
}

fn merge(a: Option<Taint>, b: Option<Taint>) -> Option<Taint> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => {
            // Name the more serious source: request data over argv/environment.
            let src = if a.flags & LOCAL != 0 && b.flags & LOCAL == 0 {
                b.src
            } else {
                a.src
            };
            let shared = a.flags & b.flags & (NORMALISED | LOCAL | PATH_OBJECT);
            Some(Taint {
                src,
                kinds: a.kinds | b.kinds,
                flags: ((a.flags | b.flags) & WHOLE) | shared,
                params: a.params | b.params,
            })
        }
    }
}

fn join<'a>(into: &mut Vars<'a>, from: &Vars<'a>) {
    for (key, taint) in from {
        into.entry(*key)
            .and_modify(|t| *t = merge(Some(*t), Some(*taint)).unwrap_or(*taint))
            .or_insert(*taint);
    }
}

/// Tracked places and their taint (only tainted places are present).
type Vars<'a> = std::collections::HashMap<Key<'a>, Taint, crate::names::FxBuild>;

struct Source {
    label: String,
    at: TextSize,
}

enum Resolved<'s> {
    /// Imported as this dotted name.
    Imported(&'s str),
    /// A local binding hides any import or builtin of that name.
    Local,
    /// Neither imported nor bound here: a builtin, or a name as written.
    Unbound,
}

/// Taints of a call's arguments, kept so sinks need not evaluate them again.
struct ArgTaints {
    positional: [Option<Taint>; 4],
    keywords: [Option<Taint>; 8],
    /// Position of the first `*args`: positions after it are unknown.
    starred_at: usize,
}

struct Engine<'c, 'a> {
    checker: &'c mut Checker<'a>,
    /// Sink kinds whose rules are enabled.
    enabled: u16,
    vars: Vars<'a>,
    /// Names with tracked attributes (`self` after `self.path = ...`).
    attr_bases: Vec<&'a str>,
    sources: Vec<Source>,
    /// Local names bound to a request object: (name, typed). Typed: annotated as a request or
    /// the framework's global; untyped: Django's `request` parameter, known only by name.
    request_objs: Vec<(&'a str, bool)>,
    /// Local names bound to an HTTP client (`s = requests.Session()`).
    http_clients: Vec<Key<'a>>,
    /// Imports made in this body (the module's own imports are not yet in the checker's
    /// bindings when the module body is analysed, nor a function's local imports).
    imports: Vec<(&'a str, String)>,
    /// Watched names (see `is_watched_name`) rebound locally.
    shadowed: Vec<&'a str>,
    /// `parsed = urlparse(url)`: (parsed, url).
    parsed_urls: Vec<(&'a str, &'a str)>,
    /// Sinks already reported (by the call's start).
    reported: Vec<TextSize>,
    /// The sink kind of the last report.
    last_reported_kind: u16,
    depth: u32,
    loops: u32,
    /// The class whose method this body is (for `self.m(...)` calls).
    class: Option<&'a str>,
    /// The class is an `http.server`/`socketserver` request handler: `self.path`, `self.headers`,
    /// `self.rfile` are the client's.
    stdlib_handler: bool,
    /// Local names bound to what a call of a possible class of the tree made (`repo =
    /// Repo(cur)`), for `repo.search(...)`.
    instances: Vec<(&'a str, Callee)>,
    /// Set when summarising a function for other bodies' calls instead of reporting.
    summary: Option<Acc<'a>>,
    /// `with open("plugin.py", "w") as f`: names of files opened for writing whose contents
    /// are later imported (STK806) or rendered as a template (STK808).
    code_files: Vec<(&'a str, RuleId)>,
}

/// What a summarised function does with its parameters, as it is walked.
struct Acc<'a> {
    /// Parameter names by index (positional first, `self` included, then keyword-only).
    params: Vec<&'a str>,
    hits: Vec<Hit>,
    calls: Vec<(Callee, bool, Vec<EdgeArg>)>,
}

impl Acc<'_> {
    fn index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| *p == name).filter(|i| *i < MAX_PARAMS)
    }
}

impl<'a> Engine<'_, 'a> {
    // ---- the map -------------------------------------------------------------------------

    fn get(&self, key: Key<'a>) -> Option<Taint> {
        self.vars.get(&key).copied()
    }

    fn set(&mut self, key: Key<'a>, taint: Option<Taint>) {
        match taint {
            Some(t) => {
                if self.vars.insert(key, t).is_none() {
                    if let Key::Attr(base, _) = key {
                        if !self.attr_bases.contains(&base) {
                            self.attr_bases.push(base);
                        }
                    }
                }
            }
            None => {
                self.vars.remove(&key);
            }
        }
    }

    /// Removes the kinds in `mask` from a place's taint.
    fn clean(&mut self, key: Key<'a>, mask: u16) {
        if let Some(t) = self.vars.get_mut(&key) {
            t.kinds &= !mask;
            if t.kinds & self.enabled == 0 {
                self.vars.remove(&key);
            }
        }
    }

    fn clean_expr(&mut self, expr: &'a Expr, mask: u16) {
        if let Some(key) = key_of(strip_wrappers(expr)) {
            self.clean(key, mask);
        }
    }

    /// Marks a container as holding tainted data (`args.append(x)`, `d["k"] = x`).
    fn taint_container(&mut self, key: Key<'a>, t: Taint) {
        let old = self.get(key);
        let element = t.without(WHOLE | PATH_OBJECT | NORMALISED);
        let new = match old {
            Some(old) => merge(Some(old), Some(element)),
            None => Some(element),
        };
        self.set(key, new);
    }

    fn new_source(
        &mut self,
        at: TextSize,
        kinds: u16,
        local: bool,
        label: impl FnOnce(&Self) -> String,
    ) -> Option<Taint> {
        let kinds = kinds & self.enabled;
        if kinds == 0 {
            return None;
        }
        let src = match self.sources.iter().position(|s| s.at == at) {
            Some(i) => i,
            None => {
                let label = label(self);
                self.sources.push(Source { label, at });
                self.sources.len() - 1
            }
        };
        Some(Taint {
            src: src.min(u16::MAX as usize) as u16,
            kinds,
            flags: WHOLE | if local { LOCAL } else { 0 },
            params: 0,
        })
    }

    // ---- names ---------------------------------------------------------------------------

    fn resolve(&self, name: &str) -> Resolved<'_> {
        if self.shadowed.contains(&name) {
            return Resolved::Local;
        }
        if let Some((_, q)) = self.imports.iter().rev().find(|(local, _)| *local == name) {
            return Resolved::Imported(q);
        }
        match self.checker.bindings.resolve(name) {
            Some(q) => Resolved::Imported(q),
            None => Resolved::Unbound,
        }
    }

    /// Whether `name` refers to module `module` (imported as such, or unbound and spelled so).
    fn is_module(&self, expr: &Expr, module: &str) -> bool {
        let Expr::Name(n) = expr else { return false };
        let id = n.id.as_str();
        match self.resolve(id) {
            Resolved::Imported(q) => q == module,
            Resolved::Unbound => id == module,
            Resolved::Local => false,
        }
    }

    /// The callee's dotted name with imports resolved (as `Checker::qualified_name`, but aware
    /// of this body's imports and local rebindings).
    fn qualified(&self, expr: &Expr) -> Option<String> {
        crate::names::dotted_name(expr, |head| match self.resolve(head) {
            Resolved::Imported(q) => Some(q),
            _ => None,
        })
    }

    /// Whether `expr` is `Argv(...)`, or a chain of calls of its methods on one.
    fn is_argv_chain(&self, mut expr: &Expr) -> bool {
        for _ in 0..64 {
            let Expr::Call(call) = expr else { return false };
            if self.qualified(&call.func).is_some_and(|n| is_argv(&n)) {
                return true;
            }
            let Expr::Attribute(a) = &*call.func else { return false };
            expr = &a.value;
        }
        false
    }

    /// Whether `expr` is a request object: Some(true) for a framework global or a parameter
    /// annotated as one, Some(false) for one known by name only (`request`, `self.request`).
    fn request_obj(&self, expr: &Expr) -> Option<bool> {
        match expr {
            Expr::Name(n) => {
                let id = n.id.as_str();
                if let Some((_, typed)) = self.request_objs.iter().find(|(r, _)| *r == id) {
                    return Some(*typed);
                }
                (id != "self" && matches!(self.resolve(id), Resolved::Imported(q) if is_request_global(q)))
                    .then_some(true)
            }
            Expr::Attribute(a) if a.attr.as_str() == "request" => match &*a.value {
                Expr::Name(n) if n.id.as_str() == "self" => Some(false),
                Expr::Name(n) => {
                    matches!(self.resolve(n.id.as_str()), Resolved::Imported(q) if is_request_module(q)).then_some(true)
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn is_request_data(&self, receiver: &Expr, attr: &str) -> bool {
        match self.request_obj(receiver) {
            Some(true) => is_request_attr(attr),
            Some(false) => is_handler_request_attr(attr),
            None => false,
        }
    }

    fn bind_name(&mut self, id: &'a str, taint: Option<Taint>, value: Option<&'a Expr>) {
        self.set(Key::Name(id), taint);
        if let Some(i) = self.attr_bases.iter().position(|b| *b == id) {
            self.attr_bases.swap_remove(i);
            self.vars.retain(|k, _| !matches!(k, Key::Attr(base, _) if *base == id));
        }
        if let Some(i) = self.request_objs.iter().position(|(r, _)| *r == id) {
            self.request_objs.swap_remove(i);
        }
        if is_watched_name(id) && !self.shadowed.contains(&id) {
            self.shadowed.push(id);
        }
        if let Some(i) = self.http_clients.iter().position(|k| *k == Key::Name(id)) {
            self.http_clients.swap_remove(i);
        }
        if let Some(i) = self.parsed_urls.iter().position(|(p, _)| *p == id) {
            self.parsed_urls.swap_remove(i);
        }
        if let Some(i) = self.instances.iter().position(|(n, _)| *n == id) {
            self.instances.swap_remove(i);
        }
        if let Some(Expr::Call(call)) = value {
            self.note_constructed(Key::Name(id), call);
            if let Some((class @ (Callee::Name(_) | Callee::Local(_)), false)) = self.callee(&call.func) {
                self.instances.push((id, class));
            }
        }
    }

    /// Remembers names bound to HTTP clients and parsed URLs.
    fn note_constructed(&mut self, key: Key<'a>, call: &'a ExprCall) {
        let Some(last) = last_name(&call.func) else { return };
        if may_be_http_client_ctor(last) {
            if self.qualified(&call.func).is_some_and(|q| is_http_client_ctor(&q)) {
                self.http_clients.push(key);
            }
        } else if matches!(last, "urlparse" | "urlsplit") {
            if let (Key::Name(parsed), Some(Expr::Name(url))) = (key, call.arguments.args.first()) {
                self.parsed_urls.push((parsed, url.id.as_str()));
            }
        }
    }

    // ---- parameters ----------------------------------------------------------------------

    fn seed(&mut self, function: &'a StmtFunctionDef) {
        let params = &*function.parameters;
        let mut positional = params.posonlyargs.iter().chain(params.args.iter());
        let first = positional.next().map(|p| p.parameter.name.as_str());
        let second = positional.next().map(|p| p.parameter.name.as_str());
        if first == Some("request") || (matches!(first, Some("self" | "cls")) && second == Some("request")) {
            self.request_objs.push(("request", false));
        }
        let all = params
            .posonlyargs
            .iter()
            .chain(params.args.iter())
            .chain(params.kwonlyargs.iter())
            .map(|p| (&p.parameter, p.default.as_deref()))
            .chain(params.vararg.as_deref().map(|p| (p, None)))
            .chain(params.kwarg.as_deref().map(|p| (p, None)));
        let route = function.decorator_list.iter().find_map(|d| route_of(&d.expression));
        let graphql = route.is_none() && is_graphql_resolver(function);
        let takes_info = params
            .posonlyargs
            .iter()
            .chain(params.args.iter())
            .any(|p| p.parameter.name.as_str() == "info");
        let positional = params.posonlyargs.len() + params.args.len();
        let mut past_info = false;
        for (index, (param, default)) in all.enumerate() {
            let name = param.name.as_str();
            let annotation = param.annotation.as_deref();
            if annotation
                .and_then(|a| self.qualified(a))
                .is_some_and(|q| is_request_type(&q))
            {
                self.request_objs.retain(|(r, _)| *r != name);
                self.request_objs.push((name, true));
            }
            if is_watched_name(name) && name != "request" && !self.shadowed.contains(&name) {
                self.shadowed.push(name);
            }
            if graphql {
                // The root value and `info` come from the server; what follows, from the query.
                let is_info = name == "info";
                past_info |= is_info;
                let server_side = is_info
                    || (takes_info && index < positional && !past_info)
                    || (index == 0 && matches!(name, "self" | "cls" | "root" | "parent" | "obj" | "_"));
                if !server_side && !annotation.is_some_and(is_clean_type) {
                    let taint = self.new_source(param.range.start(), REQUEST_KINDS, false, |_| {
                        format!("GraphQL argument `{name}`")
                    });
                    self.set(Key::Name(name), taint);
                }
                continue;
            }
            let Some(route) = route else { continue };
            if (index == 0 && matches!(name, "self" | "cls"))
                || self.request_objs.iter().any(|(r, _)| *r == name)
                || default.is_some_and(is_dependency)
                || annotation.is_some_and(is_clean_type)
                || typed_in_route(route, name)
            {
                continue;
            }
            let taint = self.new_source(param.range.start(), REQUEST_KINDS, false, |_| {
                format!("route parameter `{name}`")
            });
            self.set(Key::Name(name), taint);
        }
        if route.is_some() && self.shadowed.contains(&"request") {
            // A route handler's `request` parameter is the framework's request object.
            self.shadowed.retain(|n| *n != "request");
        }
    }

    // ---- statements ----------------------------------------------------------------------

    /// Walks a block; returns whether it always ends in return/raise/continue/break/abort.
    fn block(&mut self, body: &'a [Stmt]) -> bool {
        for stmt in body {
            if self.stmt(stmt) {
                return true;
            }
        }
        false
    }

    fn stmt(&mut self, stmt: &'a Stmt) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        let terminates = if self.depth.is_multiple_of(32) {
            stacker::maybe_grow(256 * 1024, 2 << 20, || self.stmt_inner(stmt))
        } else {
            self.stmt_inner(stmt)
        };
        self.depth -= 1;
        terminates
    }

    fn stmt_inner(&mut self, stmt: &'a Stmt) -> bool {
        match stmt {
            Stmt::Expr(s) => {
                self.eval(&s.value);
                self.relative_to_guard(&s.value);
                matches!(&*s.value, Expr::Call(c) if is_terminating_call(c))
            }
            Stmt::Assign(s) => {
                self.assign(&s.targets, &s.value);
                self.relative_to_guard(&s.value);
                self.location_assignment(&s.targets, &s.value);
                false
            }
            Stmt::AnnAssign(s) => {
                if let Some(value) = &s.value {
                    let t = self.eval(value);
                    self.bind(&s.target, t, Some(value));
                }
                false
            }
            Stmt::AugAssign(s) => {
                let t = self.eval(&s.value);
                match &*s.target {
                    Expr::Subscript(sub) => {
                        self.eval(&sub.slice);
                        if let (Some(t), Some(key)) = (t, key_of(&sub.value)) {
                            self.taint_container(key, t);
                        }
                    }
                    target => {
                        if let Some(key) = key_of(target) {
                            let old = self.get(key);
                            let new = merge(old, t).map(|n| n.without(NORMALISED));
                            self.set(key, new);
                        }
                    }
                }
                false
            }
            Stmt::Return(s) => {
                if let Some(value) = &s.value {
                    self.eval(value);
                }
                true
            }
            Stmt::Raise(s) => {
                if let Some(exc) = &s.exc {
                    self.eval(exc);
                }
                true
            }
            Stmt::Continue(_) | Stmt::Break(_) => true,
            Stmt::If(s) => self.if_stmt(s),
            Stmt::For(s) => {
                let t = self.eval(&s.iter);
                let element = whole(t).map(|t| t.without(PATH_OBJECT | NORMALISED));
                self.loop_body(Some((&s.target, element)), None, &s.body);
                self.block(&s.orelse);
                false
            }
            Stmt::While(s) => {
                self.eval(&s.test);
                self.loop_body(None, Some(&s.test), &s.body);
                self.refine(&s.test, false);
                self.block(&s.orelse);
                false
            }
            Stmt::With(s) => {
                for item in &s.items {
                    let t = self.eval(&item.context_expr);
                    if let Some(var) = &item.optional_vars {
                        self.bind(var, t, Some(&item.context_expr));
                        if let Expr::Name(n) = &**var {
                            let id = n.id.as_str();
                            self.code_files.retain(|(v, _)| *v != id);
                            if let Some(rule) = self.code_file_opened(&item.context_expr) {
                                self.code_files.push((id, rule));
                            }
                        }
                    }
                }
                self.block(&s.body)
            }
            Stmt::Try(s) => self.try_stmt(s),
            Stmt::Match(s) => {
                let t = self.eval(&s.subject);
                let before = self.vars.clone();
                let mut out = before.clone();
                for case in &s.cases {
                    self.vars.clone_from(&before);
                    self.bind_pattern(&case.pattern, t);
                    if let Some(guard) = &case.guard {
                        self.eval(guard);
                        self.refine(guard, true);
                    }
                    if !self.block(&case.body) {
                        join(&mut out, &self.vars);
                    }
                }
                self.vars = out;
                false
            }
            Stmt::Assert(s) => {
                self.eval(&s.test);
                if let Some(msg) = &s.msg {
                    self.eval(msg);
                }
                false
            }
            Stmt::Delete(s) => {
                for target in &s.targets {
                    if let Some(key) = key_of(target) {
                        self.set(key, None);
                    }
                }
                false
            }
            Stmt::FunctionDef(f) => {
                // Not entered: the checker analyses it as its own body.
                self.bind_name(f.name.as_str(), None, None);
                false
            }
            Stmt::ClassDef(c) => {
                self.bind_name(c.name.as_str(), None, None);
                false
            }
            Stmt::Import(s) => {
                for alias in &s.names {
                    let name = alias.name.as_str();
                    let (local, qualified) = match &alias.asname {
                        Some(asname) => (asname.as_str(), name),
                        None => {
                            let head = name.split('.').next().unwrap_or(name);
                            (head, head)
                        }
                    };
                    self.note_import(local, qualified.to_string());
                }
                false
            }
            Stmt::ImportFrom(s) => {
                let module = ast::helpers::format_import_from(s.level, s.module.as_ref().map(|m| m.as_str()));
                for alias in &s.names {
                    let name = alias.name.as_str();
                    if name == "*" {
                        continue;
                    }
                    let local = alias.asname.as_ref().map_or(name, |a| a.as_str());
                    self.note_import(local, format!("{module}.{name}"));
                }
                false
            }
            Stmt::Global(_) | Stmt::Nonlocal(_) | Stmt::Pass(_) | Stmt::TypeAlias(_) | Stmt::IpyEscapeCommand(_) => {
                false
            }
        }
    }

    fn note_import(&mut self, local: &'a str, qualified: String) {
        self.set(Key::Name(local), None);
        self.shadowed.retain(|n| *n != local);
        self.request_objs.retain(|(n, _)| *n != local);
        self.imports.push((local, qualified));
    }

    fn assign(&mut self, targets: &'a [Expr], value: &'a Expr) {
        // `a, b = x, y`: pairwise (values first, as Python does).
        if let [Expr::Tuple(ast::ExprTuple { elts: names, .. }) | Expr::List(ast::ExprList { elts: names, .. })] =
            targets
        {
            if let Expr::Tuple(ast::ExprTuple { elts: values, .. }) | Expr::List(ast::ExprList { elts: values, .. }) =
                value
            {
                if names.len() == values.len()
                    && names.len() <= 8
                    && !names.iter().chain(values.iter()).any(|e| matches!(e, Expr::Starred(_)))
                {
                    let mut taints = [None; 8];
                    for (slot, v) in taints.iter_mut().zip(values.iter()) {
                        *slot = self.eval(v);
                    }
                    for ((target, v), t) in names.iter().zip(values.iter()).zip(taints) {
                        self.bind(target, t, Some(v));
                    }
                    return;
                }
            }
        }
        let t = self.eval(value);
        for target in targets {
            self.bind(target, t, Some(value));
        }
    }

    fn bind(&mut self, target: &'a Expr, taint: Option<Taint>, value: Option<&'a Expr>) {
        match target {
            Expr::Name(n) => self.bind_name(n.id.as_str(), taint, value),
            Expr::Attribute(a) => {
                if let Expr::Name(base) = &*a.value {
                    let key = Key::Attr(base.id.as_str(), a.attr.as_str());
                    self.set(key, taint);
                    if let Some(Expr::Call(call)) = value {
                        self.note_constructed(key, call);
                    }
                } else {
                    self.eval(&a.value);
                }
            }
            Expr::Subscript(s) => {
                self.eval(&s.slice);
                if let (Some(t), Some(key)) = (taint, key_of(&s.value)) {
                    self.taint_container(key, t);
                }
            }
            Expr::Tuple(t) => {
                for elt in &t.elts {
                    self.bind(elt, whole(taint), None);
                }
            }
            Expr::List(l) => {
                for elt in &l.elts {
                    self.bind(elt, whole(taint), None);
                }
            }
            Expr::Starred(s) => self.bind(&s.value, taint, None),
            _ => {}
        }
    }

    fn bind_pattern(&mut self, pattern: &'a Pattern, taint: Option<Taint>) {
        match pattern {
            Pattern::MatchAs(p) => {
                if let Some(inner) = &p.pattern {
                    self.bind_pattern(inner, taint);
                }
                if let Some(name) = &p.name {
                    self.bind_name(name.as_str(), taint, None);
                }
            }
            Pattern::MatchStar(p) => {
                if let Some(name) = &p.name {
                    self.bind_name(name.as_str(), taint, None);
                }
            }
            Pattern::MatchSequence(p) => {
                for inner in &p.patterns {
                    self.bind_pattern(inner, whole(taint));
                }
            }
            Pattern::MatchOr(p) => {
                for inner in &p.patterns {
                    self.bind_pattern(inner, taint);
                }
            }
            Pattern::MatchMapping(p) => {
                for inner in &p.patterns {
                    self.bind_pattern(inner, whole(taint));
                }
                if let Some(rest) = &p.rest {
                    self.bind_name(rest.as_str(), taint, None);
                }
            }
            Pattern::MatchClass(p) => {
                for inner in &p.arguments.patterns {
                    self.bind_pattern(inner, whole(taint));
                }
                for keyword in &p.arguments.keywords {
                    self.bind_pattern(&keyword.pattern, whole(taint));
                }
            }
            Pattern::MatchValue(_) | Pattern::MatchSingleton(_) => {}
        }
    }

    fn if_stmt(&mut self, s: &'a ast::StmtIf) -> bool {
        self.eval(&s.test);
        let before = self.vars.clone();
        let mut out: Option<Vars<'a>> = None;
        self.refine(&s.test, true);
        if !self.block(&s.body) {
            out = Some(std::mem::take(&mut self.vars));
        }
        let clauses = &s.elif_else_clauses;
        let mut has_else = false;
        for (i, clause) in clauses.iter().enumerate() {
            self.vars.clone_from(&before);
            self.refine(&s.test, false);
            // What the earlier tests' failing says (bounded: generated code has huge elif chains).
            for previous in clauses[..i].iter().rev().take(MAX_ELIF_REFINE) {
                if let Some(test) = &previous.test {
                    self.refine(test, false);
                }
            }
            match &clause.test {
                Some(test) => {
                    self.eval(test);
                    self.refine(test, true);
                }
                None => has_else = true,
            }
            if !self.block(&clause.body) {
                match &mut out {
                    Some(out) => join(out, &self.vars),
                    None => out = Some(std::mem::take(&mut self.vars)),
                }
            }
        }
        if !has_else {
            // The fall-through path: every test was false.
            self.vars = before;
            self.refine(&s.test, false);
            for clause in clauses.iter().rev().take(MAX_ELIF_REFINE) {
                if let Some(test) = &clause.test {
                    self.refine(test, false);
                }
            }
            match &mut out {
                Some(out) => join(out, &self.vars),
                None => out = Some(std::mem::take(&mut self.vars)),
            }
            self.vars = out.unwrap_or_default();
            return false;
        }
        match out {
            Some(out) => {
                self.vars = out;
                false
            }
            None => {
                self.vars = before;
                true
            }
        }
    }

    fn loop_body(&mut self, target: Option<(&'a Expr, Option<Taint>)>, test: Option<&'a Expr>, body: &'a [Stmt]) {
        let before = self.vars.clone();
        self.loops += 1;
        for pass in 0..MAX_LOOP_PASSES {
            if pass > 0 {
                // The loop head: reached from before the loop or from the end of the body.
                join(&mut self.vars, &before);
            }
            if let Some((target, element)) = target {
                self.bind(target, element, None);
            }
            if let Some(test) = test {
                self.refine(test, true);
            }
            let start = self.vars.clone();
            self.block(body);
            // Walk again only if the body tainted something its start did not have.
            let grew = self
                .vars
                .iter()
                .any(|(k, t)| start.get(k).is_none_or(|t2| t2.kinds | t.kinds != t2.kinds));
            if !grew || self.loops > MAX_LOOP_REWALK {
                break;
            }
        }
        self.loops -= 1;
        join(&mut self.vars, &before);
    }

    fn try_stmt(&mut self, s: &'a ast::StmtTry) -> bool {
        let before = self.vars.clone();
        let mut terminates = self.block(&s.body);
        if !terminates {
            terminates = self.block(&s.orelse);
        }
        let mut out = if terminates { None } else { Some(self.vars.clone()) };
        for handler in &s.handlers {
            let ast::ExceptHandler::ExceptHandler(handler) = handler;
            self.vars.clone_from(&before);
            if let Some(o) = &out {
                join(&mut self.vars, o);
            }
            if let Some(name) = &handler.name {
                self.bind_name(name.as_str(), None, None);
            }
            if !self.block(&handler.body) {
                match &mut out {
                    Some(out) => join(out, &self.vars),
                    None => out = Some(std::mem::take(&mut self.vars)),
                }
            }
        }
        let all_terminate = out.is_none();
        self.vars = out.unwrap_or(before);
        let finally_terminates = self.block(&s.finalbody);
        all_terminate || finally_terminates
    }

    // ---- guards --------------------------------------------------------------------------

    /// Applies what `test` being `truth` says about tracked values.
    fn refine(&mut self, test: &'a Expr, truth: bool) {
        if self.vars.is_empty() {
            return;
        }
        match test {
            Expr::UnaryOp(u) if u.op == UnaryOp::Not => self.refine(&u.operand, !truth),
            // `a and b` true: both hold; `a or b` false: neither holds.
            Expr::BoolOp(b) if (b.op == BoolOp::And) == truth => {
                for value in &b.values {
                    self.refine(value, truth);
                }
                self.refine_local_redirect(&b.values, truth);
            }
            Expr::Named(n) => self.refine(&n.value, truth),
            Expr::Compare(c) if c.ops.len() == 1 => self.refine_compare(&c.left, c.ops[0], &c.comparators[0], truth),
            Expr::Call(c) if truth => self.refine_call(c),
            // `if parsed.netloc: abort()` — past it the URL is relative.
            Expr::Attribute(_) if !truth => {
                if let Some(url) = self.netloc_subject(test) {
                    self.clean(url, REDIRECT | URL);
                }
            }
            _ => {}
        }
    }

    /// `x.startswith("/") and not x.startswith("//")` holding (or its negation failing): `x` is a
    /// path on this site.
    fn refine_local_redirect(&mut self, values: &'a [Expr], truth: bool) {
        let atom = |e: &'a Expr| -> Option<(Key<'a>, &'a str, bool)> {
            let (e, holds) = match e {
                Expr::UnaryOp(u) if u.op == UnaryOp::Not => (&*u.operand, !truth),
                other => (other, truth),
            };
            let Expr::Call(c) = e else { return None };
            let Expr::Attribute(a) = &*c.func else { return None };
            if a.attr.as_str() != "startswith" {
                return None;
            }
            let prefix = c.arguments.args.first().and_then(util::str_literal)?;
            Some((key_of(&a.value)?, prefix, holds))
        };
        for (key, prefix, holds) in values.iter().filter_map(atom) {
            if prefix == "/" && holds {
                let not_double = values
                    .iter()
                    .filter_map(atom)
                    .any(|(k, p, h)| k == key && p == "//" && !h);
                if not_double {
                    self.clean(key, REDIRECT);
                }
            }
        }
    }

    fn refine_compare(&mut self, left: &'a Expr, op: CmpOp, right: &'a Expr, truth: bool) {
        match op {
            CmpOp::In | CmpOp::NotIn => {
                if (op == CmpOp::In) == truth {
                    // `x in ALLOWED`: an allow-list (unless the list itself is tainted).
                    if self.eval(right).is_none() {
                        if let Some(url) = self.netloc_subject(left) {
                            self.clean(url, REDIRECT | URL);
                        }
                        self.clean_expr(left, ALL);
                    }
                } else if util::str_literal(left).is_some_and(|s| s.contains("..")) {
                    // `".." not in name` / `".." not in name.split("/")`: no parent-directory steps.
                    if let Some(key) = self.base_key(right) {
                        self.clean(key, PATH | ARCHIVE);
                    }
                }
            }
            CmpOp::Eq | CmpOp::NotEq if (op == CmpOp::Eq) == truth => {
                let (subject, other) = if util::is_literal(right) {
                    (left, right)
                } else {
                    (right, left)
                };
                if util::is_literal(other) {
                    if let Some(url) = self.netloc_subject(subject) {
                        self.clean(url, REDIRECT | URL);
                    }
                    self.clean_expr(subject, ALL);
                    return;
                }
                // `os.path.commonpath([BASE, p]) == BASE`.
                for (call, base) in [(left, right), (right, left)] {
                    let Expr::Call(c) = call else { continue };
                    if !matches!(last_name(&c.func), Some("commonpath" | "commonprefix")) || self.eval(base).is_some() {
                        continue;
                    }
                    if let Some(Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. })) =
                        c.arguments.args.first()
                    {
                        for elt in elts {
                            if let Some(key) = self.containment_subject(elt) {
                                self.clean(key, PATH | ARCHIVE);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn refine_call(&mut self, call: &'a ExprCall) {
        let args = &call.arguments.args;
        match &*call.func {
            Expr::Attribute(a) => match a.attr.as_str() {
                "isdigit" | "isnumeric" | "isdecimal" | "isalnum" | "isalpha" | "isidentifier" => {
                    self.clean_expr(&a.value, ALL);
                }
                "startswith" | "is_relative_to" => {
                    if args.first().is_some_and(|base| self.eval(base).is_none()) {
                        if let Some(key) = self.containment_subject(&a.value) {
                            self.clean(key, PATH | ARCHIVE);
                        }
                    }
                }
                "fullmatch" | "match" => {
                    // `PATTERN.fullmatch(x)` / `re.fullmatch(p, x)`: a format check.
                    let subject = if self.is_module(&a.value, "re") {
                        args.get(1)
                    } else {
                        args.first()
                    };
                    if let Some(subject) = subject {
                        self.clean_expr(subject, ALL);
                    }
                }
                name => self.refine_predicate(name, args),
            },
            Expr::Name(n) => match n.id.as_str() {
                "isinstance" => {
                    if let (Some(subject), Some(types)) = (args.first(), args.get(1)) {
                        let clean = match types {
                            Expr::Tuple(t) => t.elts.iter().all(is_clean_type),
                            other => is_clean_type(other),
                        };
                        if clean {
                            self.clean_expr(subject, ALL);
                        }
                    }
                }
                "fullmatch" | "match" if args.len() >= 2 => self.clean_expr(&args[1], ALL),
                name => self.refine_predicate(name, args),
            },
            _ => {}
        }
    }

    /// `url_has_allowed_host_and_scheme(url, ...)`, `is_safe_url(url)`, `is_safe_path(p)`,
    /// `is_valid_name(x)`: a validator named as one.
    fn refine_predicate(&mut self, name: &str, args: &'a [Expr]) {
        if matches!(name, "url_has_allowed_host_and_scheme" | "is_safe_url") {
            if let Some(url) = args.first() {
                self.clean_expr(url, REDIRECT | URL);
            }
        } else if is_validator_name(name) {
            for arg in args {
                self.clean_expr(arg, ALL);
            }
        }
    }

    /// For a containment check on `expr` (`p.startswith(BASE)`), the tracked path it proves
    /// contained: `p` itself when it is already a resolved path, or the argument of a resolving
    /// call made in the check (`os.path.realpath(p).startswith(BASE)`).
    fn containment_subject(&self, expr: &'a Expr) -> Option<Key<'a>> {
        match strip_wrappers(expr) {
            e @ (Expr::Name(_) | Expr::Attribute(_)) => {
                let key = key_of(e)?;
                self.get(key).filter(|t| t.flags & NORMALISED != 0).map(|_| key)
            }
            Expr::Call(c) => match &*c.func {
                Expr::Attribute(a) if matches!(a.attr.as_str(), "resolve" | "absolute") => {
                    match strip_wrappers(&a.value) {
                        Expr::Call(ctor) if matches!(last_name(&ctor.func), Some("Path" | "PurePath")) => {
                            ctor.arguments.args.first().and_then(|arg| key_of(strip_wrappers(arg)))
                        }
                        other => key_of(other),
                    }
                }
                func if matches!(last_name(func), Some("realpath" | "abspath" | "normpath")) => {
                    c.arguments.args.first().and_then(|arg| key_of(strip_wrappers(arg)))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The tracked value a derived expression is built from: `name.split("/")`,
    /// `Path(name).parts`, `os.path.normpath(name)` → `name`.
    fn base_key(&self, expr: &'a Expr) -> Option<Key<'a>> {
        if let Some(key) = key_of(expr).filter(|k| self.get(*k).is_some()) {
            return Some(key);
        }
        match expr {
            Expr::Attribute(a) => self.base_key(&a.value),
            Expr::Call(c) => {
                let receiver = match &*c.func {
                    Expr::Attribute(a) => self.base_key(&a.value),
                    _ => None,
                };
                receiver.or_else(|| c.arguments.args.first().and_then(|arg| self.base_key(arg)))
            }
            _ => None,
        }
    }

    /// `urlparse(u).netloc` / `parsed.hostname` (after `parsed = urlparse(u)`): the URL `u`.
    fn netloc_subject(&self, expr: &'a Expr) -> Option<Key<'a>> {
        let Expr::Attribute(a) = expr else { return None };
        if !matches!(a.attr.as_str(), "netloc" | "hostname" | "host") {
            return None;
        }
        match &*a.value {
            Expr::Call(c) if matches!(last_name(&c.func), Some("urlparse" | "urlsplit")) => {
                c.arguments.args.first().and_then(key_of)
            }
            Expr::Name(n) => self
                .parsed_urls
                .iter()
                .find(|(p, _)| *p == n.id.as_str())
                .map(|(_, url)| Key::Name(url)),
            _ => None,
        }
    }

    /// `p.relative_to(BASE)` as a statement (in a try whose handler aborts): raises unless the
    /// resolved path `p` is inside BASE.
    fn relative_to_guard(&mut self, value: &'a Expr) {
        if self.vars.is_empty() {
            return;
        }
        if let Expr::Call(c) = value {
            if let Expr::Attribute(a) = &*c.func {
                if a.attr.as_str() == "relative_to" {
                    if let Some(key) = self.containment_subject(&a.value) {
                        self.clean(key, PATH | ARCHIVE);
                    }
                }
            }
        }
    }

    // ---- expressions ---------------------------------------------------------------------

    fn eval(&mut self, expr: &'a Expr) -> Option<Taint> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let t = if self.depth.is_multiple_of(32) {
            stacker::maybe_grow(256 * 1024, 2 << 20, || self.eval_inner(expr))
        } else {
            self.eval_inner(expr)
        };
        self.depth -= 1;
        t
    }

    fn eval_inner(&mut self, expr: &'a Expr) -> Option<Taint> {
        match expr {
            Expr::Name(n) => self.eval_name(n),
            Expr::Attribute(a) => self.eval_attribute(a),
            Expr::Subscript(s) => {
                let t = self.eval(&s.value);
                self.eval(&s.slice);
                whole(t).map(|t| t.without(PATH_OBJECT))
            }
            Expr::Call(c) => self.eval_call(c),
            Expr::BinOp(b) => self.eval_binop(b),
            Expr::BoolOp(b) => {
                let mut acc = None;
                for value in &b.values {
                    let t = self.eval(value);
                    acc = merge(acc, t);
                }
                acc
            }
            Expr::UnaryOp(u) => {
                let t = self.eval(&u.operand);
                if u.op == UnaryOp::Not {
                    None
                } else {
                    t
                }
            }
            Expr::If(i) => {
                self.eval(&i.test);
                let a = self.eval(&i.body);
                let b = self.eval(&i.orelse);
                merge(a, b)
            }
            Expr::Compare(c) => {
                self.eval(&c.left);
                for comparator in c.comparators.iter() {
                    self.eval(comparator);
                }
                None
            }
            Expr::FString(f) => {
                let mut acc = None;
                for part in f.value.iter() {
                    if let ast::FStringPart::FString(fs) = part {
                        let t = self.eval_elements(&fs.elements);
                        acc = merge(acc, t);
                    }
                }
                if let Some(t) = acc {
                    // The literal text up to the first field: where a meta refresh's URL starts.
                    let mut lead = String::new();
                    'parts: for part in f.value.iter() {
                        match part {
                            ast::FStringPart::Literal(l) => lead.push_str(&l.value),
                            ast::FStringPart::FString(fs) => {
                                for element in fs.elements.iter() {
                                    match element {
                                        InterpolatedStringElement::Literal(l) => lead.push_str(&l.value),
                                        InterpolatedStringElement::Interpolation(_) => break 'parts,
                                    }
                                }
                            }
                        }
                    }
                    self.meta_refresh(&lead, t, f.range);
                }
                whole(acc).map(|t| t.without(PATH_OBJECT | NORMALISED))
            }
            Expr::TString(t) => {
                let mut acc = None;
                for part in t.value.iter() {
                    let t = self.eval_elements(&part.elements);
                    acc = merge(acc, t);
                }
                whole(acc).map(|t| t.without(PATH_OBJECT | NORMALISED))
            }
            Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::EllipsisLiteral(_)
            | Expr::Lambda(_)
            | Expr::IpyEscapeCommand(_) => None,
            Expr::List(l) => self.eval_container(&l.elts),
            Expr::Tuple(t) => self.eval_container(&t.elts),
            Expr::Set(s) => self.eval_container(&s.elts),
            Expr::Dict(d) => {
                let mut acc = None;
                for item in d.iter() {
                    if let Some(key) = &item.key {
                        let t = self.eval(key);
                        acc = merge(acc, t);
                    }
                    let t = self.eval(&item.value);
                    acc = merge(acc, t);
                }
                acc.map(|t| t.without(WHOLE | PATH_OBJECT | NORMALISED))
            }
            Expr::ListComp(c) => self.eval_comprehension(&c.elt, None, &c.generators),
            Expr::SetComp(c) => self.eval_comprehension(&c.elt, None, &c.generators),
            Expr::Generator(c) => self.eval_comprehension(&c.elt, None, &c.generators),
            Expr::DictComp(c) => match &c.key {
                Some(key) => self.eval_comprehension(key, Some(&c.value), &c.generators),
                None => self.eval_comprehension(&c.value, None, &c.generators),
            },
            Expr::Await(a) => self.eval(&a.value),
            Expr::Yield(y) => {
                if let Some(value) = &y.value {
                    self.eval(value);
                }
                None
            }
            Expr::YieldFrom(y) => {
                self.eval(&y.value);
                None
            }
            Expr::Named(n) => {
                let t = self.eval(&n.value);
                self.bind(&n.target, t, Some(&n.value));
                t
            }
            Expr::Starred(s) => self.eval(&s.value),
            Expr::Slice(s) => {
                for part in [&s.lower, &s.upper, &s.step].into_iter().flatten() {
                    self.eval(part);
                }
                None
            }
        }
    }

    fn eval_elements(&mut self, elements: &'a [InterpolatedStringElement]) -> Option<Taint> {
        let mut acc = None;
        for element in elements {
            if let InterpolatedStringElement::Interpolation(i) = element {
                let t = self.eval(&i.expression);
                acc = merge(acc, t);
                if let Some(spec) = &i.format_spec {
                    let t = self.eval_elements(&spec.elements);
                    acc = merge(acc, t);
                }
            }
        }
        acc
    }

    fn eval_container(&mut self, elts: &'a [Expr]) -> Option<Taint> {
        let mut acc = None;
        for elt in elts {
            let t = self.eval(elt);
            acc = merge(acc, t);
        }
        acc.map(|t| t.without(WHOLE | PATH_OBJECT | NORMALISED))
    }

    fn eval_comprehension(
        &mut self,
        elt: &'a Expr,
        value: Option<&'a Expr>,
        generators: &'a [ast::Comprehension],
    ) -> Option<Taint> {
        // Comprehension variables are local to it: save what they shadow, restore after.
        let mut saved: Vec<(Key<'a>, Option<Taint>)> = Vec::new();
        for generator in generators {
            let t = self.eval(&generator.iter);
            if t.is_some() || (!self.vars.is_empty() && self.binds_tracked(&generator.target)) {
                self.save_targets(&generator.target, &mut saved);
                let element = whole(t).map(|t| t.without(PATH_OBJECT | NORMALISED));
                self.bind(&generator.target, element, None);
            }
            for condition in &generator.ifs {
                self.eval(condition);
            }
        }
        let mut t = self.eval(elt);
        if let Some(value) = value {
            let v = self.eval(value);
            t = merge(t, v);
        }
        for (key, old) in saved.into_iter().rev() {
            self.set(key, old);
        }
        t
    }

    fn binds_tracked(&self, target: &'a Expr) -> bool {
        match target {
            Expr::Name(n) => self.get(Key::Name(n.id.as_str())).is_some(),
            Expr::Tuple(t) => t.elts.iter().any(|e| self.binds_tracked(e)),
            Expr::List(l) => l.elts.iter().any(|e| self.binds_tracked(e)),
            Expr::Starred(s) => self.binds_tracked(&s.value),
            _ => false,
        }
    }

    fn save_targets(&self, target: &'a Expr, saved: &mut Vec<(Key<'a>, Option<Taint>)>) {
        match target {
            Expr::Name(n) => {
                let key = Key::Name(n.id.as_str());
                saved.push((key, self.get(key)));
            }
            Expr::Tuple(t) => t.elts.iter().for_each(|e| self.save_targets(e, saved)),
            Expr::List(l) => l.elts.iter().for_each(|e| self.save_targets(e, saved)),
            Expr::Starred(s) => self.save_targets(&s.value, saved),
            _ => {}
        }
    }

    fn eval_name(&mut self, n: &'a ast::ExprName) -> Option<Taint> {
        let id = n.id.as_str();
        if !self.vars.is_empty() {
            if let Some(t) = self.get(Key::Name(id)) {
                return Some(t);
            }
        }
        match id {
            "argv" if matches!(self.resolve(id), Resolved::Imported("sys.argv")) => {
                self.new_source(n.range.start(), LOCAL_KINDS, true, |_| "sys.argv".to_string())
            }
            "environ" if matches!(self.resolve(id), Resolved::Imported("os.environ")) => {
                self.new_source(n.range.start(), LOCAL_KINDS, true, |_| "os.environ".to_string())
            }
            _ => None,
        }
    }

    fn eval_attribute(&mut self, a: &'a ast::ExprAttribute) -> Option<Taint> {
        let attr = a.attr.as_str();
        if !self.attr_bases.is_empty() {
            if let Expr::Name(base) = &*a.value {
                if let Some(t) = self.get(Key::Attr(base.id.as_str(), attr)) {
                    return Some(t);
                }
            }
        }
        if let Some(bit) = self.param_as_request(&a.value) {
            if is_request_attr(attr) {
                let kinds = if is_request_location(attr) {
                    REQUEST_KINDS & !(REDIRECT | URL)
                } else {
                    REQUEST_KINDS
                };
                let data = self.eval(&a.value);
                return whole(data).map(|t| Taint {
                    kinds: t.kinds & kinds,
                    params: t.params | bit,
                    ..t
                });
            }
        }
        if self.stdlib_handler
            && is_stdlib_handler_attr(attr)
            && matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "self")
            && !self.shadowed.contains(&"self")
        {
            // `self.path` carries the query string, which such a handler parses itself: unlike a
            // framework's `request.url`, it is where the client's parameters come from.
            return self.new_source(a.range.start(), REQUEST_KINDS, false, |_| format!("self.{attr}"));
        }
        if self.is_request_data(&a.value, attr) {
            let receiver = self.checker.text(&*a.value);
            // The current request's own URL: redirecting to it or fetching it goes nowhere new.
            let kinds = if is_request_location(attr) {
                REQUEST_KINDS & !(REDIRECT | URL)
            } else {
                REQUEST_KINDS
            };
            return self.new_source(a.range.start(), kinds, false, |_| format!("{receiver}.{attr}"));
        }
        match attr {
            "argv" | "orig_argv" if self.is_module(&a.value, "sys") => {
                return self.new_source(a.range.start(), LOCAL_KINDS, true, |_| "sys.argv".to_string());
            }
            "environ" | "environb" if self.is_module(&a.value, "os") => {
                return self.new_source(a.range.start(), LOCAL_KINDS, true, |_| "os.environ".to_string());
            }
            _ => {}
        }
        let t = self.eval(&a.value);
        // `.name`/`.suffix`/`.stem` of a path are its last component: no traversal left in it.
        let t = if matches!(attr, "name" | "stem" | "suffix") && t.is_some_and(|t| t.flags & PATH_OBJECT != 0) {
            t.map(|mut t| {
                t.kinds &= !(PATH | ARCHIVE);
                t
            })
        } else {
            t
        };
        whole(t).map(|t| {
            if matches!(attr, "parent" | "parents") {
                t
            } else {
                t.without(PATH_OBJECT | NORMALISED)
            }
        })
    }

    fn eval_binop(&mut self, b: &'a ast::ExprBinOp) -> Option<Taint> {
        let l = self.eval(&b.left);
        let r = self.eval(&b.right);
        if let (Some(r), Operator::Mod | Operator::Add) = (r, b.op) {
            if let Some(html) = util::str_literal(&b.left) {
                self.meta_refresh(html, r, b.range);
            }
        }
        let mut t = merge(l, r)?;
        let left_whole = l.is_some_and(Taint::whole);
        let right_whole = r.is_some_and(Taint::whole);
        let is_whole = match b.op {
            // `["ls"] + args` / `cmd + [x]`: still a list whose head is the left operand's.
            Operator::Add => {
                let left_is_sequence = matches!(&*b.left, Expr::List(l) if !l.elts.is_empty())
                    || matches!(&*b.left, Expr::Tuple(t) if !t.elts.is_empty())
                    || l.is_some_and(|l| !l.whole());
                if left_is_sequence {
                    left_whole
                } else {
                    left_whole || right_whole
                }
            }
            Operator::Mod => true,
            _ => left_whole || right_whole,
        };
        t.flags &= !(WHOLE | NORMALISED | PATH_OBJECT);
        if is_whole {
            t.flags |= WHOLE;
        }
        // `BASE / name`: a pathlib join.
        if b.op == Operator::Div && l.is_none_or(|l| l.flags & PATH_OBJECT != 0 || l.whole()) {
            t.flags |= PATH_OBJECT;
        }
        Some(t)
    }

    fn eval_call(&mut self, call: &'a ExprCall) -> Option<Taint> {
        let (receiver, method) = match &*call.func {
            Expr::Attribute(a) => (self.eval(&a.value), Some(a.attr.as_str())),
            Expr::Name(_) => (None, None),
            other => {
                self.eval(other);
                (None, None)
            }
        };
        let mut args = ArgTaints {
            positional: [None; 4],
            keywords: [None; 8],
            starred_at: usize::MAX,
        };
        let mut any = None;
        for (i, arg) in call.arguments.args.iter().enumerate() {
            if matches!(arg, Expr::Starred(_)) && args.starred_at == usize::MAX {
                args.starred_at = i;
            }
            let t = self.eval(arg);
            if i < args.positional.len() {
                args.positional[i] = t;
            }
            any = merge(any, t);
        }
        for (j, keyword) in call.arguments.keywords.iter().enumerate() {
            let t = self.eval(&keyword.value);
            if j < args.keywords.len() {
                args.keywords[j] = t;
            }
            any = merge(any, t);
        }
        self.note_call_out(call, &args, any.is_some());
        if receiver.is_none() && any.is_none() {
            return self.source_call(call, method);
        }
        if let (Some(m), Some(t), Expr::Attribute(a)) = (method, any, &*call.func) {
            if is_mutator(m) {
                if let Some(key) = key_of(&a.value) {
                    self.taint_container(key, t);
                }
            }
        }
        let name = self.qualified(&call.func);
        let reported = self.reported.len();
        self.check_sinks(call, name.as_deref(), method, receiver, &args);
        let mut result = self.call_result(call, name.as_deref(), method, receiver, any, &args);
        if let (Some(m), Expr::Attribute(a)) = (method, &*call.func) {
            if is_request_method(m) {
                if let (Some(bit), Some(t)) = (self.param_as_request(&a.value), result.as_mut()) {
                    t.params |= bit;
                }
            }
        }
        if self.reported.len() > reported {
            // Reported here: what comes out (`text(q)`, `open(p)`) is not reported again.
            return result.map(|t| Taint {
                kinds: t.kinds & !(self.last_reported_kind | ARCHIVE | TAR_MEMBER),
                ..t
            });
        }
        result
    }

    /// A call none of whose inputs is tainted: tainted only if it is a source.
    fn source_call(&mut self, call: &'a ExprCall, method: Option<&'a str>) -> Option<Taint> {
        let at = call.range().start();
        match (&*call.func, method) {
            (Expr::Attribute(a), Some(m)) => {
                if is_request_method(m) && self.request_obj(&a.value).is_some() {
                    let receiver = self.checker.text(&*a.value);
                    return self.new_source(at, REQUEST_KINDS, false, |_| format!("{receiver}.{m}()"));
                }
                match m {
                    "getenv" | "getenvb" if self.is_module(&a.value, "os") => {
                        self.new_source(at, LOCAL_KINDS, true, |_| "os.getenv()".to_string())
                    }
                    _ if is_handler_accessor(m) && matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "self") => {
                        self.new_source(at, REQUEST_KINDS, false, |_| format!("self.{m}()"))
                    }
                    "namelist" | "infolist" | "getnames" | "getmembers" if call.arguments.is_empty() => {
                        let kinds = if matches!(m, "getnames" | "getmembers") {
                            ARCHIVE | TAR_MEMBER
                        } else {
                            ARCHIVE
                        };
                        let receiver = self.checker.text(&*a.value);
                        self.new_source(at, kinds, false, |_| {
                            format!("archive member names from {receiver}.{m}()")
                        })
                    }
                    _ => None,
                }
            }
            (Expr::Name(n), _) => match n.id.as_str() {
                "input" | "raw_input" if matches!(self.resolve(n.id.as_str()), Resolved::Unbound) => {
                    self.new_source(at, LOCAL_KINDS, true, |_| "input()".to_string())
                }
                "getenv" if matches!(self.resolve("getenv"), Resolved::Imported("os.getenv")) => {
                    self.new_source(at, LOCAL_KINDS, true, |_| "os.getenv()".to_string())
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn call_result(
        &mut self,
        call: &'a ExprCall,
        name: Option<&str>,
        method: Option<&str>,
        receiver: Option<Taint>,
        any: Option<Taint>,
        args: &ArgTaints,
    ) -> Option<Taint> {
        // stockade.guards.Argv (docs/guards.md): no shell, and a value added as an argument is
        // refused when it would read as an option; only the program it was made with matters.
        if name.is_some_and(is_argv) {
            return whole(self.arg_taint(call, args, Some(0), &["program"]).map(|(t, _)| t));
        }
        if let (Some(m), Expr::Attribute(a)) = (method, &*call.func) {
            if matches!(m, "add" | "opt" | "end_of_options" | "build") && self.is_argv_chain(&a.value) {
                return receiver;
            }
        }
        if let Some(name) = name {
            if matches!(name, "compile" | "builtins.compile") {
                // The code object is the source's: the file name (`compile(src, path, "exec")`)
                // only labels it.
                return whole(self.arg_taint(call, args, Some(0), &["source"]).map(|(t, _)| t));
            }
            match through(name) {
                Through::Clean => return None,
                Through::Clears(mask) => {
                    return whole(merge(receiver, any)).and_then(|mut t| {
                        t.kinds &= !mask;
                        (t.kinds & self.enabled != 0).then_some(t.without(PATH_OBJECT | NORMALISED))
                    })
                }
                Through::Normalises => return whole(any).map(|t| t.with(NORMALISED).without(PATH_OBJECT)),
                Through::Same => return any,
                Through::Unknown => {}
            }
            if is_path_ctor(name) {
                return whole(any).map(|t| t.with(PATH_OBJECT).without(NORMALISED));
            }
        }
        if let Some(m) = method {
            if receiver.is_some() {
                // File contents are not the path's taint (`Path(p).read_text()`).
                if is_predicate_method(m)
                    || (receiver.is_some_and(|r| r.flags & PATH_OBJECT != 0) && path_method(m).is_some())
                {
                    return None;
                }
                // Flask/Werkzeug `request.args.get("n", type=int)` converts the value.
                if m == "get" && util::keyword(call, "type").is_some_and(is_clean_type) {
                    return None;
                }
                if matches!(m, "resolve" | "absolute") {
                    return whole(merge(receiver, any)).map(|t| t.with(NORMALISED | PATH_OBJECT));
                }
                if matches!(m, "joinpath" | "with_name" | "with_suffix") {
                    return whole(merge(receiver, any)).map(|t| t.with(PATH_OBJECT).without(NORMALISED));
                }
            } else {
                // A clean receiver given tainted arguments.
                match m {
                    // `ALLOWED.get(x)`, `TABLE.pop(x)`: a lookup in a constant table; only a
                    // tainted default comes back.
                    "get" | "pop" => {
                        let default = self.arg_taint(call, args, Some(1), &["default"]).map(|(t, _)| t);
                        return whole(default);
                    }
                    _ if is_predicate_method(m) => return None,
                    _ => {}
                }
            }
        }
        whole(merge(receiver, any)).map(|t| t.without(PATH_OBJECT | NORMALISED))
    }

    // ---- sinks ---------------------------------------------------------------------------

    /// The taint of the argument at `position` or passed as one of `keywords`, and the argument.
    fn arg_taint(
        &mut self,
        call: &'a ExprCall,
        args: &ArgTaints,
        position: Option<usize>,
        keywords: &[&str],
    ) -> Option<(Taint, &'a Expr)> {
        for (j, keyword) in call.arguments.keywords.iter().enumerate() {
            if keyword.arg.as_ref().is_some_and(|k| keywords.contains(&k.as_str())) {
                let t = if j < args.keywords.len() {
                    args.keywords[j]
                } else {
                    self.eval(&keyword.value)
                };
                return t.map(|t| (t, &keyword.value));
            }
        }
        let position = position?;
        if position >= args.starred_at {
            return None;
        }
        let arg = call.arguments.args.get(position)?;
        let t = if position < args.positional.len() {
            args.positional[position]
        } else {
            self.eval(arg)
        };
        t.map(|t| (t, arg))
    }

    fn check_sinks(
        &mut self,
        call: &'a ExprCall,
        name: Option<&str>,
        method: Option<&'a str>,
        receiver: Option<Taint>,
        args: &ArgTaints,
    ) {
        // A pathlib path used as one: `Path(x).read_text()`, `(BASE / x).open("w")`.
        if let (Some(m), Some(r)) = (method, receiver) {
            if r.flags & PATH_OBJECT != 0 {
                if let Some(write) = path_method(m) {
                    let write = write && (m != "open" || open_writes_at(call, 0));
                    self.report_path(call, r, "a file path", write, name);
                    return;
                }
            }
        }
        if let (Some(m), Expr::Attribute(a)) = (method, &*call.func) {
            if self.check_code_file_write(call, m, &a.value, args, name) {
                return;
            }
        }
        // `tar.extract(member)` for a member of `tar.getmembers()`, without filter=.
        if method == Some("extract") && util::keyword(call, "filter").is_none() {
            if let Some((t, _)) = self.arg_taint(call, args, Some(0), &["member"]) {
                if t.kinds & TAR_MEMBER & self.enabled != 0 {
                    self.report(
                        call,
                        RuleId::ZipSlip,
                        t,
                        "the member to extract, without a filter=",
                        name,
                    );
                    return;
                }
            }
        }
        let location = method.is_some_and(is_header_setter)
            && call
                .arguments
                .args
                .first()
                .and_then(util::str_literal)
                .is_some_and(|h| h.eq_ignore_ascii_case("location"));
        let sink = match name.and_then(sink_by_name) {
            Some(sink) => sink,
            None if location => location_header_sink(),
            None => {
                let (Some(m), Expr::Attribute(a)) = (method, &*call.func) else {
                    return;
                };
                let http_client = key_of(&a.value).is_some_and(|k| self.http_clients.contains(&k));
                match sink_by_method(m, &a.value, http_client) {
                    Some(sink) => sink,
                    None => return,
                }
            }
        };
        match sink.mode {
            Mode::Yaml if yaml_loader_is_safe(call) => return,
            Mode::Torch if util::keyword(call, "weights_only").and_then(util::truthiness) == Some(true) => return,
            Mode::Program => {
                self.check_program(call, args, sink, name);
                return;
            }
            _ => {}
        }
        let positions = sink.positions.iter().map(|p| Some(*p));
        for position in positions {
            let keyword = sink.keywords;
            let Some((t, arg)) = self.arg_taint(call, args, position, keyword) else {
                continue;
            };
            if sink.kind == PATH {
                let write = match sink.mode {
                    Mode::Open => open_writes_at(call, 1),
                    _ => sink.write,
                };
                if self.report_path(call, t, sink.role, write, name) {
                    return;
                }
                continue;
            }
            if t.kinds & sink.kind == 0 {
                continue;
            }
            if sink.mode == Mode::Url && self.origin_fixed(arg, sink.kind) {
                continue;
            }
            self.report(call, rule_for(sink.kind), t, sink.role, name);
            return;
        }
    }

    /// subprocess-style calls: with shell=True any tainted part of the command counts; without,
    /// only a tainted program (the string, or the list's first element).
    fn check_program(&mut self, call: &'a ExprCall, args: &ArgTaints, sink: Sink, name: Option<&str>) {
        if let Some((t, _)) = self.arg_taint(call, args, None, &["executable"]) {
            if t.kinds & CMD != 0 {
                self.report(call, RuleId::TaintedCommand, t, "the program to run", name);
                return;
            }
        }
        let Some((t, arg)) = self.arg_taint(call, args, sink.positions.first().copied(), sink.keywords) else {
            return;
        };
        if t.kinds & CMD == 0 {
            return;
        }
        if util::keyword(call, "shell").and_then(util::truthiness) == Some(true) {
            self.report(call, RuleId::TaintedCommand, t, "the shell command", name);
            return;
        }
        let program = match arg {
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => match elts.first() {
                Some(first) => self.eval(first),
                None => None,
            },
            _ => Some(t).filter(|t| t.whole()),
        };
        if let Some(p) = program.filter(|p| p.kinds & CMD != 0) {
            self.report(call, RuleId::TaintedCommand, p, "the program to run", name);
        }
    }

    /// `'<meta http-equiv="refresh" content="0; url=%s">' % url`: a redirect written into the
    /// page, when the data fills the URL (`html` is the literal before it).
    fn meta_refresh(&mut self, html: &str, t: Taint, range: ruff_text_size::TextRange) {
        if t.kinds & REDIRECT == 0 || !html.contains(['=']) {
            return;
        }
        let lower = html.to_ascii_lowercase();
        if !(lower.contains("url=") && lower.contains("http-equiv") && lower.contains("refresh")) {
            return;
        }
        let after = lower.rsplit("url=").next().unwrap_or("");
        let after = after.trim_start_matches(['\'', '"']);
        if prefix_fixes_origin(after.split(['%', '{']).next().unwrap_or(""), REDIRECT) {
            return;
        }
        self.report_at(range, "a meta refresh", RuleId::OpenRedirect, t, "the redirect URL");
    }

    /// `response.headers["Location"] = url` / `response["Location"] = url`: a redirect built by
    /// hand.
    fn location_assignment(&mut self, targets: &'a [Expr], value: &'a Expr) {
        for target in targets {
            let Expr::Subscript(sub) = target else { continue };
            if !util::str_literal(&sub.slice).is_some_and(|h| h.eq_ignore_ascii_case("location")) {
                continue;
            }
            let Some(t) = self.eval(value) else { continue };
            if t.kinds & REDIRECT == 0 || self.origin_fixed(value, REDIRECT) {
                continue;
            }
            let text = self.checker.text(target);
            let sink = if text.len() <= 40 { text } else { "a Location header" };
            let range = ruff_text_size::TextRange::new(target.range().start(), value.range().end());
            self.report_at(range, sink, RuleId::OpenRedirect, t, "the redirect URL");
        }
    }

    /// While summarising: the request bit of `expr` when it is a parameter still holding its value.
    fn param_as_request(&self, expr: &'a Expr) -> Option<u32> {
        let acc = self.summary.as_ref()?;
        let Expr::Name(n) = expr else { return None };
        let i = acc.index(n.id.as_str())?;
        let holds = self
            .get(Key::Name(n.id.as_str()))
            .is_some_and(|t| t.params & (1 << i) != 0);
        holds.then_some(1 << (16 + i))
    }

    /// The function of the checked tree a call may reach, and whether it binds the first
    /// parameter: None for a local variable, a builtin conversion or a library call (those never
    /// resolve to a module of the tree, but skipping them early keeps the records small).
    fn callee(&self, func: &Expr) -> Option<(Callee, bool)> {
        match func {
            Expr::Name(n) => {
                let id = n.id.as_str();
                match self.resolve(id) {
                    Resolved::Imported(q) => Some((Callee::Name(q.to_string()), false)),
                    Resolved::Local => None,
                    Resolved::Unbound if matches!(through(id), Through::Unknown) && sink_by_name(id).is_none() => {
                        Some((Callee::Local(id.to_string()), false))
                    }
                    Resolved::Unbound => None,
                }
            }
            Expr::Attribute(a) => {
                // `Repo(cur).search(x)`, `repo.search(x)` after `repo = Repo(cur)`.
                let instance = match &*a.value {
                    Expr::Call(c) => self.callee(&c.func).filter(|(_, bound)| !bound).map(|(c, _)| c),
                    Expr::Name(n) => self
                        .instances
                        .iter()
                        .rev()
                        .find(|(name, _)| *name == n.id.as_str())
                        .map(|(_, c)| c.clone()),
                    _ => None,
                };
                match instance {
                    Some(Callee::Name(class)) => {
                        return Some((Callee::Name(format!("{class}.{}", a.attr.as_str())), true));
                    }
                    Some(Callee::Local(class)) => {
                        return Some((Callee::Local(format!("{class}.{}", a.attr.as_str())), true));
                    }
                    _ => {}
                }
                if let Expr::Name(base) = &*a.value {
                    if matches!(base.id.as_str(), "self" | "cls") {
                        let class = self.class?;
                        return Some((
                            Callee::Method {
                                class: class.to_string(),
                                method: a.attr.to_string(),
                            },
                            true,
                        ));
                    }
                }
                // `module.f` through an import, or `Class.f` of this module.
                let mut local = false;
                let name = crate::names::dotted_name(func, |head| match self.resolve(head) {
                    Resolved::Imported(q) => Some(q),
                    Resolved::Unbound => {
                        local = true;
                        Some(head)
                    }
                    Resolved::Local => None,
                })?;
                if local {
                    return Some((Callee::Local(name), false));
                }
                (sink_by_name(&name).is_none()).then_some((Callee::Name(name), false))
            }
            _ => None,
        }
    }

    /// Records a call of a possible function of the tree that is given tainted data or a request
    /// object: as a call-out of this body, or as an edge of the function being summarised.
    fn note_call_out(&mut self, call: &'a ExprCall, args: &ArgTaints, tainted: bool) {
        let arguments = &call.arguments;
        if !tainted {
            // Only a request object passed as such is left to record (not when summarising:
            // there, parameters are the only sources).
            // Cheap by name first: this runs for every call in a body the gate lets through.
            let named = |arg: &Expr| match arg {
                Expr::Name(n) => {
                    n.id.as_str() == "request" || self.request_objs.iter().any(|(r, _)| *r == n.id.as_str())
                }
                Expr::Attribute(a) => a.attr.as_str() == "request",
                _ => false,
            };
            let is_request = |arg: &Expr| named(arg) && self.request_obj(arg).is_some();
            if self.summary.is_some()
                || !(arguments.args.iter().any(is_request) || arguments.keywords.iter().any(|k| is_request(&k.value)))
            {
                return;
            }
        }
        let mut slots: Vec<(Slot, &'a Expr, Option<Taint>)> = Vec::new();
        for (i, arg) in arguments.args.iter().enumerate() {
            if i >= args.starred_at {
                break;
            }
            let t = args.positional.get(i).copied().flatten();
            slots.push((Slot::Pos(i), arg, t));
        }
        for (j, keyword) in arguments.keywords.iter().enumerate() {
            let Some(name) = &keyword.arg else { continue };
            let t = args.keywords.get(j).copied().flatten();
            slots.push((Slot::Kw(name.to_string()), &keyword.value, t));
        }
        let summarising = self.summary.is_some();
        let mut flows = Vec::new();
        let mut edges = Vec::new();
        for (slot, arg, t) in slots {
            if summarising {
                let Some(t) = t.filter(|t| t.params != 0) else { continue };
                let whole_param = match arg {
                    Expr::Name(n) => self
                        .summary
                        .as_ref()
                        .and_then(|acc| acc.index(n.id.as_str()))
                        .filter(|i| t.params & (1 << i) != 0),
                    _ => None,
                };
                let params = t.params | whole_param.map_or(0, |i| 1 << (16 + i));
                edges.push(EdgeArg {
                    slot,
                    kinds: t.kinds,
                    params,
                    whole_param,
                });
            } else if let Some(t) = t {
                let Some(source) = self.sources.get(t.src as usize) else {
                    continue;
                };
                flows.push(ArgFlow {
                    slot,
                    kinds: t.kinds & self.enabled,
                    request_object: false,
                    local: t.flags & LOCAL != 0,
                    source: source.label.clone(),
                    source_line: self.checker.index().line(source.at),
                });
            } else if matches!(arg, Expr::Name(_) | Expr::Attribute(_)) && self.request_obj(arg).is_some() {
                let shown = self.checker.text(arg);
                let shown = if shown.len() <= 40 { shown } else { "request" };
                flows.push(ArgFlow {
                    slot,
                    kinds: REQUEST_KINDS & self.enabled,
                    request_object: true,
                    local: false,
                    source: format!("the request object `{shown}`"),
                    source_line: self.checker.index().line(arg.range().start()),
                });
            }
        }
        if flows.is_empty() && edges.is_empty() {
            return;
        }
        let Some((callee, bound)) = self.callee(&call.func) else {
            return;
        };
        if summarising {
            if let Some(acc) = self.summary.as_mut() {
                acc.calls.push((callee, bound, edges));
            }
            return;
        }
        let range = call.range();
        let index = self.checker.index();
        let (line, column) = index.line_col(self.checker.source, range.start());
        let (end_line, end_column) = index.line_col(self.checker.source, range.end());
        let line_text = index.line_text(self.checker.source, line).to_string();
        self.checker.call_outs.push(CallOut {
            callee,
            bound,
            args: flows,
            line,
            column,
            end_line,
            end_column,
            line_text,
            markers: Vec::new(),
        });
    }

    /// What a file at `path` becomes once written: a module that is imported (`.py`) or a
    /// template that is rendered (a template extension, or any file under `templates/`).
    /// Only the written name's literal end counts (`f"plugins/{name}.py"`, `base + ".html"`).
    fn code_file_rule(path: &Expr) -> Option<RuleId> {
        // The literal pieces of the name, in order; the last one must be the name's end.
        fn pieces(expr: &Expr, out: &mut Vec<String>, depth: u32) -> bool {
            if depth > 32 {
                return false;
            }
            match expr {
                Expr::StringLiteral(s) => {
                    out.push(s.value.to_str().to_string());
                    true
                }
                Expr::FString(f) => {
                    let mut ends_literal = false;
                    for part in f.value.iter() {
                        match part {
                            ruff_python_ast::FStringPart::Literal(l) => {
                                out.push(l.value.to_string());
                                ends_literal = true;
                            }
                            ruff_python_ast::FStringPart::FString(f) => {
                                for e in &f.elements {
                                    ends_literal = match e {
                                        ruff_python_ast::InterpolatedStringElement::Literal(l) => {
                                            out.push(l.value.to_string());
                                            true
                                        }
                                        _ => false,
                                    };
                                }
                            }
                        }
                    }
                    ends_literal
                }
                // `dir + "/x.py"`, `Path(dir) / "x.py"`
                Expr::BinOp(b) if matches!(b.op, Operator::Add | Operator::Div) => {
                    pieces(&b.left, out, depth + 1);
                    pieces(&b.right, out, depth + 1)
                }
                // os.path.join(dir, "x.py"), Path(dir, "x.py"): calls that join their arguments.
                Expr::Call(c)
                    if matches!(
                        match &*c.func {
                            Expr::Name(n) => n.id.as_str(),
                            Expr::Attribute(a) => a.attr.as_str(),
                            _ => "",
                        },
                        "join" | "joinpath" | "Path" | "PurePath" | "PosixPath"
                    ) =>
                {
                    let mut ends_literal = false;
                    for arg in &c.arguments.args {
                        ends_literal = pieces(arg, out, depth + 1);
                    }
                    ends_literal
                }
                _ => false,
            }
        }
        let mut found = Vec::new();
        if !pieces(path, &mut found, 0) {
            return None;
        }
        let tail = found.last()?.to_ascii_lowercase();
        let whole = found.concat().to_ascii_lowercase();
        if tail.ends_with(".py") {
            Some(RuleId::TaintedCode)
        } else if [".j2", ".jinja", ".jinja2", ".tmpl", ".tpl", ".mako"]
            .iter()
            .any(|e| tail.ends_with(e))
            // An `.html` file is a template only where templates live; elsewhere it is a page.
            || whole.contains("templates/")
        {
            Some(RuleId::TaintedTemplate)
        } else {
            None
        }
    }

    /// `open(<code file>, "w"/"a")` (or `io.open`, `codecs.open`): the rule its writes fall under.
    fn code_file_opened(&self, expr: &Expr) -> Option<RuleId> {
        let Expr::Call(c) = expr else { return None };
        let name = self.qualified(&c.func)?;
        if !matches!(name.as_str(), "open" | "builtins.open" | "io.open" | "codecs.open") || !open_writes_at(c, 1) {
            return None;
        }
        let path = c.arguments.args.first().or_else(|| util::keyword(c, "file"))?;
        Self::code_file_rule(path)
    }

    /// Request data written into a file that is later imported or rendered:
    /// `f.write(x)` for `with open("m.py", "w") as f`, `open("m.py", "w").write(x)`,
    /// `Path("t.html").write_text(x)`. True when reported.
    fn check_code_file_write(
        &mut self,
        call: &'a ExprCall,
        method: &str,
        receiver: &'a Expr,
        args: &ArgTaints,
        name: Option<&str>,
    ) -> bool {
        let rule = match (method, receiver) {
            ("write" | "writelines", Expr::Name(n)) => {
                let id = n.id.as_str();
                self.code_files.iter().rev().find(|(v, _)| *v == id).map(|(_, r)| *r)
            }
            ("write" | "writelines", Expr::Call(_)) => self.code_file_opened(receiver),
            // `Path(d, "m.py")`, `Path(d).joinpath("m.py")`: `code_file_rule` takes only such calls.
            ("write_text" | "write_bytes", Expr::Call(_)) => Self::code_file_rule(receiver),
            _ => None,
        };
        let Some(rule) = rule else { return false };
        let Some((t, _)) = self.arg_taint(call, args, Some(0), &["data", "s"]) else {
            return false;
        };
        let kind = if rule == RuleId::TaintedCode { CODE } else { TEMPLATE };
        if t.kinds & kind & self.enabled == 0 {
            return false;
        }
        let role = if rule == RuleId::TaintedCode {
            "the contents of a Python module that is later imported"
        } else {
            "the contents of a template that is later rendered"
        };
        self.report(call, rule, t, role, name);
        true
    }

    /// A path sink: request data is STK803; an archive member name reaching a write is STK816.
    fn report_path(&mut self, call: &'a ExprCall, t: Taint, role: &str, write: bool, name: Option<&str>) -> bool {
        if t.kinds & PATH != 0 {
            self.report(call, RuleId::TaintedPath, t, role, name);
            true
        } else if t.kinds & ARCHIVE != 0 && write {
            self.report(
                call,
                RuleId::ZipSlip,
                t,
                "a file path, without a containment check",
                name,
            );
            true
        } else {
            false
        }
    }

    /// Whether the start of a URL expression is a constant that fixes where it goes
    /// (`"/profile/" + x`, `f"https://api.example.com/{x}"`, `BASE_URL + x`).
    fn origin_fixed(&mut self, expr: &'a Expr, kind: u16) -> bool {
        match expr {
            Expr::BinOp(b) if b.op == Operator::Add => {
                let mut lead = &*b.left;
                while let Expr::BinOp(inner) = lead {
                    if inner.op != Operator::Add {
                        break;
                    }
                    lead = &inner.left;
                }
                match lead {
                    Expr::StringLiteral(s) => prefix_fixes_origin(s.value.to_str(), kind),
                    Expr::FString(_) => self.origin_fixed(lead, kind),
                    other => !matches!(other, Expr::BinOp(_)) && self.eval(other).is_none(),
                }
            }
            Expr::BinOp(b) if b.op == Operator::Mod => match util::str_literal(&b.left) {
                // `"%s?next=%s" % (LOGIN_URL, url)`: a configured destination, the request's
                // data only in the query.
                Some(s) if s.starts_with("%s") && s[2..].starts_with(['?', '/', '#']) => {
                    let first = match &*b.right {
                        Expr::Tuple(t) => t.elts.first(),
                        other => Some(other),
                    };
                    first.is_some_and(|f| !util::is_literal(f) && self.eval(f).is_none())
                }
                Some(s) => prefix_fixes_origin(s.split('%').next().unwrap_or(""), kind),
                None => false,
            },
            Expr::Call(c) => match &*c.func {
                Expr::Attribute(a) if a.attr.as_str() == "format" => match util::str_literal(&a.value) {
                    // `"{}?next={}".format(LOGIN_URL, url)`, `"{base}?q={q}".format(base=..., q=...)`.
                    Some(s) if s.starts_with('{') => {
                        let Some(close) = s.find('}') else { return false };
                        if !s[close + 1..].starts_with(['?', '/', '#']) {
                            return false;
                        }
                        let field = &s[1..close];
                        let value = if field.is_empty() || field == "0" {
                            c.arguments.args.first()
                        } else {
                            c.arguments
                                .keywords
                                .iter()
                                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == field))
                                .map(|k| &k.value)
                        };
                        value.is_some_and(|v| !util::is_literal(v) && self.eval(v).is_none())
                    }
                    Some(s) => prefix_fixes_origin(s.split('{').next().unwrap_or(""), kind),
                    None => false,
                },
                _ => false,
            },
            Expr::FString(f) => {
                let mut prefix = String::new();
                for part in f.value.iter() {
                    match part {
                        ast::FStringPart::Literal(s) => prefix.push_str(&s.value),
                        ast::FStringPart::FString(fs) => {
                            for element in fs.elements.iter() {
                                match element {
                                    InterpolatedStringElement::Literal(l) => prefix.push_str(&l.value),
                                    InterpolatedStringElement::Interpolation(i) => {
                                        return if prefix.is_empty() {
                                            // `f"{BASE_URL}/{x}"`: a clean base chooses the origin.
                                            self.eval(&i.expression).is_none()
                                        } else {
                                            prefix_fixes_origin(&prefix, kind)
                                        };
                                    }
                                }
                            }
                        }
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn report(&mut self, call: &'a ExprCall, rule: RuleId, t: Taint, role: &str, name: Option<&str>) {
        if !self.checker.enabled(rule) {
            return;
        }
        let sink = self.sink_label(call, name);
        self.report_at(call.range(), &sink, rule, t, role);
    }

    /// Reports (or, when summarising, records) `t` reaching the sink `sink` at `range`.
    fn report_at(&mut self, range: ruff_text_size::TextRange, sink: &str, rule: RuleId, t: Taint, role: &str) {
        if !self.checker.enabled(rule) {
            return;
        }
        if self.summary.is_some() {
            // Summarising: the sink is recorded for the parameters that reach it (the body's own
            // sources were reported by the per-file pass).
            self.last_reported_kind = kind_of(rule);
            if t.params == 0 {
                return;
            }
            let at = range.start().to_u32();
            let kind = kind_of(rule) & !TAR_MEMBER;
            let what = format!("{sink} as {role}");
            let line = self.checker.index().line(range.start());
            let Some(acc) = self.summary.as_mut() else { return };
            match acc.hits.iter_mut().find(|h| h.at == at && h.rule == rule) {
                Some(hit) => hit.params |= t.params,
                None => acc.hits.push(Hit {
                    params: t.params,
                    kind,
                    rule,
                    what,
                    line,
                    at,
                }),
            }
            return;
        }
        if self.reported.contains(&range.start()) {
            return;
        }
        self.reported.push(range.start());
        self.last_reported_kind = kind_of(rule);
        let Some(source) = self.sources.get(t.src as usize) else {
            return;
        };
        let line = self.checker.index().line(source.at);
        let message = format!("{} (line {line}) reaches {sink} as {role}", source.label);
        let meta = rule.meta();
        let confidence = if t.flags & LOCAL != 0 {
            Level::Low
        } else {
            meta.confidence
        };
        self.checker
            .report_with(rule, range, meta.severity, confidence, message);
    }

    fn sink_label(&self, call: &ExprCall, name: Option<&str>) -> String {
        let text = self.checker.text(&*call.func);
        if text.len() <= 40 && !text.contains(['\n', '\r']) {
            return text.to_string();
        }
        match (name, &*call.func) {
            (Some(name), _) if name.len() <= 60 => name.to_string(),
            (_, Expr::Attribute(a)) => format!("….{}", a.attr.as_str()),
            _ => "a call".to_string(),
        }
    }
}

/// A function whose name says it validates its argument (`is_safe_path`, `is_valid_name`,
/// `is_within_directory`).
fn is_validator_name(name: &str) -> bool {
    name.strip_prefix("is_").is_some_and(|rest| {
        [
            "safe",
            "valid",
            "within",
            "inside",
            "subpath",
            "sub_path",
            "under",
            "contained",
        ]
        .iter()
        .any(|w| rest.starts_with(w))
    })
}

/// `str(x)`, `os.fspath(x)`: the same value for a check.
fn strip_wrappers(expr: &Expr) -> &Expr {
    match expr {
        Expr::Call(c) if c.arguments.args.len() == 1 && c.arguments.keywords.is_empty() => match last_name(&c.func) {
            Some("str" | "fspath") => strip_wrappers(&c.arguments.args[0]),
            _ => expr,
        },
        _ => expr,
    }
}

/// `open(p, mode)` / `path.open(mode)`: whether the mode (at `position`) writes.
fn open_writes_at(call: &ExprCall, position: usize) -> bool {
    match util::argument(call, "mode", position) {
        None => false,
        Some(mode) => match util::str_literal(mode) {
            Some(m) => m.contains(['w', 'a', 'x', '+']),
            None => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::{check_source, Level, Profile, RuleId, Settings};

    fn findings(code: &str, rules: &[&str]) -> Vec<crate::Finding> {
        let mut settings = Settings::new(Profile::Audit);
        settings
            .select(&rules.iter().map(|r| r.to_string()).collect::<Vec<_>>())
            .unwrap();
        check_source("t.py", code, &settings).findings
    }

    #[test]
    fn the_gate_skips_only_bodies_that_name_no_source() {
        use super::{is_handler_accessor, Gate};
        let gate = |code: &str| {
            let parsed = ruff_python_parser::parse_module(code).unwrap();
            let gate = Gate::of(code, parsed.tokens());
            let functions: Vec<bool> = parsed
                .syntax()
                .body
                .iter()
                .filter_map(|s| s.as_function_def_stmt())
                .map(|f| gate.may_taint(Some(f)))
                .collect();
            (gate.may_taint(None), functions)
        };
        assert_eq!(gate("def f(x):\n    return x\n"), (false, vec![false]));
        assert_eq!(
            gate("import sys\ndef f():\n    return 1\ndef g():\n    return sys.argv\n"),
            (true, vec![false, true])
        );
        // Request objects are also reached through aliases: every body is analysed.
        assert_eq!(
            gate("from flask import request as rq\ndef f():\n    return rq.args\n"),
            (true, vec![true])
        );
        assert_eq!(gate("x: 'é'\ndef f():\n    return 1\n"), (true, vec![true]));
        assert_eq!(
            gate("@app.get('/x')\ndef f(name):\n    return name\n"),
            (false, vec![true])
        );
        for name in [
            "get_argument",
            "get_arguments",
            "get_query_argument",
            "get_query_arguments",
            "get_body_argument",
            "get_body_arguments",
            "get_cookie",
        ] {
            assert!(is_handler_accessor(name), "{name}");
            let code = format!("def f(self):\n    return self.{name}('x')\n");
            assert_eq!(gate(&code), (true, vec![true]), "{name}");
        }
    }

    /// The gate mirrors, by name, what the engine treats as a source: a source added to the
    /// engine and not to the gate would be skipped silently. Each fixture must give the same
    /// findings with the gate as without it: whole, and cut into snippets that name few sources
    /// (each top-level statement, and each statement of each function and method under its own
    /// header, with only the imports it uses).
    #[test]
    fn the_gate_changes_no_finding_on_any_fixture() {
        use ruff_python_ast::{Stmt, StmtFunctionDef};
        use ruff_text_size::Ranged;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "py"))
            .collect();
        files.sort();
        assert!(files.len() > 50, "fixtures not found in {}", dir.display());
        let gated = Settings::new(Profile::Audit);
        let mut open = gated.clone();
        open.taint_gate = false;
        let show = |f: &[crate::Finding]| {
            f.iter()
                .map(|f| format!("{}:{}:{}", f.rule.meta().id, f.line, f.column))
                .collect::<Vec<_>>()
        };
        let (mut snippets, mut taint_findings) = (0, 0);
        for file in &files {
            let code = std::fs::read_to_string(file).unwrap();
            let name = file.file_name().unwrap().to_str().unwrap();
            let Ok(parsed) = ruff_python_parser::parse_module(&code) else {
                continue;
            };
            let body = &parsed.syntax().body;
            // The names each import binds: a snippet gets only the imports it uses (a file-wide
            // `from flask import request` would open the gate for every snippet).
            let imports: Vec<(Vec<String>, &str)> = body
                .iter()
                .filter_map(|s| {
                    let names: Vec<String> = match s {
                        Stmt::Import(i) => i
                            .names
                            .iter()
                            .map(|a| {
                                a.asname
                                    .as_ref()
                                    .unwrap_or(&a.name)
                                    .split('.')
                                    .next()
                                    .unwrap()
                                    .to_string()
                            })
                            .collect(),
                        Stmt::ImportFrom(i) => i
                            .names
                            .iter()
                            .map(|a| a.asname.as_ref().unwrap_or(&a.name).to_string())
                            .collect(),
                        _ => return None,
                    };
                    Some((names, &code[s.range()]))
                })
                .collect();
            let with_imports = |snippet: String| {
                let words: std::collections::HashSet<&str> =
                    snippet.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
                let mut out: String = imports
                    .iter()
                    .filter(|(names, _)| names.iter().any(|n| n == "*" || words.contains(n.as_str())))
                    .map(|(_, text)| format!("{text}\n"))
                    .collect();
                out.push_str(&snippet);
                out
            };
            let line_start = |at: ruff_text_size::TextSize| code[..at.to_usize()].rfind('\n').map_or(0, |i| i + 1);
            let header = |outer: &dyn Ranged, first: &Stmt| &code[line_start(outer.start())..line_start(first.start())];
            let tail = |s: &Stmt| &code[line_start(s.start())..s.end().to_usize()];
            let mut cases = vec![code.clone()];
            for stmt in body.iter().filter(|s| !(s.is_import_stmt() || s.is_import_from_stmt())) {
                cases.push(with_imports(format!("{}\n", tail(stmt))));
                let functions: Vec<(&str, &StmtFunctionDef)> = match stmt {
                    Stmt::FunctionDef(f) => vec![("", f)],
                    Stmt::ClassDef(c) => c
                        .body
                        .iter()
                        .filter_map(|m| m.as_function_def_stmt())
                        .map(|m| (header(stmt, &c.body[0]), m))
                        .collect(),
                    _ => Vec::new(),
                };
                for (class_header, function) in functions {
                    let head = header(function, &function.body[0]);
                    for inner in &function.body {
                        cases.push(with_imports(format!("{class_header}{head}{}\n", tail(inner))));
                    }
                }
            }
            for case in &cases {
                let with = check_source(name, case, &gated).findings;
                let without = check_source(name, case, &open).findings;
                assert_eq!(
                    show(&with),
                    show(&without),
                    "{name}: the gate changed the findings of\n{case}"
                );
                taint_findings += with.iter().filter(|f| f.rule.meta().id.starts_with("STK8")).count();
                snippets += 1;
            }
        }
        assert!(
            snippets > 500 && taint_findings > 50,
            "{snippets} snippets, {taint_findings} taint findings"
        );
    }

    #[test]
    fn aliased_request_objects_are_still_sources() {
        let code = "from flask import request as rq\ndef f(cur):\n    cur.execute('SELECT ' + rq.args['q'])\n";
        assert_eq!(findings(code, &["STK801"]).len(), 1);
        let code = "from starlette.requests import Request as R\ndef f(r: R, cur):\n    cur.execute('SELECT ' + r.query_params['q'])\n";
        assert_eq!(findings(code, &["STK801"]).len(), 1);
    }

    #[test]
    fn message_names_source_and_sink() {
        let code =
            "from flask import request\ndef f(cur):\n    q = request.args['q']\n    cur.execute('SELECT ' + q)\n";
        let f = findings(code, &["STK801"]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 4);
        assert_eq!(
            f[0].message,
            "request.args (line 3) reaches cur.execute as the SQL text"
        );
        assert_eq!(f[0].confidence, RuleId::TaintedSql.meta().confidence);
    }

    #[test]
    fn local_sources_are_low_confidence_and_skip_paths() {
        let code = "import os, sys, subprocess\nprog = os.environ.get('EDITOR')\nsubprocess.call([prog, 'x'])\nopen(sys.argv[1])\n";
        let f = findings(code, &["STK802", "STK803"]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, RuleId::TaintedCommand);
        assert_eq!(f[0].confidence, Level::Low);
    }

    #[test]
    fn each_sink_once_and_no_cascade() {
        let code = "from flask import request\nfrom sqlalchemy import text\ndef f(db):\n    q = request.args['q']\n    for _ in range(3):\n        db.execute(text('SELECT ' + q))\n";
        let f = findings(code, &["STK801"]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("reaches text"), "{}", f[0].message);
    }

    #[test]
    fn nested_functions_are_their_own_bodies() {
        // The outer body's taint does not leak into the nested def (no closures), and the nested
        // def's own sources are found when the checker analyses it.
        let code = "import os\nfrom flask import request\ndef outer():\n    cmd = request.args['c']\n    def inner():\n        os.system(cmd)\n        os.system(request.args['d'])\n    return inner\n";
        let f = findings(code, &["STK802"]);
        assert_eq!(f.iter().map(|f| f.line).collect::<Vec<_>>(), vec![7]);
    }

    #[test]
    fn disabled_rules_cost_nothing_and_report_nothing() {
        let code = "import os\nfrom flask import request\nos.system(request.args['c'])\n";
        assert!(findings(code, &["STK801"]).is_empty());
        assert_eq!(findings(code, &["STK802"]).len(), 1);
    }
}
