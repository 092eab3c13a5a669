//! Policy file → [`Policy`]: a raw serde model first, the validated policy second.
//!
//! Parsing runs in three passes so that every error can name both a line and a key:
//!
//! 1. The document is read into a [`Node`] tree that holds nothing but the spans of keys
//!    and values. Syntax errors surface here.
//! 2. `toml` deserializes [`RawPolicy`] (`deny_unknown_fields`). Its errors carry a span
//!    but no key path, so the path is recovered by finding that span in the tree.
//! 3. The raw values are applied over the chosen profile and [`Policy`]'s rules run. Those
//!    errors carry a key path but no span, so the span is looked up by path in the tree.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::PolicyError;
use crate::guard::{check_endpoint, check_guard_path, check_module, Guard};
use crate::model::{
    check_env_name, key_path, unknown_profile, unsupported_version, Bind, Issue, NetworkMode, Policy, SecretSpec, Seg,
    VERSION,
};
use crate::net::{NetAllow, JAIL_BUNDLE, NETWORK_MODULES, PROXY_PORT};
use crate::units::{parse_duration, parse_size};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    version: i64,
    extends: Option<String>,
    python: Option<RawPython>,
    limits: Option<RawLimits>,
    env: Option<RawEnv>,
    network: Option<RawNetwork>,
    secrets: Option<BTreeMap<String, RawSecret>>,
    filesystem: Option<RawFilesystem>,
    isolation: Option<RawIsolation>,
    check: Option<RawCheck>,
    guard: Option<RawGuard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCheck {
    prescreen: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPython {
    interpreter: Option<String>,
    venv: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    wall_time: Option<RawQuantity>,
    cpu_time: Option<RawQuantity>,
    memory: Option<RawQuantity>,
    processes: Option<i64>,
    file_size: Option<RawQuantity>,
    scratch: Option<RawQuantity>,
    open_files: Option<i64>,
    output: Option<RawQuantity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEnv {
    set: Option<BTreeMap<String, String>>,
    pass: Option<Vec<String>>,
    unset: Option<Vec<String>>,
    secret: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSecret {
    from: String,
    hosts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNetwork {
    mode: Option<String>,
    allow: Option<Vec<String>>,
    max_connections: Option<i64>,
    max_bytes: Option<RawQuantity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFilesystem {
    read_only: Option<Vec<RawBind>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBind {
    host: String,
    jail: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawIsolation {
    allow_degraded: Option<bool>,
    hostname: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGuard {
    enabled: Option<bool>,
    mode: Option<String>,
    on_violation: Option<String>,
    record: Option<Vec<String>>,
    imports: Option<RawImports>,
    files: Option<RawFileRules>,
    network: Option<RawNetRules>,
    rules: Option<RawClassRules>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawImports {
    replace: Option<bool>,
    default: Option<String>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    venv: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFileRules {
    replace: Option<bool>,
    read: Option<Vec<String>>,
    write: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNetRules {
    replace: Option<bool>,
    connect: Option<Vec<String>>,
    bind: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClassRules {
    process: Option<String>,
    code: Option<String>,
    code_objects: Option<String>,
    deserialize: Option<String>,
    introspection: Option<String>,
    ctypes: Option<String>,
    env: Option<String>,
    signal: Option<String>,
}

/// A size or duration as written: a string with a unit, or a bare number.
enum RawQuantity {
    Int(i64),
    Float(f64),
    Str(String),
}

impl RawQuantity {
    /// The text the unit parsers understand; a bare number means bytes or seconds.
    fn text(&self) -> String {
        match self {
            RawQuantity::Int(i) => i.to_string(),
            // `{}` prints the shortest text that reads back as the same float, so 2.5
            // becomes "2.5" rather than 2.4999….
            RawQuantity::Float(f) => f.to_string(),
            RawQuantity::Str(s) => s.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for RawQuantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawQuantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string with a unit such as \"512M\" or \"10s\"")
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawQuantity, E> {
                Ok(RawQuantity::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawQuantity, E> {
                i64::try_from(v)
                    .map(RawQuantity::Int)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawQuantity, E> {
                Ok(RawQuantity::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawQuantity, E> {
                Ok(RawQuantity::Str(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawQuantity, A::Error> {
                // `toml` passes a date or time as a map with one private key.
                let found = match map.next_key::<String>()? {
                    Some(k) if k.contains("datetime") => "a date-time",
                    _ => "a table",
                };
                Err(de::Error::invalid_type(de::Unexpected::Other(found), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// The shape of the document with the span of every key and value, and nothing else.
#[derive(Debug, Default)]
enum Node {
    #[default]
    Leaf,
    Array(Vec<SpannedNode>),
    Table(Vec<(SpannedKey, SpannedNode)>),
}

/// A [`Node`] and, where `toml` knows it, its span.
///
/// `toml::Spanned` cannot be used here: `toml` has no span for some items (keys and
/// values of `[[array.of-tables]]` headers) and then fails instead of falling back to the
/// plain value. So this speaks the `serde_spanned` protocol itself and accepts a plain
/// value too; the pinned `toml` version and the fixture snapshots guard the protocol.
#[derive(Debug, Default)]
struct SpannedNode {
    span: Option<Range<usize>>,
    node: Node,
}

/// A table key and, where `toml` knows it, its span.
#[derive(Debug)]
struct SpannedKey {
    name: String,
    span: Option<Range<usize>>,
}

const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_FIELDS: &[&str] = &[
    "$__serde_spanned_private_start",
    "$__serde_spanned_private_end",
    "$__serde_spanned_private_value",
];
/// How `toml` passes a date or time through serde: a map with this single key.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// Reads the `serde_spanned` protocol (`start`, `end`, `value`) after its first key.
fn read_spanned<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: A,
) -> Result<(T, Option<Range<usize>>), A::Error> {
    let start = map.next_value::<usize>()?;
    let (mut end, mut value) = (None, None);
    while let Some(field) = map.next_key::<String>()? {
        if field == SPANNED_FIELDS[1] {
            end = Some(map.next_value::<usize>()?);
        } else {
            value = Some(map.next_value::<T>()?);
        }
    }
    let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
    Ok((value, end.map(|end| start..end)))
}

impl<'de> Deserialize<'de> for SpannedKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SpannedKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table key")
            }
            fn visit_str<E>(self, v: &str) -> Result<SpannedKey, E> {
                Ok(SpannedKey {
                    name: v.to_owned(),
                    span: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpannedKey, A::Error> {
                match map.next_key::<String>()? {
                    Some(f) if f == SPANNED_FIELDS[0] => {
                        let (name, span) = read_spanned(map)?;
                        Ok(SpannedKey { name, span })
                    }
                    _ => Err(de::Error::custom("expected a table key")),
                }
            }
        }
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, V)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = SpannedNode;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<SpannedNode, E> {
        Ok(SpannedNode::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<SpannedNode, E> {
        Ok(SpannedNode::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<SpannedNode, E> {
        Ok(SpannedNode::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<SpannedNode, E> {
        Ok(SpannedNode::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<SpannedNode, E> {
        Ok(SpannedNode::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SpannedNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(SpannedNode {
            span: None,
            node: Node::Array(items),
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpannedNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<SpannedKey>()? {
            if key.name == SPANNED_FIELDS[0] && entries.is_empty() {
                let (node, span) = read_spanned::<A, Node>(map)?;
                return Ok(SpannedNode { span, node });
            }
            if key.name == DATETIME_KEY {
                map.next_value::<String>()?;
                return Ok(SpannedNode::default());
            }
            entries.push((key, map.next_value()?));
        }
        Ok(SpannedNode {
            span: None,
            node: Node::Table(entries),
        })
    }
}

impl<'de> Deserialize<'de> for SpannedNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(d.deserialize_any(NodeVisitor)?.node)
    }
}

impl Node {
    /// The span of the value (or, with `key`, of the key) at `path`.
    fn span_of(&self, path: &[Seg], key: bool) -> Option<Range<usize>> {
        let (first, rest) = path.split_first()?;
        let (k, v) = match (self, first) {
            (Node::Table(entries), Seg::Key(name)) => {
                let (k, v) = entries.iter().find(|(k, _)| k.name == *name)?;
                (k.span.clone().or_else(|| v.span.clone()), v)
            }
            (Node::Array(items), Seg::Index(i)) => {
                let v = items.get(*i)?;
                (v.span.clone(), v)
            }
            _ => return None,
        };
        if rest.is_empty() {
            if key {
                k
            } else {
                v.span.clone()
            }
        } else {
            v.node.span_of(rest, key)
        }
    }

    /// The path of the innermost key or value whose span covers `span`.
    fn path_at(&self, span: &Range<usize>) -> Option<Vec<Seg>> {
        let covers = |outer: &Range<usize>| outer.start <= span.start && span.end <= outer.end;
        let children: Vec<(Seg, Option<Range<usize>>, &SpannedNode)> = match self {
            Node::Leaf => return None,
            Node::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), None, v))
                .collect(),
            Node::Table(entries) => entries
                .iter()
                .map(|(k, v)| (Seg::Key(k.name.clone()), k.span.clone(), v))
                .collect(),
        };
        for (seg, key_span, value) in children {
            if key_span.as_ref().is_some_and(covers) {
                return Some(vec![seg]);
            }
            if let Some(mut inner) = value.node.path_at(span) {
                inner.insert(0, seg);
                return Some(inner);
            }
            if value.span.as_ref().is_some_and(covers) {
                return Some(vec![seg]);
            }
        }
        None
    }
}

/// Everything needed to turn a problem into a [`PolicyError`] that points into the file.
struct Source<'a> {
    src: &'a str,
    file: &'a str,
    tree: Node,
}

impl Source<'_> {
    fn error(&self, offset: Option<usize>, key: Option<String>, reason: String) -> PolicyError {
        let (line, column) = match offset {
            Some(offset) => {
                let (l, c) = line_col(self.src, offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        PolicyError {
            file: self.file.to_owned(),
            line,
            column,
            key: key.filter(|k| !k.is_empty()),
            reason,
        }
    }

    fn issue(&self, issue: Issue) -> PolicyError {
        let offset = self.tree.span_of(&issue.path, issue.at_key).map(|s| s.start);
        let key = issue.key();
        self.error(offset, Some(key), issue.reason)
    }

    fn toml_error(&self, e: &toml::de::Error) -> PolicyError {
        let span = e.span();
        let message = e.message().trim();
        if let Some(field) = between(message, "missing field `", "`") {
            // The span is the table that lacks the key, or the whole document.
            let table = span.filter(|s| !(s.start == 0 && s.end >= self.src.len()));
            let mut path = table.as_ref().and_then(|s| self.tree.path_at(s)).unwrap_or_default();
            path.push(Seg::key(field));
            let reason = "required key is missing".to_owned();
            return self.error(table.map(|s| s.start), Some(key_path(&path)), reason);
        }
        let path = span.as_ref().and_then(|s| self.tree.path_at(s));
        let key = path.map(|p| key_path(&p));
        self.error(span.map(|s| s.start), key, friendly(message))
    }
}

/// Rewrites serde's wording into the policy file's (keys, not fields).
fn friendly(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `x`, expected one of `a`, `b`" or "..., expected `a` or `b`"
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        let allowed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return format!("unknown key (allowed keys: {})", allowed.join(", "));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let expected = match expected {
                "i64" | "u32" | "u64" => "an integer",
                "a boolean" | "bool" => "a boolean (true or false)",
                "a sequence" => "an array",
                "a map" => "a table",
                e if e.starts_with("struct ") => "a table",
                e => e,
            };
            return format!("expected {expected}, found {found}");
        }
    }
    // Syntax errors span several lines ("invalid key\nexpected `=`"); keep them on one.
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(start)?;
    Some(&rest[..rest.find(end)?])
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

impl Policy {
    /// Parses a policy file; `file_name` is only used in error messages.
    pub fn from_toml(src: &str, file_name: &str) -> Result<Policy, PolicyError> {
        let mut source = Source {
            src,
            file: file_name,
            tree: Node::Leaf,
        };
        // Pass 1: syntax, and the span tree. A datetime value is valid TOML but cannot be
        // read into `Node`; it is never valid in a policy, and pass 2 reports it.
        if let Err(e) = toml::from_str::<toml::Table>(src) {
            return Err(source.toml_error(&e));
        }
        source.tree = toml::from_str::<Node>(src).unwrap_or_default();
        // Pass 2: shape and types.
        let raw = toml::from_str::<RawPolicy>(src).map_err(|e| source.toml_error(&e))?;
        // Pass 3: values and rules.
        let policy = apply(raw).map_err(|issue| source.issue(issue))?;
        match policy.first_issue() {
            None => Ok(policy),
            Some(issue) => Err(source.issue(issue)),
        }
    }

    /// Reads and parses the policy file at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let src = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::new(&*file, format!("cannot read policy file: {e}")))?;
        Policy::from_toml(&src, &file)
    }
}

/// Applies the raw file over its profile. Only conversions happen here; range rules run
/// afterwards on the whole policy.
fn apply(raw: RawPolicy) -> Result<Policy, Issue> {
    if raw.version != i64::from(VERSION) {
        return Err(Issue::new(&["version"], unsupported_version(raw.version)));
    }
    let extends = raw.extends.unwrap_or_else(|| Policy::PROFILES[0].to_owned());
    let mut policy = Policy::profile(&extends).ok_or_else(|| Issue::new(&["extends"], unknown_profile(&extends)))?;

    if let Some(python) = raw.python {
        if let Some(p) = python.interpreter {
            policy.python.interpreter = Some(PathBuf::from(p));
        }
        if let Some(p) = python.venv {
            policy.python.venv = Some(PathBuf::from(p));
        }
    }

    if let Some(l) = raw.limits {
        let limits = &mut policy.limits;
        let duration =
            |key: &str, q: RawQuantity| parse_duration(&q.text()).map_err(|e| Issue::new(&["limits", key], e));
        let size = |key: &str, q: RawQuantity| {
            if let RawQuantity::Float(_) = q {
                let e = "a size must be a whole number of bytes or a string such as \"1.5G\"";
                return Err(Issue::new(&["limits", key], e.to_owned()));
            }
            parse_size(&q.text()).map_err(|e| Issue::new(&["limits", key], e))
        };
        // Out-of-range counts get the same message as `Policy::validate` gives.
        let count = |key: &str, n: i64, range: &str| {
            u32::try_from(n).map_err(|_| Issue::new(&["limits", key], format!("must be between {range}")))
        };
        if let Some(q) = l.wall_time {
            limits.wall_time = duration("wall-time", q)?;
        }
        if let Some(q) = l.cpu_time {
            limits.cpu_time = duration("cpu-time", q)?;
        }
        if let Some(q) = l.memory {
            limits.memory = size("memory", q)?;
        }
        if let Some(n) = l.processes {
            limits.processes = count("processes", n, "1 and 65536")?;
        }
        if let Some(q) = l.file_size {
            limits.file_size = size("file-size", q)?;
        }
        if let Some(q) = l.scratch {
            limits.scratch = size("scratch", q)?;
        }
        if let Some(n) = l.open_files {
            limits.open_files = count("open-files", n, "16 and 1048576")?.into();
        }
        if let Some(q) = l.output {
            limits.output = size("output", q)?;
        }
    }

    if let Some(env) = raw.env {
        apply_env(&mut policy, env)?;
    }

    if let Some(network) = raw.network {
        apply_network(&mut policy, network)?;
    }
    for (name, secret) in raw.secrets.unwrap_or_default() {
        let hosts = secret.hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        policy.secrets.insert(
            name,
            SecretSpec {
                from: secret.from,
                hosts,
            },
        );
    }

    if let Some(fs) = raw.filesystem {
        for bind in fs.read_only.unwrap_or_default() {
            policy.filesystem.read_only.push(Bind {
                host: PathBuf::from(bind.host),
                jail: PathBuf::from(bind.jail),
            });
        }
    }

    if let Some(iso) = raw.isolation {
        if let Some(b) = iso.allow_degraded {
            policy.isolation.allow_degraded = b;
        }
        if let Some(h) = iso.hostname {
            policy.isolation.hostname = h;
        }
    }

    if let Some(check) = raw.check {
        if let Some(b) = check.prescreen {
            policy.check.prescreen = b;
        }
    }

    if let Some(guard) = raw.guard {
        apply_guard(&mut policy.guard, guard)?;
    }
    Ok(policy)
}

/// `[network]`. An allow list implies `mode = "proxy"`. With the proxy on, the profile's
/// guard lets code import the network modules and connect to the proxy (and only to it), so
/// ordinary `urllib`, `requests` or `pip` work; the file's `[guard]` section, applied after
/// this, can still take that back.
fn apply_network(policy: &mut Policy, raw: RawNetwork) -> Result<(), Issue> {
    let net = &mut policy.network;
    if let Some(mode) = raw.mode {
        net.mode = match mode.as_str() {
            "none" => NetworkMode::None,
            "proxy" => NetworkMode::Proxy,
            other => {
                return Err(Issue::new(
                    &["network", "mode"],
                    format!("network mode {other:?} is not supported: \"none\" (loopback only) or \"proxy\" (the host proxy, to what network.allow names)"),
                ))
            }
        };
    } else if raw.allow.is_some() {
        net.mode = NetworkMode::Proxy;
    }
    for (i, entry) in raw.allow.unwrap_or_default().iter().enumerate() {
        let parsed = NetAllow::parse(entry).map_err(|reason| Issue {
            path: vec![Seg::key("network"), Seg::key("allow"), Seg::Index(i)],
            reason,
            at_key: false,
        })?;
        net.allow.push(parsed);
    }
    if let Some(n) = raw.max_connections {
        net.max_connections = u32::try_from(n)
            .map_err(|_| Issue::new(&["network", "max-connections"], "must be from 1 to 10000".into()))?;
    }
    if let Some(q) = raw.max_bytes {
        if let RawQuantity::Float(_) = q {
            let e = "a size must be a whole number of bytes or a string such as \"256M\"";
            return Err(Issue::new(&["network", "max-bytes"], e.to_owned()));
        }
        net.max_bytes = parse_size(&q.text()).map_err(|e| Issue::new(&["network", "max-bytes"], e))?;
    }
    if net.egress() {
        let imports = &mut policy.guard.imports;
        imports.deny.retain(|m| !NETWORK_MODULES.contains(&m.as_str()));
        for m in NETWORK_MODULES {
            if !imports.allow.iter().any(|a| a == m) {
                imports.allow.push((*m).to_owned());
            }
        }
        let proxy = format!("127.0.0.1:{PROXY_PORT}");
        if !policy.guard.network.connect.contains(&proxy) {
            policy.guard.network.connect.push(proxy);
        }
        let bundle = JAIL_BUNDLE.to_owned();
        if !policy.guard.files.read.contains(&bundle) {
            policy.guard.files.read.push(bundle);
        }
    }
    Ok(())
}

/// The key path `guard.{path}` with an optional array index.
fn guard_path(path: &[&str], index: Option<usize>) -> Vec<Seg> {
    let keys = std::iter::once("guard").chain(path.iter().copied()).map(Seg::key);
    keys.chain(index.map(Seg::Index)).collect()
}

/// Parses a name such as `"deny"` at `guard.{path}`.
fn guard_name<T: FromStr<Err = String>>(path: &[&str], value: &str) -> Result<T, Issue> {
    value.parse().map_err(|reason| Issue {
        path: guard_path(path, None),
        reason,
        at_key: false,
    })
}

/// Checks each entry of the file's list at `guard.{path}`, so that errors point into the
/// file rather than into the merged list.
fn guard_entries(path: &[&str], items: &[String], check: fn(&str) -> Result<(), String>) -> Result<(), Issue> {
    for (i, item) in items.iter().enumerate() {
        check(item).map_err(|reason| Issue {
            path: guard_path(path, Some(i)),
            reason,
            at_key: false,
        })?;
    }
    Ok(())
}

/// Appends the file's entries that the list lacks, keeping order (so that merging a list
/// with itself changes nothing); with `replace`, the file's list is the whole list.
fn merge(list: &mut Vec<String>, items: Vec<String>, replace: bool) {
    if replace {
        list.clear();
    }
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Scalars replace the profile's values. Lists are appended to the profile's, or replace
/// them with `replace = true` in their table. A module named in the file's `imports.allow`
/// is taken out of the profile's `imports.deny` and the other way round, so the merged
/// lists never name a module twice; the file may not name a module in both.
fn apply_guard(guard: &mut Guard, raw: RawGuard) -> Result<(), Issue> {
    if let Some(b) = raw.enabled {
        guard.enabled = b;
    }
    if let Some(m) = raw.mode {
        guard.mode = guard_name(&["mode"], &m)?;
    }
    if let Some(v) = raw.on_violation {
        guard.on_violation = guard_name(&["on-violation"], &v)?;
    }
    for (i, name) in raw.record.unwrap_or_default().iter().enumerate() {
        let class = guard_name(&["record"], name).map_err(|issue| Issue {
            path: guard_path(&["record"], Some(i)),
            ..issue
        })?;
        if !guard.record.contains(&class) {
            guard.record.push(class);
        }
    }

    if let Some(imports) = raw.imports {
        let rules = &mut guard.imports;
        let replace = imports.replace.unwrap_or(false);
        if let Some(d) = imports.default {
            rules.default = guard_name(&["imports", "default"], &d)?;
        }
        if let Some(b) = imports.venv {
            rules.venv = b;
        }
        // `replace` applies to the lists the file gives; an absent list keeps the profile's.
        let (replace_allow, replace_deny) = (replace && imports.allow.is_some(), replace && imports.deny.is_some());
        let allow = imports.allow.unwrap_or_default();
        let deny = imports.deny.unwrap_or_default();
        guard_entries(&["imports", "allow"], &allow, check_module)?;
        guard_entries(&["imports", "deny"], &deny, check_module)?;
        if let Some(i) = allow.iter().position(|m| deny.contains(m)) {
            return Err(Issue {
                path: guard_path(&["imports", "allow"], Some(i)),
                reason: format!(
                    "{:?} is also in guard.imports.deny; a module is either allowed or denied",
                    allow[i]
                ),
                at_key: false,
            });
        }
        rules.deny.retain(|m| !allow.contains(m));
        merge(&mut rules.allow, allow, replace_allow);
        rules.allow.retain(|m| !deny.contains(m));
        merge(&mut rules.deny, deny, replace_deny);
    }

    if let Some(files) = raw.files {
        let replace = files.replace.unwrap_or(false);
        for (key, items, list) in [
            ("read", files.read, &mut guard.files.read),
            ("write", files.write, &mut guard.files.write),
        ] {
            if let Some(items) = items {
                guard_entries(&["files", key], &items, check_guard_path)?;
                merge(list, items, replace);
            }
        }
    }

    if let Some(network) = raw.network {
        let replace = network.replace.unwrap_or(false);
        for (key, items, list) in [
            ("connect", network.connect, &mut guard.network.connect),
            ("bind", network.bind, &mut guard.network.bind),
        ] {
            if let Some(items) = items {
                guard_entries(&["network", key], &items, check_endpoint)?;
                merge(list, items, replace);
            }
        }
    }

    if let Some(r) = raw.rules {
        let given = [
            ("process", r.process),
            ("code", r.code),
            ("code-objects", r.code_objects),
            ("deserialize", r.deserialize),
            ("introspection", r.introspection),
            ("ctypes", r.ctypes),
            ("env", r.env),
            ("signal", r.signal),
        ];
        for (key, value) in given {
            if let (Some(value), Some(slot)) = (value, guard.rules.slot(key)) {
                *slot = guard_name(&["rules", key], &value)?;
            }
        }
    }
    Ok(())
}

/// `unset` removes profile variables, `set` is merged over them (the file wins), and a
/// name in `pass` takes precedence over a value the profile sets.
fn apply_env(policy: &mut Policy, env: RawEnv) -> Result<(), Issue> {
    let at = |key: &str, i: usize| Issue {
        path: vec![Seg::key("env"), Seg::key(key), Seg::Index(i)],
        reason: String::new(),
        at_key: false,
    };
    let set = env.set.unwrap_or_default();
    for (i, name) in env.unset.unwrap_or_default().into_iter().enumerate() {
        if let Err(reason) = check_env_name(&name) {
            return Err(Issue {
                reason,
                ..at("unset", i)
            });
        }
        if set.contains_key(&name) {
            return Err(Issue {
                reason: format!("`{name}` is also in env.set"),
                ..at("unset", i)
            });
        }
        policy.env.set.remove(&name);
    }
    let pass = env.pass.unwrap_or_default();
    for (i, name) in pass.iter().enumerate() {
        if set.contains_key(name) {
            return Err(Issue {
                reason: format!("`{name}` is also in env.set; a variable is either set or passed"),
                ..at("pass", i)
            });
        }
        policy.env.set.remove(name);
    }
    policy.env.set.extend(set);
    for name in pass {
        if !policy.env.pass.contains(&name) {
            policy.env.pass.push(name);
        }
    }
    for name in env.secret.unwrap_or_default() {
        if !policy.env.secret.contains(&name) {
            policy.env.secret.push(name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ClassRules, Decision, EventClass, GuardMode, ImportDefault, OnViolation, RESERVED_ENV};

    fn parse(src: &str) -> Result<Policy, PolicyError> {
        Policy::from_toml(src, "policy.toml")
    }

    fn err(src: &str) -> PolicyError {
        parse(src).expect_err("policy should be rejected")
    }

    #[test]
    fn minimal_file_is_the_strict_profile() {
        assert_eq!(parse("version = 1\n"), Ok(Policy::strict()));
    }

    #[test]
    fn extends_data() {
        let p = parse("version = 1\nextends = \"data\"\n").unwrap();
        assert_eq!(p, Policy::data());
    }

    #[test]
    fn limits_override_only_given_keys() {
        let p = parse("version = 1\nextends = \"data\"\n[limits]\nmemory = \"1G\"\n").unwrap();
        assert_eq!(p.limits.memory, 1 << 30);
        assert_eq!(p.limits.wall_time, Duration::from_secs(60));
        assert_eq!(p.limits.processes, 256);
    }

    #[test]
    fn bare_numbers() {
        let src = "version = 1\n[limits]\nwall-time = 2.5\ncpu-time = 3\nmemory = 33554432\n";
        let p = parse(src).unwrap();
        assert_eq!(p.limits.wall_time, Duration::from_millis(2500));
        assert_eq!(p.limits.cpu_time, Duration::from_secs(3));
        assert_eq!(p.limits.memory, 32 << 20);
        let e = err("version = 1\n[limits]\nmemory = 1.5\n");
        assert!(e.reason.contains("whole number of bytes"), "{e}");
    }

    #[test]
    fn env_merge() {
        let src = r#"
version = 1
[env]
set = { LANG = "en_US.UTF-8", FOO = "bar" }
pass = ["TZ", "HOME"]
unset = ["PATH"]
"#;
        let p = parse(src).unwrap();
        let set: Vec<_> = p.env.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // LANG overridden, FOO added, HOME passed instead of set, PATH removed.
        assert_eq!(set, ["FOO=bar", "LANG=en_US.UTF-8"]);
        assert_eq!(p.env.pass, ["TZ", "HOME"]);
    }

    #[test]
    fn env_conflicts() {
        let e = err("version = 1\n[env]\nset = { TZ = \"UTC\" }\nunset = [\"TZ\"]\n");
        assert_eq!(e.key.as_deref(), Some("env.unset[0]"));
        let e = err("version = 1\n[env]\nunset = [\"LD_AUDIT\"]\n");
        assert!(e.reason.contains("controlled by stockade"), "{e}");
    }

    #[test]
    fn every_reserved_env_name_is_rejected() {
        for name in RESERVED_ENV.iter().chain(&["LD_PRELOAD", "LD_LIBRARY_PATH"]) {
            let e = err(&format!("version = 1\n[env]\nset = {{ {name} = \"x\" }}\n"));
            assert_eq!(e.reason, format!("`{name}` is controlled by stockade"));
            assert_eq!(e.key, Some(format!("env.set.{name}")));
            let e = err(&format!("version = 1\n[env]\npass = [\"{name}\"]\n"));
            assert_eq!(e.key.as_deref(), Some("env.pass[0]"));
        }
        for bad in ["1X", "A-B", "A B", ""] {
            let e = err(&format!("version = 1\n[env]\nset = {{ \"{bad}\" = \"x\" }}\n"));
            assert!(e.reason.contains("invalid variable name"), "{e}");
        }
        assert!(parse("version = 1\n[env]\nset = { _a1 = \"x\", ld_x = \"y\" }\n").is_ok());
    }

    #[test]
    fn error_positions() {
        let e = err("version = 1\n\n[limits]\ncpu-time = \"1s\"\nmemory  =  \"12X\"\n");
        assert_eq!((e.line, e.column), (Some(5), Some(12)));
        assert_eq!(
            e.to_string(),
            r#"policy.toml:5:12: limits.memory: invalid size "12X": unknown suffix "X" (use K, M, G or T)"#
        );
        // Columns count characters, not bytes.
        let e = err("version = 1\n[env]\nset = { \u{e9}t\u{e9} = \"x\" }\n");
        assert_eq!((e.line, e.column), (Some(3), Some(9)));
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_allowed_ones() {
        let e = err("version = 1\n[python]\ninterpreter = \"/usr/bin/python3\"\npath = \"/x\"\n");
        assert_eq!(e.key.as_deref(), Some("python.path"));
        assert_eq!(e.reason, "unknown key (allowed keys: interpreter, venv)");
        assert_eq!((e.line, e.column), (Some(4), Some(1)));
        let e = err("version = 1\n[sandbox]\n");
        assert_eq!(e.key.as_deref(), Some("sandbox"));
    }

    #[test]
    fn network_modes() {
        assert!(parse("version = 1\n[network]\nmode = \"none\"\n").is_ok());
        for mode in ["host", "egress", "None"] {
            let e = err(&format!("version = 1\n[network]\nmode = \"{mode}\"\n"));
            assert!(e.reason.contains("\"none\" (loopback only) or \"proxy\""), "{e}");
        }
    }

    #[test]
    fn network_allow_implies_the_proxy_and_opens_the_guard_to_it() {
        let p = parse("version = 1\n[network]\nallow = [\"pypi.org:443\", \"127.0.0.1:8080\"]\nmax-bytes = \"1M\"\n")
            .unwrap();
        assert!(p.network.egress());
        assert_eq!(p.network.allow.len(), 2);
        assert_eq!(p.network.max_bytes, 1 << 20);
        assert!(p.guard.imports.allow.iter().any(|m| m == "socket"));
        assert!(!p.guard.imports.deny.iter().any(|m| m == "socket"));
        assert_eq!(p.guard.network.connect, vec![format!("127.0.0.1:{PROXY_PORT}")]);
        // The file's own guard section still wins.
        let p =
            parse("version = 1\n[network]\nallow = [\"pypi.org:443\"]\n[guard.imports]\ndeny = [\"ssl\"]\n").unwrap();
        assert!(p.guard.imports.deny.iter().any(|m| m == "ssl"));
        assert!(!p.guard.imports.allow.iter().any(|m| m == "ssl"));
        // Without the proxy nothing changes.
        let p = parse("version = 1\n").unwrap();
        assert!(p.guard.imports.deny.iter().any(|m| m == "socket"));
        // Errors point at the entry.
        let e = err("version = 1\n[network]\nallow = [\"pypi.org:443\", \"0177.0.0.1:80\"]\n");
        assert_eq!(e.key.as_deref(), Some("network.allow[1]"), "{e}");
        assert!(e.reason.contains("dotted decimal"), "{e}");
        let e = err("version = 1\n[network]\nmode = \"none\"\nallow = [\"pypi.org:443\"]\n");
        assert!(e.reason.contains("mode = \"proxy\""), "{e}");
        let e = err("version = 1\n[network]\nallow = []\nmax-connections = 0\n");
        assert_eq!(e.key.as_deref(), Some("network.max-connections"), "{e}");
    }

    #[test]
    fn load_names_the_file() {
        let e = Policy::load(Path::new("/nonexistent/policy.toml")).unwrap_err();
        assert_eq!(e.file, "/nonexistent/policy.toml");
        assert!(e
            .to_string()
            .starts_with("/nonexistent/policy.toml: cannot read policy file: "));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("resources/valid/full.toml");
        assert!(Policy::load(&dir).is_ok());
    }

    #[test]
    fn garbage_never_panics() {
        for src in [
            "",
            "=",
            "[[",
            "version = 1\n[limits]\nmemory = {}",
            "a.b.c = [[1], {x = 1}]",
        ] {
            assert!(parse(src).is_err());
        }
    }

    #[test]
    fn custom_policy_round_trips() {
        let mut p = Policy::data();
        p.python.interpreter = Some("/opt/py/bin/python3".into());
        p.limits.wall_time = Duration::from_millis(1500);
        p.limits.cpu_time = Duration::new(2, 1);
        p.limits.memory = (1 << 30) + 1;
        p.limits.output = 0;
        p.env.set.remove("HOME");
        p.env.set.insert("QUOTE".into(), "a \"b\" 'c' \\ \n é".into());
        p.env.pass.push("TERM".into());
        p.filesystem.read_only.push(Bind {
            host: "/srv/my data".into(),
            jail: "/data".into(),
        });
        p.isolation.allow_degraded = true;
        p.isolation.hostname = "a.b-c".into();
        p.validate().unwrap();
        let text = p.to_toml();
        assert_eq!(parse(&text), Ok(p), "{text}");
    }

    #[test]
    fn guard_lists_merge_with_the_profile() {
        let strict = Policy::strict().guard;
        let src = r#"
version = 1
[guard]
record = ["open", "code", "open"]
[guard.imports]
allow = ["numpy", "json", "socket", "numpy"]
deny = ["pickle", "requests"]
[guard.files]
read = ["/srv/data", "{scratch}"]
[guard.network]
connect = ["127.0.0.1:8080"]
"#;
        let g = parse(src).unwrap().guard;
        assert_eq!(g.record, [EventClass::Open, EventClass::Code]);
        // Appended in order, without repeats; the file's allow takes "socket" out of the
        // profile's deny and its deny takes "pickle" out of the profile's allow.
        assert_eq!(
            g.imports.allow[..strict.imports.allow.len() - 1],
            {
                let mut a = strict.imports.allow.clone();
                a.retain(|m| m != "pickle");
                a
            }[..]
        );
        assert_eq!(
            g.imports.allow.iter().rev().take(2).collect::<Vec<_>>(),
            ["socket", "numpy"]
        );
        assert!(!g.imports.deny.contains(&"socket".to_owned()));
        assert_eq!(g.imports.deny.last().map(String::as_str), Some("requests"));
        assert!(g.imports.allows("socket", false) && !g.imports.allows("pickle", false));
        assert_eq!(g.files.read.len(), strict.files.read.len() + 1);
        assert_eq!(g.files.write, strict.files.write);
        assert_eq!(g.network.connect, ["127.0.0.1:8080"]);
    }

    #[test]
    fn guard_merge_is_idempotent() {
        for name in Policy::PROFILES {
            let p = Policy::profile(name).unwrap();
            let g = &p.guard;
            let list = |v: &[String]| {
                format!(
                    "[{}]",
                    v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
                )
            };
            let src = format!(
                "version = 1\nextends = {name:?}\n[guard.imports]\nallow = {}\ndeny = {}\n\
                 [guard.files]\nread = {}\nwrite = {}\n",
                list(&g.imports.allow),
                list(&g.imports.deny),
                list(&g.files.read),
                list(&g.files.write)
            );
            assert_eq!(parse(&src), Ok(p), "{src}");
        }
    }

    #[test]
    fn guard_replace() {
        let src = "version = 1\n[guard.imports]\nreplace = true\nallow = [\"json\"]\n\
                   [guard.files]\nreplace = true\nwrite = []\n[guard.network]\nreplace = true\n";
        let g = parse(src).unwrap().guard;
        let strict = Policy::strict().guard;
        assert_eq!(g.imports.allow, ["json"]);
        assert_eq!(
            g.imports.deny, strict.imports.deny,
            "a list the file leaves out is kept"
        );
        assert_eq!(g.files.read, strict.files.read);
        assert!(g.files.write.is_empty(), "an empty list replaces too");
        // With replace, allowing a profile-denied module still takes it out of deny.
        let src = "version = 1\n[guard.imports]\nreplace = true\nallow = [\"ssl\"]\n";
        let g = parse(src).unwrap().guard;
        assert!(g.imports.allows("ssl", false));
    }

    #[test]
    fn guard_scalars_and_rules() {
        let src = r#"
version = 1
[guard]
enabled = false
mode = "audit"
on-violation = "kill"
[guard.imports]
default = "allow"
venv = false
[guard.rules]
process = "audit"
code-objects = "allow"
signal = "audit"
"#;
        let g = parse(src).unwrap().guard;
        assert!(!g.enabled);
        assert_eq!((g.mode, g.on_violation), (GuardMode::Audit, OnViolation::Kill));
        assert_eq!((g.imports.default, g.imports.venv), (ImportDefault::Allow, false));
        let rules = ClassRules {
            process: Decision::Audit,
            code_objects: Decision::Allow,
            signal: Decision::Audit,
            ..ClassRules::default()
        };
        assert_eq!(g.rules, rules);
        assert_eq!(parse("version = 1\n[guard]\n[guard.rules]\n"), Ok(Policy::strict()));
    }

    #[test]
    fn guard_errors_point_into_the_file() {
        let e = err("version = 1\n[guard.imports]\nallow = [\"json\", \"9x\"]\n");
        assert_eq!(e.key.as_deref(), Some("guard.imports.allow[1]"));
        assert_eq!((e.line, e.column), (Some(3), Some(18)));
        let e = err("version = 1\n[guard.imports]\nallow = [\"a\", \"b\"]\ndeny = [\"b\"]\n");
        assert_eq!(e.key.as_deref(), Some("guard.imports.allow[1]"));
        assert_eq!(
            e.reason,
            "\"b\" is also in guard.imports.deny; a module is either allowed or denied"
        );
        let e = err("version = 1\n[guard]\nrecord = [\"open\", \"files\"]\n");
        assert_eq!(e.key.as_deref(), Some("guard.record[1]"));
        assert_eq!((e.line, e.column), (Some(3), Some(19)));
        assert!(
            e.reason.starts_with("unknown event class \"files\" (use \"import\", "),
            "{e}"
        );
        let e = err("version = 1\n[guard.rules]\nctypes = \"block\"\n");
        assert_eq!(
            e.to_string(),
            r#"policy.toml:3:10: guard.rules.ctypes: unknown decision "block" (use "allow", "deny" or "audit")"#
        );
        let e = err("version = 1\n[guard.network]\nconnect = [\"::1:80\"]\n");
        assert_eq!(e.key.as_deref(), Some("guard.network.connect[0]"));
        let e = err("version = 1\n[guard.rules]\nfork = \"deny\"\n");
        assert!(
            e.reason
                .starts_with("unknown key (allowed keys: process, code, code-objects"),
            "{e}"
        );
    }

    #[test]
    fn custom_guard_round_trips() {
        let mut p = Policy::strict();
        let g = &mut p.guard;
        g.mode = GuardMode::Audit;
        g.on_violation = OnViolation::Kill;
        g.record = vec![EventClass::All, EventClass::Import];
        g.imports.allow.retain(|m| m != "os");
        g.imports.allow.insert(0, "numpy".into());
        g.imports.deny.clear();
        g.files.read.retain(|f| !f.starts_with("/etc"));
        g.files.write.push("{sandbox}/out".into());
        g.network.connect.push("[::1]:8080".into());
        g.network.bind.push("*:*".into());
        g.rules.code = Decision::Deny;
        p.validate().unwrap();
        let text = p.to_toml();
        assert_eq!(parse(&text), Ok(p), "{text}");
    }

    #[test]
    fn profiles_round_trip() {
        for name in Policy::PROFILES {
            let p = Policy::profile(name).unwrap();
            assert_eq!(p.extends, *name);
            p.validate().unwrap();
            assert_eq!(parse(&p.to_toml()), Ok(p));
        }
        assert_eq!(Policy::profile("lenient"), None);
        assert_eq!(Policy::default(), Policy::strict());
    }
}
