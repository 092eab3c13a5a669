//! Bandit's B5xx: certificate checks turned off, broken SSL/TLS versions, weak keys, unsafe YAML
//! loading, SSH host keys accepted blindly, insecure SNMP.

use super::injection::{self, called_name, IMPORTED_PARAMIKO, IMPORTED_PYSNMP};
use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use crate::Level;
use ruff_python_ast::{self as ast, Expr, ExprCall, Stmt};
use ruff_text_size::Ranged;

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    if let Some(verify) = util::keyword(call, "verify") {
        if matches!(verify, Expr::BooleanLiteral(b) if !b.value) {
            no_cert_validation(checker, call, name);
        }
    }
    ssl_version(checker, call, name);
    if called_name(call) == Some("set_missing_host_key_policy") {
        host_key_policy(checker, call);
    }
    let Some(name) = name else { return };
    weak_key(checker, call, name);
    let head = util::head_segment(name);
    let last = util::last_segment(name);
    if head == "yaml" {
        yaml_load(checker, call, name, last);
    }
    // pysnmp's own examples import with `*`, which binds no name: a bare CommunityData/UsmUserData
    // counts once pysnmp has been imported.
    if head == "pysnmp"
        || (matches!(name, "CommunityData" | "UsmUserData") && injection::imported(checker, IMPORTED_PYSNMP))
    {
        snmp(checker, call, name, last);
    }
}

