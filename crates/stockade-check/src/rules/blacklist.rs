//! Bandit's blacklists: calls (B301–B324) and imports (B401–B415).
//!
//! Calls are matched on their qualified name (imports resolved, so `import pickle as p; p.loads`
//! is `pickle.loads`), dispatched on the first segment so a call that names none of these modules
//! costs one string match. Imports are matched on the dotted module (or `from` member) with a
//! dotted-prefix test: `xml.dom.minidom` and `xml.dom.minidom.parseString` are both
//! `xml.dom.minidom`, `pickletools` is not `pickle`.

use super::util;
use crate::checker::Checker;
use crate::registry::RuleId;
use crate::Level;
use ruff_python_ast::{Expr, ExprCall, FStringPart, InterpolatedStringElement, Stmt};
use ruff_text_size::{Ranged, TextRange};

pub fn on_call(checker: &mut Checker, call: &ExprCall, name: Option<&str>) {
    let Some(name) = name else { return };
    let (head, rest) = util::split_head(name);
    let rule = match head {
        "pickle" | "cPickle" | "dill" => match rest {
            "loads" | "load" | "Unpickler" => Some(RuleId::PickleUsage),
            _ => None,
        },
        "shelve" => match rest {
            "open" | "DbfilenameShelf" => Some(RuleId::PickleUsage),
            _ => None,
        },
        "jsonpickle" => match rest {
            "decode" | "unpickler.decode" | "unpickler.Unpickler" => Some(RuleId::PickleUsage),
            _ => None,
        },
        "pandas" => (rest == "read_pickle").then_some(RuleId::PickleUsage),
        "marshal" => matches!(rest, "load" | "loads").then_some(RuleId::MarshalUsage),
        "Crypto" | "Cryptodome" => match rest {
            "Hash.MD2.new" | "Hash.MD4.new" | "Hash.MD5.new" | "Hash.SHA.new" => Some(RuleId::InsecureHashFunction),
            "Cipher.ARC2.new" | "Cipher.ARC4.new" | "Cipher.Blowfish.new" | "Cipher.DES.new" | "Cipher.XOR.new" => {
                Some(RuleId::InsecureCipher)
            }
            _ => None,
        },
        "cryptography" => match rest.strip_prefix("hazmat.primitives.") {
            Some("hashes.MD5" | "hashes.SHA1") => Some(RuleId::InsecureHashFunction),
            Some(
                "ciphers.algorithms.ARC4"
                | "ciphers.algorithms.Blowfish"
                | "ciphers.algorithms.CAST5"
                | "ciphers.algorithms.IDEA"
                | "ciphers.algorithms.SEED"
                | "ciphers.algorithms.TripleDES",
            ) => Some(RuleId::InsecureCipher),
            Some("ciphers.modes.ECB") => Some(RuleId::InsecureCipherMode),
            _ => None,
        },
        "tempfile" => (rest == "mktemp").then_some(RuleId::MktempUsage),
        "eval" => rest.is_empty().then_some(RuleId::EvalUsage),
        "builtins" => match rest {
            "eval" => Some(RuleId::EvalUsage),
            "__import__" => {
                import_call(checker, call, name);
                None
            }
            _ => None,
        },
        "django" => (rest == "utils.safestring.mark_safe").then_some(RuleId::MarkSafeUsage),
        "urllib" => match rest {
            "urlopen"
            | "urlretrieve"
            | "URLopener"
            | "FancyURLopener"
            | "request.urlopen"
            | "request.urlretrieve"
            | "request.URLopener"
            | "request.FancyURLopener"
            | "request.Request" => Some(RuleId::UrlopenScheme),
            _ => None,
        },
        "urllib2" => matches!(rest, "urlopen" | "Request").then_some(RuleId::UrlopenScheme),
        "six" => match rest.strip_prefix("moves.urllib.request.") {
            Some("urlopen" | "urlretrieve" | "URLopener" | "FancyURLopener" | "Request") => Some(RuleId::UrlopenScheme),
            _ => None,
        },
        "random" => match rest {
            "Random" | "random" | "randrange" | "randint" | "choice" | "choices" | "uniform" | "triangular"
            | "randbytes" | "getrandbits" | "sample" => Some(RuleId::NonCryptoRandom),
            _ => None,
        },
        "telnetlib" => (!rest.is_empty()).then_some(RuleId::TelnetUsage),
        // FTP_TLS encrypts, and the exception classes open no connection.
        "ftplib" => match rest {
            "" | "FTP_TLS" | "Error" | "error_reply" | "error_temp" | "error_perm" | "error_proto" => None,
            _ => Some(RuleId::FtpUsage),
        },
        "xml" => xml_call(rest),
        "lxml" => match rest {
            "etree.parse"
            | "etree.fromstring"
            | "etree.RestrictedElement"
            | "etree.GlobalParserTLS"
            | "etree.getDefaultParser"
            | "etree.check_docinfo" => Some(RuleId::XmlLxml),
            _ => None,
        },
        "ssl" => (rest == "_create_unverified_context").then_some(RuleId::UnverifiedContext),
        "hashlib" => {
            hashlib_call(checker, call, name);
            None
        }
        "crypt" => {
            crypt_call(checker, call, name, rest);
            None
        }
        "__import__" if rest.is_empty() => {
            import_call(checker, call, name);
            None
        }
        "importlib" if matches!(rest, "import_module" | "__import__") => {
            import_call(checker, call, name);
            None
        }
        _ => {
            // Bandit matches `hashlib` anywhere in the name (`Crypto.hashlib.md5`, ...).
            if name.contains("hashlib") && name.split('.').any(|s| s == "hashlib") {
                hashlib_call(checker, call, name);
            }
            None
        }
    };
    let Some(rule) = rule else { return };
    let message = match rule {
        RuleId::PickleUsage => format!("`{name}` deserialises with pickle: unsafe on untrusted data"),
        RuleId::MarshalUsage => format!("`{name}` deserialises with marshal: unsafe on untrusted data"),
        RuleId::InsecureHashFunction => format!("`{name}`: MD2/MD4/MD5/SHA1 are broken hash functions"),
        RuleId::InsecureCipher => format!("`{name}`: an insecure cipher; use AES"),
        RuleId::InsecureCipherMode => format!("`{name}`: ECB mode leaks patterns of the plaintext"),
        RuleId::MktempUsage => format!("`{name}`: the returned name can be taken by another process first"),
        RuleId::EvalUsage => format!("`{name}` runs arbitrary code; ast.literal_eval parses literals safely"),
        RuleId::MarkSafeUsage => format!("`{name}` disables HTML escaping and may expose XSS"),
        RuleId::UrlopenScheme => {
            if http_url_literal(call) {
                return;
            }
            format!("`{name}` accepts file: and custom schemes; check the URL's scheme")
        }
        RuleId::NonCryptoRandom => format!("`{name}` is predictable; use secrets for security"),
        RuleId::TelnetUsage => format!("`{name}`: Telnet sends everything in clear text; use SSH"),
        RuleId::FtpUsage => format!("`{name}`: FTP sends everything in clear text; use SFTP/SCP"),
        RuleId::UnverifiedContext => format!("`{name}` turns off certificate and hostname checks"),
        RuleId::XmlLxml => format!("`{name}` parses untrusted XML unsafely; use defusedxml.lxml"),
        _ => format!("`{name}` parses untrusted XML unsafely; use its defusedxml equivalent"),
    };
    if is_xml_rule(rule) && parses_a_constant(checker, call) {
        return; // the program's own XML, written in the source: nothing untrusted is parsed
    }
    checker.report(rule, call.range(), message);
}

fn is_xml_rule(rule: RuleId) -> bool {
    matches!(
        rule,
        RuleId::XmlCElementTree
            | RuleId::XmlElementTree
            | RuleId::XmlExpatReader
            | RuleId::XmlExpatBuilder
            | RuleId::XmlSax
            | RuleId::XmlMinidom
            | RuleId::XmlPulldom
            | RuleId::XmlLxml
    )
}

/// An XML parse of a literal, or of a module-level name bound to one (`ET.fromstring("<a/>")`,
/// `minidom.parseString(TEMPLATE)`).
fn parses_a_constant(checker: &Checker, call: &ExprCall) -> bool {
    // Only the functions given the document itself: `parse("file.xml")` reads a file, whatever
    // its name is.
    if !matches!(
        callee_last(&call.func),
        Some("fromstring" | "fromstringlist" | "XML" | "XMLID" | "parseString")
    ) {
        return false;
    }
    let Some(arg) = call.arguments.args.first() else {
        return false;
    };
    match arg {
        Expr::StringLiteral(_) | Expr::BytesLiteral(_) => true,
        Expr::Name(n) => {
            let id = n.id.as_str();
            let bound: Vec<&Expr> = checker
                .module
                .iter()
                .filter_map(|stmt| match stmt {
                    Stmt::Assign(a)
                        if a.targets
                            .iter()
                            .any(|t| matches!(t, Expr::Name(t) if t.id.as_str() == id)) =>
                    {
                        Some(&*a.value)
                    }
                    _ => None,
                })
                .collect();
            !bound.is_empty()
                && bound
                    .iter()
                    .all(|v| matches!(v, Expr::StringLiteral(_) | Expr::BytesLiteral(_)))
                && !checker.functions.iter().any(|f| binds_name(f, id))
        }
        _ => false,
    }
}