pub fn on_stmt(checker: &mut Checker, stmt: &Stmt) {
    match stmt {
        Stmt::Import(_) | Stmt::ImportFrom(_) => injection::note_imports(checker, stmt),
        Stmt::FunctionDef(function) => ssl_bad_defaults(checker, function),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// STK501: verify=False
// ---------------------------------------------------------------------------------------------

const HTTP_VERBS: &[&str] = &["get", "options", "head", "post", "put", "patch", "delete"];

/// A client factory call: `requests.Session()` → `requests`, `httpx.Client()` → `httpx`.
fn client_factory(checker: &Checker, expr: &Expr) -> Option<&'static str> {
    let Expr::Call(call) = expr else { return None };
    let last = match &*call.func {
        Expr::Attribute(a) => a.attr.as_str(),
        Expr::Name(n) => n.id.as_str(),
        _ => return None,
    };
    if !matches!(last, "Session" | "session" | "Client" | "AsyncClient") {
        return None;
    }
    match checker.qualified_name(&call.func)?.as_str() {
        "requests.Session" | "requests.session" | "requests.sessions.Session" => Some("requests"),
        "httpx.Client" | "httpx.AsyncClient" => Some("httpx"),
        _ => None,
    }
}

fn target_binds(target: &Expr, name: &str) -> bool {
    match target {
        Expr::Name(n) => n.id.as_str() == name,
        Expr::Tuple(t) => t.elts.iter().any(|e| target_binds(e, name)),
        Expr::List(l) => l.elts.iter().any(|e| target_binds(e, name)),
        Expr::Starred(s) => target_binds(&s.value, name),
        _ => false,
    }
}

/// Bandit's session tracking: `s.get(..., verify=False)` where `s` was bound, in the same scope
/// and before the call, to `requests.Session()`/`httpx.Client()` (by assignment or `with ... as s`).
fn session_module(checker: &Checker, call: &ExprCall) -> Option<&'static str> {
    let Expr::Attribute(method) = &*call.func else {
        return None;
    };
    if !HTTP_VERBS.contains(&method.attr.as_str()) {
        return None;
    }
    match &*method.value {
        Expr::Name(receiver) => {
            let receiver = receiver.id.as_str();
            for stmt in checker.stmts.iter().rev() {
                match stmt {
                    Stmt::FunctionDef(_) => break,
                    Stmt::With(with) => {
                        for item in &with.items {
                            if item.optional_vars.as_deref().is_some_and(|v| target_binds(v, receiver)) {
                                if let Some(module) = client_factory(checker, &item.context_expr) {
                                    return Some(module);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            // The last assignment to the name before the call decides.
            injection::with_scope_body(checker, |body| {
                let mut module = None;
                body.each_statement_before(call.start(), &mut |stmt| match stmt {
                    Stmt::Assign(assign) if assign.targets.iter().any(|t| target_binds(t, receiver)) => {
                        module = client_factory(checker, &assign.value);
                    }
                    Stmt::AnnAssign(assign) if target_binds(&assign.target, receiver) => {
                        module = assign.value.as_deref().and_then(|v| client_factory(checker, v));
                    }
                    _ => {}
                });
                module
            })
        }
        // requests.Session().get(..., verify=False)
        factory @ Expr::Call(_) => client_factory(checker, factory),
        _ => None,
    }
}

fn no_cert_validation(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let module = match name {
        Some(name) => {
            let head = name.split('.').next().unwrap_or(name);
            let last = util::last_segment(name);
            match head {
                "requests" if HTTP_VERBS.contains(&last) || last == "request" => Some("requests"),
                "httpx"
                    if HTTP_VERBS.contains(&last)
                        || matches!(last, "request" | "stream" | "Client" | "AsyncClient") =>
                {
                    Some("httpx")
                }
                _ => session_module(checker, call),
            }
        }
        None => session_module(checker, call),
    };
    if let Some(module) = module {
        checker.report(
            RuleId::RequestNoCertValidation,
            call.range(),
            format!("call to {module} with verify=False: TLS certificates are not checked"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// STK502–STK504: SSL/TLS protocol versions
// ---------------------------------------------------------------------------------------------

/// Bandit's `bad_protocol_versions`, with TLS 1.1.
const BAD_VERSIONS: &[&str] = &[
    "PROTOCOL_SSLv2",
    "SSLv2_METHOD",
    "SSLv23_METHOD",
    "PROTOCOL_SSLv3",
    "PROTOCOL_TLSv1",
    "SSLv3_METHOD",
    "TLSv1_METHOD",
    "PROTOCOL_TLSv1_1",
    "TLSv1_1_METHOD",
];

/// The broken protocol version an expression names (`ssl.PROTOCOL_SSLv3`, `SSL.SSLv2_METHOD`, or
/// an imported name), if it does.
fn bad_version<'e>(checker: &'e Checker, expr: &'e Expr) -> Option<&'e str> {
    let name = match expr {
        Expr::Attribute(a) => a.attr.as_str(),
        Expr::Name(n) => {
            let id = n.id.as_str();
            if BAD_VERSIONS.contains(&id) {
                id
            } else {
                util::last_segment(checker.bindings.resolve(id)?)
            }
        }
        _ => return None,
    };
    BAD_VERSIONS.contains(&name).then_some(name)
}

fn ssl_version(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    // Where each API takes its protocol: (keyword, position).
    let (keyword, position, shown) = match name {
        Some("ssl.wrap_socket") => ("ssl_version", 5, "ssl.wrap_socket"),
        Some("OpenSSL.SSL.Context" | "pyOpenSSL.SSL.Context") => ("method", 0, "SSL.Context"),
        Some("ssl.SSLContext") => ("protocol", 0, "ssl.SSLContext"),
        _ => {
            // Any other call given method=/ssl_version= a broken version.
            for keyword in &call.arguments.keywords {
                let Some(arg) = &keyword.arg else { continue };
                if !matches!(arg.as_str(), "method" | "ssl_version") {
                    continue;
                }
                if let Some(version) = bad_version(checker, &keyword.value) {
                    let message = format!(
                        "`{}` called with {arg}={version}, a broken SSL/TLS version",
                        name.unwrap_or("function")
                    );
                    checker.report_with(
                        RuleId::SslBadVersion,
                        call.range(),
                        Level::Medium,
                        Level::Medium,
                        message,
                    );
                    return;
                }
            }
            return;
        }
    };
    match util::argument(call, keyword, position) {
        Some(value) => {
            if let Some(version) = bad_version(checker, value) {
                let message = format!("`{shown}` with {version}, a broken SSL/TLS version");
                checker.report(RuleId::SslBadVersion, call.range(), message);
            }
        }
        None if shown == "ssl.wrap_socket" => {
            checker.report(
                RuleId::SslNoVersion,
                call.range(),
                "`ssl.wrap_socket` without ssl_version: the default may negotiate a broken SSL/TLS version",
            );
        }
        None => {}
    }
}

/// STK503: a parameter defaulting to a broken protocol version.
fn ssl_bad_defaults(checker: &mut Checker, function: &ast::StmtFunctionDef) {
    let parameters = &function.parameters;
    for parameter in parameters
        .posonlyargs
        .iter()
        .chain(&parameters.args)
        .chain(&parameters.kwonlyargs)
    {
        let Some(default) = parameter.default() else { continue };
        if let Some(version) = bad_version(checker, default) {
            let message = format!(
                "`{}` defaults parameter `{}` to {version}, a broken SSL/TLS version",
                function.name.as_str(),
                parameter.parameter.name.as_str()
            );
            checker.report(RuleId::SslBadDefaults, default.range(), message);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// STK505: weak keys
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum KeyType {
    Dsa,
    Rsa,
    Ec,
}

impl KeyType {
    fn as_str(self) -> &'static str {
        match self {
            KeyType::Dsa => "DSA",
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
        }
    }

    /// Bandit's thresholds: below the first is high severity, below the second medium.
    fn thresholds(self) -> [(u64, Level); 2] {
        match self {
            KeyType::Dsa | KeyType::Rsa => [(1024, Level::High), (2048, Level::Medium)],
            KeyType::Ec => [(160, Level::High), (224, Level::Medium)],
        }
    }
}

fn weak_key(checker: &mut Checker, call: &ExprCall, name: &str) {
    let (key_type, size, what) = match name {
        "cryptography.hazmat.primitives.asymmetric.dsa.generate_private_key" => {
            (KeyType::Dsa, util::argument(call, "key_size", 0), None)
        }
        "cryptography.hazmat.primitives.asymmetric.rsa.generate_private_key" => {
            (KeyType::Rsa, util::argument(call, "key_size", 1), None)
        }
        "cryptography.hazmat.primitives.asymmetric.ec.generate_private_key" => {
            let Some(curve) = util::argument(call, "curve", 0) else {
                return;
            };
            let curve = match curve {
                Expr::Call(c) => &*c.func,
                other => other,
            };
            let curve_name = match curve {
                Expr::Attribute(a) => a.attr.as_str(),
                Expr::Name(n) => n.id.as_str(),
                _ => return,
            };
            let bits = match curve_name {
                "SECP192R1" => 192,
                "SECT163K1" | "SECT163R2" => 163,
                _ => return,
            };
            classify_key(checker, call, KeyType::Ec, bits, Some(curve_name));
            return;
        }
        "Crypto.PublicKey.DSA.generate" | "Cryptodome.PublicKey.DSA.generate" => {
            (KeyType::Dsa, util::argument(call, "bits", 0), None)
        }
        "Crypto.PublicKey.RSA.generate" | "Cryptodome.PublicKey.RSA.generate" => {
            (KeyType::Rsa, util::argument(call, "bits", 0), None)
        }
        _ => return,
    };
    // A size held in a variable cannot be judged; no size means the library default (2048).
    if let Some(bits) = size.and_then(util::int_literal) {
        classify_key(checker, call, key_type, bits, what);
    }
}

fn classify_key(checker: &mut Checker, call: &ExprCall, key_type: KeyType, bits: u64, curve: Option<&str>) {
    for (threshold, severity) in key_type.thresholds() {
        if bits < threshold {
            let key = match curve {
                Some(curve) => format!("{} key on curve {curve} ({bits} bits)", key_type.as_str()),
                None => format!("{} key of {bits} bits", key_type.as_str()),
            };
            let message = format!(
                "{key}: {} keys below {threshold} bits are considered breakable",
                key_type.as_str()
            );
            checker.report_with(
                RuleId::WeakCryptographicKey,
                call.range(),
                severity,
                Level::High,
                message,
            );
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// STK506: yaml.load
// ---------------------------------------------------------------------------------------------

fn yaml_load(checker: &mut Checker, call: &ExprCall, name: &str, last: &str) {
    match last {
        "load" | "load_all" => {
            let loader = util::argument(call, "Loader", 1);
            let safe = loader.is_some_and(|loader| {
                let loader_name = match loader {
                    Expr::Attribute(a) => a.attr.as_str(),
                    Expr::Name(n) => {
                        let id = n.id.as_str();
                        checker.bindings.resolve(id).map_or(id, util::last_segment)
                    }
                    _ => return false,
                };
                matches!(loader_name, "SafeLoader" | "CSafeLoader" | "BaseLoader" | "CBaseLoader")
            });
            if !safe {
                checker.report(
                    RuleId::YamlLoad,
                    call.range(),
                    format!("`{name}` without a safe Loader can construct arbitrary objects; use yaml.safe_load()"),
                );
            }
        }
        "unsafe_load" | "unsafe_load_all" => {
            checker.report(
                RuleId::YamlLoad,
                call.range(),
                format!("`{name}` constructs arbitrary objects; use yaml.safe_load()"),
            );
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// STK507: paramiko host key policy
// ---------------------------------------------------------------------------------------------

fn host_key_policy(checker: &mut Checker, call: &ExprCall) {
    let Some(policy) = call.arguments.args.first() else {
        return;
    };
    let class = match policy {
        Expr::Call(c) => &*c.func,
        other => other,
    };
    let policy_name = match class {
        Expr::Attribute(a) => a.attr.as_str(),
        Expr::Name(n) => n.id.as_str(),
        _ => return,
    };
    if !matches!(policy_name, "AutoAddPolicy" | "WarningPolicy") {
        return;
    }
    let from_paramiko = checker
        .qualified_name(class)
        .is_some_and(|q| q.starts_with("paramiko."));
    if from_paramiko || injection::imported(checker, IMPORTED_PARAMIKO) {
        checker.report(
            RuleId::SshNoHostKeyVerification,
            call.range(),
            format!("paramiko host key policy {policy_name} trusts unknown host keys"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// STK508/STK509: SNMP
// ---------------------------------------------------------------------------------------------

fn snmp(checker: &mut Checker, call: &ExprCall, name: &str, last: &str) {
    match last {
        "CommunityData" => {
            // CommunityData(communityIndex, communityName=None, mpModel=1, ...)
            let model = util::argument(call, "mpModel", 2).and_then(util::int_literal);
            if let Some(model @ (0 | 1)) = model {
                let version = if model == 0 { "SNMPv1" } else { "SNMPv2c" };
                checker.report(
                    RuleId::SnmpInsecureVersion,
                    call.range(),
                    format!("`{name}` with mpModel={model} ({version}) has no encryption; use SNMPv3"),
                );
            }
        }
        "UsmUserData" => {
            // UsmUserData(userName, authKey=None, privKey=None, ...): without both keys it is
            // noAuthNoPriv or authNoPriv. Unpacked arguments may supply them: not judged.
            let unpacked = call.arguments.args.iter().any(Expr::is_starred_expr)
                || call.arguments.keywords.iter().any(|k| k.arg.is_none());
            if unpacked {
                return;
            }
            let given =
                |keyword, position| util::argument(call, keyword, position).is_some_and(|v| !v.is_none_literal_expr());
            let missing = match (given("authKey", 1), given("privKey", 2)) {
                (false, _) => "authentication and privacy keys",
                (true, false) => "a privacy key",
                (true, true) => return,
            };
            checker.report(
                RuleId::SnmpWeakCryptography,
                call.range(),
                format!("`{name}` without {missing}: SNMPv3 without encryption (noAuthNoPriv/authNoPriv)"),
            );
        }
        _ => {}
    }
}