/// Whether a function's parameters name `id` (a local that hides the module's constant).
fn binds_name(function: &ruff_python_ast::StmtFunctionDef, id: &str) -> bool {
    let p = &*function.parameters;
    p.posonlyargs
        .iter()
        .chain(p.args.iter())
        .chain(p.kwonlyargs.iter())
        .any(|a| a.parameter.name.as_str() == id)
}

fn xml_call(rest: &str) -> Option<RuleId> {
    let (module, function) = rest.rsplit_once('.')?;
    Some(match (module, function) {
        ("etree.cElementTree", "parse" | "iterparse" | "fromstring" | "XMLParser") => RuleId::XmlCElementTree,
        ("etree.ElementTree", "parse" | "iterparse" | "fromstring" | "XMLParser") => RuleId::XmlElementTree,
        ("sax.expatreader", "create_parser") => RuleId::XmlExpatReader,
        ("dom.expatbuilder", "parse" | "parseString") => RuleId::XmlExpatBuilder,
        ("sax", "parse" | "parseString" | "make_parser") => RuleId::XmlSax,
        ("dom.minidom", "parse" | "parseString") => RuleId::XmlMinidom,
        ("dom.pulldom", "parse" | "parseString") => RuleId::XmlPulldom,
        _ => return None,
    })
}

/// Whether the URL given to urlopen/Request is a literal `http(s)://` URL (directly, or through a
/// `Request("https://...")`): its scheme is known and fine, so there is nothing to audit.
fn http_url_literal(call: &ExprCall) -> bool {
    let Some(url) = util::argument(call, "url", 0) else {
        return false;
    };
    let head = match url {
        Expr::StringLiteral(s) => s.value.iter().next().map(|p| p.as_str()),
        Expr::FString(f) => match f.value.iter().next() {
            Some(FStringPart::Literal(l)) => Some(l.as_str()),
            Some(FStringPart::FString(f)) => match f.elements.first() {
                Some(InterpolatedStringElement::Literal(l)) => Some(&*l.value),
                _ => None,
            },
            None => None,
        },
        Expr::Call(inner) => {
            return callee_last(&inner.func) == Some("Request") && http_url_literal(inner);
        }
        _ => None,
    };
    head.is_some_and(|h| {
        let h = h.as_bytes();
        let starts = |p: &[u8]| h.len() >= p.len() && h[..p.len()].eq_ignore_ascii_case(p);
        starts(b"http://") || starts(b"https://")
    })
}

fn callee_last(func: &Expr) -> Option<&str> {
    match func {
        Expr::Attribute(attr) => Some(attr.attr.as_str()),
        Expr::Name(name) => Some(name.id.as_str()),
        _ => None,
    }
}

/// B324: hashlib MD4/MD5/SHA1 (`hashlib.md5()`, `hashlib.new("md5")`) without
/// `usedforsecurity=False`.
fn hashlib_call(checker: &mut Checker, call: &ExprCall, name: &str) {
    let function = util::last_segment(name);
    let algorithm = match function {
        "md4" | "md5" | "sha" | "sha1" => function.to_string(),
        "new" => {
            let Some(Expr::StringLiteral(s)) = util::argument(call, "name", 0) else {
                return;
            };
            let algorithm = s.value.to_str().to_ascii_lowercase();
            if !matches!(algorithm.as_str(), "md4" | "md5" | "sha" | "sha1") {
                return;
            }
            algorithm
        }
        _ => return,
    };
    // As Bandit: only a literal `usedforsecurity=False` (or any non-True value) clears it.
    if let Some(flag) = util::keyword(call, "usedforsecurity") {
        if !matches!(flag, Expr::BooleanLiteral(b) if b.value) {
            return;
        }
    }
    if non_security_hash_use(checker, call, &algorithm).is_some() {
        return;
    }
    checker.report(
        RuleId::HashlibInsecureHash,
        call.range(),
        format!(
            "`{name}` uses weak {} for security; pass usedforsecurity=False if it is not",
            algorithm.to_ascii_uppercase()
        ),
    );
}

/// Where MD5/SHA1 serve no security purpose, by what the code says it computes: an ETag, a
/// checksum or fingerprint, a cache key, the WebSocket accept value (RFC 6455 fixes SHA1), HTTP
/// Digest authentication (RFC 2617 fixes MD5), or a function that only wraps the constructor
/// (`def _lazy_sha1(s=b""): return hashlib.sha1(s)`, a factory passed to HMAC or a signer: its
/// use is decided where it is passed). Judged from the enclosing function's name and the name the
/// result is assigned to.
fn non_security_hash_use(checker: &Checker, call: &ExprCall, algorithm: &str) -> Option<&'static str> {
    const WORDS: &[(&str, &str)] = &[
        ("etag", "an ETag"),
        ("checksum", "a checksum"),
        ("fingerprint", "a fingerprint"),
        ("cache_key", "a cache key"),
        ("cachekey", "a cache key"),
        ("accept_value", "the WebSocket accept value"),
        ("accept_key", "the WebSocket accept value"),
        ("websocket_accept", "the WebSocket accept value"),
        ("digest_auth", "HTTP Digest authentication"),
        ("digest_header", "HTTP Digest authentication"),
    ];
    let says = |name: &str| {
        let lower = name.to_ascii_lowercase();
        WORDS.iter().find(|(w, _)| lower.contains(w)).map(|(_, why)| *why)
    };
    if let Some(function) = checker.current_function() {
        if let Some(why) = says(function.name.as_str()) {
            return Some(why);
        }
        // A wrapper named after the algorithm whose body returns the new hash object itself (not
        // a digest of something).
        let wraps = function.name.to_ascii_lowercase().contains(algorithm)
            && function.body.len() <= 2
            && matches!(function.body.last(), Some(Stmt::Return(r))
                if r.value.as_deref().is_some_and(|v| v.range() == call.range()));
        if wraps {
            return Some("a hash constructor passed elsewhere");
        }
    }
    // `etag = hashlib.sha1(data).hexdigest()`.
    for stmt in checker.stmts.iter().rev().take(1) {
        let targets: &[Expr] = match stmt {
            Stmt::Assign(a) => &a.targets,
            Stmt::AnnAssign(a) => std::slice::from_ref(&*a.target),
            _ => &[],
        };
        for target in targets {
            let name = match target {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(a) => a.attr.as_str(),
                _ => continue,
            };
            if let Some(why) = says(name) {
                return Some(why);
            }
        }
    }
    None
}

/// B324's crypt half: `crypt.crypt(word, crypt.METHOD_MD5)` / `crypt.mksalt(crypt.METHOD_CRYPT)`.
fn crypt_call(checker: &mut Checker, call: &ExprCall, name: &str, function: &str) {
    let method = match function {
        "crypt" => util::argument(call, "salt", 1),
        "mksalt" => util::argument(call, "method", 0),
        _ => return,
    };
    let Some(method) = method else { return };
    let Some(qualified) = checker.qualified_name(method) else {
        return;
    };
    // `crypt.METHOD_MD5`, or a bare `METHOD_MD5` from `from crypt import *`.
    let constant = qualified
        .strip_prefix("crypt.")
        .or_else(|| (!qualified.contains('.')).then_some(qualified.as_str()));
    let weak = match constant {
        Some(m @ ("METHOD_CRYPT" | "METHOD_MD5" | "METHOD_BLOWFISH")) => m,
        _ => return,
    };
    checker.report_with(
        RuleId::HashlibInsecureHash,
        call.range(),
        Level::Medium,
        Level::High,
        format!("`{name}` with the weak crypt.{weak} hash"),
    );
}

/// `__import__("pickle")` and `importlib.import_module("pickle")` are imports too (Bandit checks
/// them against the import blacklist).
fn import_call(checker: &mut Checker, call: &ExprCall, name: &str) {
    let Some(Expr::StringLiteral(module)) = util::argument(call, "name", 0) else {
        return;
    };
    let module = module.value.to_str();
    if let Some((rule, matched)) = import_rule(module) {
        checker.report(
            rule,
            call.range(),
            import_message(rule, matched, &format!("{name}({module:?})")),
        );
    }
}

pub fn on_import(checker: &mut Checker, module: &str, range: TextRange) {
    let Some((rule, matched)) = import_rule(module) else {
        return;
    };
    if !checker.enabled(rule) {
        return;
    }
    // `import os, pickle`: the finding is on the alias that names the module. `from pickle import
    // loads, dumps`: the statement names the module, once; one finding per rule per statement.
    let mut range = range;
    let mut what = module;
    if let Some(stmt @ Stmt::ImportFrom(import)) = checker.stmts.last() {
        let from = import.module.as_ref().map_or("", |m| m.as_str());
        if import.level == 0 && under(from, matched) {
            what = from;
        }
        let stmt_range = stmt.range();
        range = stmt_range;
        let start = checker.index().line_col(checker.source, stmt_range.start());
        let end = checker.index().line_col(checker.source, stmt_range.end());
        let already = checker
            .findings
            .iter()
            .rev()
            .any(|f| f.rule == rule && (f.line, f.column) >= start && (f.line, f.column) <= end);
        if already {
            return;
        }
    }
    let message = import_message(rule, matched, what);
    checker.report(rule, range, message);
}

/// Whether `module` is `prefix` or inside it (`xml.sax.handler` is under `xml.sax`).
fn under(module: &str, prefix: &str) -> bool {
    module.starts_with(prefix) && (module.len() == prefix.len() || module.as_bytes()[prefix.len()] == b'.')
}

fn import_message(rule: RuleId, matched: &str, what: &str) -> String {
    let why = match rule {
        RuleId::ImportTelnetlib => "Telnet is a clear-text protocol; use SSH",
        RuleId::ImportFtplib => "FTP is a clear-text protocol; use SFTP/SCP",
        RuleId::ImportPickle => "it deserialises code; never load untrusted data with it",
        RuleId::ImportSubprocess => "it starts programs; check every call",
        RuleId::ImportLxml => "vulnerable to XML attacks; use defusedxml.lxml",
        RuleId::ImportXmlrpc => "vulnerable to XML attacks; call defusedxml.xmlrpc.monkey_patch()",
        RuleId::ImportHttpoxy => "CGI handlers are vulnerable to httpoxy",
        RuleId::ImportPycrypto => "pyCrypto is unmaintained and vulnerable; use pyca/cryptography",
        RuleId::ImportPyghmi => "IPMI is a clear-text protocol",
        _ => "vulnerable to XML attacks; use defusedxml or call defusedxml.defuse_stdlib()",
    };
    if matched == what {
        format!("import of `{what}`: {why}")
    } else {
        format!("import of `{what}` ({matched}): {why}")
    }
}

/// The blacklisted module a dotted import name falls under.
fn import_rule(module: &str) -> Option<(RuleId, &'static str)> {
    let head = module.split('.').next().unwrap_or(module);
    let candidates: &[(&'static str, RuleId)] = match head {
        "telnetlib" => &[("telnetlib", RuleId::ImportTelnetlib)],
        "ftplib" => &[("ftplib", RuleId::ImportFtplib)],
        "pickle" => &[("pickle", RuleId::ImportPickle)],
        "cPickle" => &[("cPickle", RuleId::ImportPickle)],
        "dill" => &[("dill", RuleId::ImportPickle)],
        "shelve" => &[("shelve", RuleId::ImportPickle)],
        "subprocess" => &[("subprocess", RuleId::ImportSubprocess)],
        "xml" => &[
            ("xml.etree.cElementTree", RuleId::ImportXmlEtree),
            ("xml.etree.ElementTree", RuleId::ImportXmlEtree),
            ("xml.sax", RuleId::ImportXmlSax),
            ("xml.dom.expatbuilder", RuleId::ImportXmlExpat),
            ("xml.dom.minidom", RuleId::ImportXmlMinidom),
            ("xml.dom.pulldom", RuleId::ImportXmlPulldom),
        ],
        "lxml" => &[("lxml", RuleId::ImportLxml)],
        "xmlrpc" => &[("xmlrpc", RuleId::ImportXmlrpc)],
        // Python 2's name (Bandit's `xmlrpc` prefix catches it).
        "xmlrpclib" => &[("xmlrpclib", RuleId::ImportXmlrpc)],
        "wsgiref" => &[("wsgiref.handlers.CGIHandler", RuleId::ImportHttpoxy)],
        "twisted" => &[
            ("twisted.web.twcgi.CGIScript", RuleId::ImportHttpoxy),
            ("twisted.web.twcgi.CGIDirectory", RuleId::ImportHttpoxy),
        ],
        "Crypto" => &[
            ("Crypto.Cipher", RuleId::ImportPycrypto),
            ("Crypto.Hash", RuleId::ImportPycrypto),
            ("Crypto.IO", RuleId::ImportPycrypto),
            ("Crypto.Protocol", RuleId::ImportPycrypto),
            ("Crypto.PublicKey", RuleId::ImportPycrypto),
            ("Crypto.Random", RuleId::ImportPycrypto),
            ("Crypto.Signature", RuleId::ImportPycrypto),
            ("Crypto.Util", RuleId::ImportPycrypto),
        ],
        "pyghmi" => &[("pyghmi", RuleId::ImportPyghmi)],
        _ => return None,
    };
    candidates
        .iter()
        .find(|(prefix, _)| under(module, prefix))
        .map(|(prefix, rule)| (*rule, *prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_prefixes_are_dotted() {
        assert_eq!(import_rule("pickle").map(|r| r.0), Some(RuleId::ImportPickle));
        assert_eq!(import_rule("pickle.loads").map(|r| r.0), Some(RuleId::ImportPickle));
        assert_eq!(import_rule("pickletools"), None);
        assert_eq!(
            import_rule("xml.etree.ElementTree.parse").map(|r| r.0),
            Some(RuleId::ImportXmlEtree)
        );
        assert_eq!(import_rule("xml.etree"), None);
        assert_eq!(import_rule("xml.sax.saxutils").map(|r| r.0), Some(RuleId::ImportXmlSax));
        assert_eq!(import_rule("Crypto"), None);
        assert_eq!(
            import_rule("Crypto.Cipher.AES").map(|r| r.0),
            Some(RuleId::ImportPycrypto)
        );
    }
}
