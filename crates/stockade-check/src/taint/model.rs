//! What the taint engine knows about libraries: which expressions are sources, which calls are
//! sinks (and which of their arguments), and which calls clean data.
//!
//! Everything here is a `match` on short strings: no allocation, no regex.

use crate::rules::util;
use ruff_python_ast::{Expr, ExprCall};

// Sink kinds. A taint carries the set of kinds it is still dangerous for; a sanitiser clears some.
pub const SQL: u16 = 1;
pub const CMD: u16 = 1 << 1;
pub const PATH: u16 = 1 << 2;
pub const REDIRECT: u16 = 1 << 3;
pub const URL: u16 = 1 << 4;
pub const CODE: u16 = 1 << 5;
pub const DESER: u16 = 1 << 6;
pub const TEMPLATE: u16 = 1 << 7;
/// An archive member's name: reaching a file write is zip slip (STK816), not STK803.
pub const ARCHIVE: u16 = 1 << 8;
/// A tarfile member object: `extract()` of it without `filter=` is STK816.
pub const TAR_MEMBER: u16 = 1 << 9;
pub const XPATH: u16 = 1 << 10;
pub const ALL: u16 = u16::MAX;

/// What request data may reach.
pub const REQUEST_KINDS: u16 = SQL | CMD | PATH | REDIRECT | URL | CODE | DESER | TEMPLATE | XPATH;
/// What argv/environment/input() data may reach. A command-line tool opening the file or URL it
/// was given is its job, not a vulnerability, so paths, URLs and redirects are left out.
pub const LOCAL_KINDS: u16 = SQL | CMD | CODE | DESER | TEMPLATE;

/// Attributes of a framework's request global (Flask/Quart `request`, Bottle `request`), or of a
/// parameter annotated as a request (Starlette/FastAPI `request: Request`), that hold
/// client-controlled data.
pub fn is_request_attr(attr: &str) -> bool {
    is_handler_request_attr(attr)
        || matches!(
            attr,
            "args"
                | "form"
                | "values"
                | "json"
                | "cookies"
                | "files"
                | "view_args"
                | "stream"
                | "query_string"
                | "full_path"
                | "url"
                | "base_url"
                | "referrer"
                | "host"
                | "user_agent"
                | "environ"
                | "path_params"
                | "query"
                | "forms"
                | "params"
        )
}

/// Attributes of a `request` known only by its name and place (a Django view's first parameter,
/// `self.request`): Django/DRF and Tornado request data. Narrower than `is_request_attr` because a
/// parameter called `request` is often something else (an HTTP client's outgoing request).
pub fn is_handler_request_attr(attr: &str) -> bool {
    matches!(
        attr,
        "GET"
            | "POST"
            | "COOKIES"
            | "META"
            | "FILES"
            | "body"
            | "data"
            | "headers"
            | "path"
            | "path_info"
            | "query_params"
            | "content_params"
            | "arguments"
            | "query_arguments"
            | "body_arguments"
            | "uri"
            | "files"
            | "match_info"
    )
}

/// Request attributes naming the current request's own location (not where it came from).
pub fn is_request_location(attr: &str) -> bool {
    matches!(
        attr,
        "url" | "base_url" | "full_path" | "path" | "path_info" | "host" | "uri" | "url_root" | "host_url"
    )
}

/// Methods of a request object that return client-controlled data.
pub fn is_request_method(method: &str) -> bool {
    matches!(
        method,
        "get_json"
            | "get_data"
            | "json"
            | "form"
            | "body"
            | "get_full_path"
            | "read"
            | "readline"
            | "stream"
            | "post"
            | "text"
    )
}

/// Tornado's RequestHandler accessors (`self.get_argument(...)`).
pub fn is_handler_accessor(method: &str) -> bool {
    matches!(
        method,
        "get_argument"
            | "get_arguments"
            | "get_query_argument"
            | "get_query_arguments"
            | "get_body_argument"
            | "get_body_arguments"
            | "get_cookie"
    )
}

/// Base classes whose subclasses handle one request each, with the request on `self`
/// (`http.server`, `socketserver`).
pub fn is_stdlib_handler_base(name: &str) -> bool {
    matches!(
        name,
        "BaseHTTPRequestHandler"
            | "SimpleHTTPRequestHandler"
            | "CGIHTTPRequestHandler"
            | "StreamRequestHandler"
            | "DatagramRequestHandler"
            | "BaseRequestHandler"
    )
}

/// Attributes of `self` in such a handler that hold what the client sent.
pub fn is_stdlib_handler_attr(attr: &str) -> bool {
    matches!(
        attr,
        "path" | "headers" | "requestline" | "raw_requestline" | "rfile" | "request"
    )
}

/// A GraphQL resolver, whose arguments come from the query: graphene's `resolve_<field>` and
/// `mutate` (with an `info` parameter), ariadne's `@query.field("x")`-decorated functions, and
/// strawberry's `@strawberry.field`/`mutation`/`subscription`.
pub fn is_graphql_resolver(function: &ruff_python_ast::StmtFunctionDef) -> bool {
    let name = function.name.as_str();
    let params = &*function.parameters;
    let has_info = params
        .posonlyargs
        .iter()
        .chain(params.args.iter())
        .take(3)
        .any(|p| p.parameter.name.as_str() == "info");
    let decorated = function.decorator_list.iter().any(|d| {
        let func = match &d.expression {
            Expr::Call(c) => &*c.func,
            other => other,
        };
        match func {
            Expr::Attribute(a) => match (&*a.value, a.attr.as_str()) {
                (Expr::Name(n), "field" | "mutation" | "subscription") if n.id.as_str() == "strawberry" => true,
                (_, "field") => has_info,
                _ => false,
            },
            _ => false,
        }
    });
    decorated || (has_info && (name.starts_with("resolve_") || name == "mutate"))
}

/// Qualified names of module-level request proxies.
pub fn is_request_global(qualified: &str) -> bool {
    matches!(qualified, "flask.request" | "quart.request" | "bottle.request")
}

pub fn is_request_module(qualified: &str) -> bool {
    matches!(qualified, "flask" | "quart" | "bottle")
}

/// A parameter annotation (qualified) naming a web framework's request object.
pub fn is_request_type(qualified: &str) -> bool {
    let framework = [
        "starlette.",
        "fastapi.",
        "django.",
        "rest_framework.",
        "flask.",
        "werkzeug.",
        "quart.",
        "aiohttp.web",
        "sanic.",
        "litestar.",
    ]
    .iter()
    .any(|p| qualified.starts_with(p));
    framework
        && matches!(
            util::last_segment(qualified),
            "Request" | "HttpRequest" | "WSGIRequest" | "ASGIRequest" | "WebSocket" | "BaseRequest"
        )
}

/// A parameter annotation whose value the framework has already converted to a type that cannot
/// carry an injection (`item_id: int`, `Optional[UUID]`, `Annotated[int, Path()]`), or a
/// dependency (`db: Session`).
pub fn is_clean_type(annotation: &Expr) -> bool {
    match annotation {
        Expr::Name(n) => is_clean_type_name(n.id.as_str()),
        Expr::Attribute(a) => is_clean_type_name(a.attr.as_str()),
        Expr::NoneLiteral(_) => true,
        Expr::BinOp(b) => is_clean_type(&b.left) && is_clean_type(&b.right),
        Expr::Subscript(s) => {
            let outer = match &*s.value {
                Expr::Name(n) => n.id.as_str(),
                Expr::Attribute(a) => a.attr.as_str(),
                _ => return false,
            };
            match outer {
                "Optional" => is_clean_type(&s.slice),
                "Union" => match &*s.slice {
                    Expr::Tuple(t) => t.elts.iter().all(is_clean_type),
                    other => is_clean_type(other),
                },
                "Annotated" => match &*s.slice {
                    Expr::Tuple(t) => {
                        t.elts.first().is_some_and(is_clean_type) || t.elts.iter().skip(1).any(is_dependency)
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}

fn is_clean_type_name(name: &str) -> bool {
    matches!(
        name,
        "int"
            | "float"
            | "bool"
            | "UUID"
            | "UUID1"
            | "UUID3"
            | "UUID4"
            | "UUID5"
            | "date"
            | "datetime"
            | "time"
            | "timedelta"
            | "Decimal"
            | "PositiveInt"
            | "NegativeInt"
            | "NonNegativeInt"
            | "StrictInt"
            | "StrictFloat"
            | "StrictBool"
            | "Response"
            | "BackgroundTasks"
            | "Session"
            | "AsyncSession"
            | "SecurityScopes"
    )
}

/// `Depends(...)` / `Security(...)`: a FastAPI dependency, not client data.
pub fn is_dependency(expr: &Expr) -> bool {
    match expr {
        Expr::Call(c) => matches!(last_name(&c.func), Some("Depends" | "Security")),
        _ => false,
    }
}

/// The route string of a web framework's route decorator (`@app.route("/x")`, `@bp.get("/x")`,
/// `@router.post("")`), or None if the decorator is not one.
pub fn route_of(decorator: &Expr) -> Option<&str> {
    let Expr::Call(call) = decorator else { return None };
    let Expr::Attribute(attr) = &*call.func else {
        return None;
    };
    let route = util::argument(call, "rule", 0)
        .or_else(|| util::keyword(call, "path"))
        .and_then(util::str_literal);
    match attr.attr.as_str() {
        "route" | "api_route" | "websocket" => Some(route.unwrap_or("")),
        "get" | "post" | "put" | "delete" | "patch" | "head" | "options" => {
            route.filter(|r| r.is_empty() || r.starts_with('/'))
        }
        _ => None,
    }
}

/// Whether the route declares `name` with a converter that only lets numbers/UUIDs through:
/// Flask `<int:name>`, Starlette `{name:int}`.
pub fn typed_in_route(route: &str, name: &str) -> bool {
    let clean = |conv: &str| matches!(conv, "int" | "float" | "uuid");
    let mut rest = route;
    while let Some(open) = rest.find(['<', '{']) {
        let close = if rest.as_bytes()[open] == b'<' { '>' } else { '}' };
        let Some(len) = rest[open + 1..].find(close) else { break };
        let inner = &rest[open + 1..open + 1 + len];
        rest = &rest[open + 1 + len..];
        if let Some((a, b)) = inner.split_once(':') {
            let (conv, param) = if close == '>' { (a, b) } else { (b, a) };
            let conv = conv.split('(').next().unwrap_or(conv);
            if param == name && clean(conv) {
                return true;
            }
        }
    }
    false
}

/// The last name of a dotted callee (`a.b.c` → `c`, `f` → `f`).
pub fn last_name(func: &Expr) -> Option<&str> {
    match func {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => Some(a.attr.as_str()),
        _ => None,
    }
}

/// What a call does to tainted data passing through it.
pub enum Through {
    /// The result is clean (a number, a boolean, a digest, a URL built by the framework).
    Clean,
    /// The result is still tainted but no longer dangerous for these kinds.
    Clears(u16),
    /// The result is a normalised path (`realpath`, `abspath`): a containment check on it counts.
    Normalises,
    /// The result is the argument itself, container or not (`list(x)`).
    Same,
    /// Unknown: the result carries the taint of everything passed in.
    Unknown,
}

/// How a call by qualified name treats its tainted arguments.
pub fn through(name: &str) -> Through {
    match name {
        "int" | "float" | "bool" | "complex" | "len" | "ord" | "hash" | "id" | "isinstance" | "issubclass"
        | "callable" | "type" | "abs" | "round" | "divmod" | "uuid.UUID" | "decimal.Decimal" | "flask.url_for"
        | "quart.url_for" | "django.urls.reverse" | "django.shortcuts.resolve_url" | "hmac.compare_digest"
        | "secrets.compare_digest" | "os.path.exists" | "os.path.isfile" | "os.path.isdir" | "os.path.getsize"
        | "datetime.date.fromisoformat" | "datetime.datetime.fromisoformat" | "datetime.datetime.strptime"
        // A file's contents are not its name's taint.
        | "open" | "builtins.open" | "io.open" | "codecs.open" | "aiofiles.open" => {
            Through::Clean
        }
        "shlex.quote" | "pipes.quote" => Through::Clears(CMD),
        "os.path.basename" | "posixpath.basename" | "ntpath.basename" => Through::Clears(PATH | ARCHIVE),
        // `safe_join(base, *parts)` returns None for a path that leaves `base`.
        "werkzeug.utils.safe_join" | "werkzeug.security.safe_join" | "flask.safe_join" | "flask.helpers.safe_join" => {
            Through::Clears(PATH | ARCHIVE)
        }
        "werkzeug.utils.secure_filename" | "werkzeug.secure_filename" | "django.utils.text.get_valid_filename" => {
            Through::Clears(PATH | ARCHIVE | CMD | SQL | CODE | TEMPLATE)
        }
        "urllib.parse.quote" | "urllib.parse.quote_plus" | "urllib.quote" | "urllib.quote_plus" => {
            Through::Clears(CMD | SQL | CODE | TEMPLATE)
        }
        "ipaddress.ip_address" | "ipaddress.ip_network" | "ipaddress.IPv4Address" | "ipaddress.IPv6Address" => {
            Through::Clears(SQL | CMD | PATH | CODE | TEMPLATE | DESER)
        }
        "os.path.realpath" | "os.path.abspath" | "os.path.normpath" | "posixpath.realpath" | "posixpath.abspath"
        | "posixpath.normpath" => Through::Normalises,
        "list" | "tuple" | "sorted" | "reversed" | "set" | "frozenset" | "copy.copy" | "copy.deepcopy" => {
            Through::Same
        }
        // stockade.guards (docs/guards.md): identifiers quoted or checked, placeholders and sort
        // clauses built from allow-lists; paths checked to stay beneath a base; file contents.
        "stockade.guards.quote_identifier"
        | "stockade.guards.sql.quote_identifier"
        | "stockade.guards.validate_identifier"
        | "stockade.guards.sql.validate_identifier"
        | "stockade.guards.quote_qualified"
        | "stockade.guards.sql.quote_qualified"
        | "stockade.guards.in_list"
        | "stockade.guards.sql.in_list"
        | "stockade.guards.in_clause"
        | "stockade.guards.sql.in_clause"
        | "stockade.guards.order_by"
        | "stockade.guards.sql.order_by" => Through::Clears(SQL),
        "stockade.guards.safe_join"
        | "stockade.guards.paths.safe_join"
        | "stockade.guards.check_relative"
        | "stockade.guards.paths.check_relative" => Through::Clears(PATH | ARCHIVE),
        "stockade.guards.safe_open" | "stockade.guards.paths.safe_open" => Through::Clean,
        _ if name.starts_with("hashlib.") || name.starts_with("hmac.") => Through::Clean,
        _ => Through::Unknown,
    }
}

/// `stockade.guards.Argv`, the argv builder of docs/guards.md.
pub fn is_argv(name: &str) -> bool {
    matches!(name, "stockade.guards.Argv" | "stockade.guards.commands.Argv")
}

/// Methods whose result says something about the receiver but carries none of its data.
pub fn is_predicate_method(method: &str) -> bool {
    matches!(
        method,
        "isdigit"
            | "isnumeric"
            | "isdecimal"
            | "isalpha"
            | "isalnum"
            | "isidentifier"
            | "isspace"
            | "islower"
            | "isupper"
            | "isascii"
            | "startswith"
            | "endswith"
            | "count"
            | "find"
            | "rfind"
            | "index"
            | "rindex"
            | "exists"
            | "is_file"
            | "is_dir"
            | "is_relative_to"
            | "is_absolute"
            | "bit_length"
            | "__len__"
            | "__contains__"
            | "hexdigest"
            | "digest"
    )
}

/// Methods that put their argument into their receiver.
pub fn is_mutator(method: &str) -> bool {
    matches!(
        method,
        "append" | "extend" | "insert" | "add" | "update" | "appendleft" | "extendleft" | "setdefault"
    )
}

/// Methods of `pathlib.Path` that touch the file system at the receiver's path; the bool says
/// whether they write.
pub fn path_method(method: &str) -> Option<bool> {
    match method {
        "open" => Some(true),
        "read_text" | "read_bytes" | "iterdir" | "glob" | "rglob" | "stat" | "readlink" => Some(false),
        "write_text" | "write_bytes" | "touch" | "mkdir" | "unlink" | "rmdir" | "rename" | "symlink_to"
        | "hardlink_to" | "chmod" => Some(true),
        _ => None,
    }
}

/// Calls that make a `pathlib` path object.
pub fn is_path_ctor(name: &str) -> bool {
    matches!(
        name,
        "pathlib.Path" | "pathlib.PurePath" | "pathlib.PosixPath" | "pathlib.WindowsPath" | "pathlib.PurePosixPath"
    )
}

/// Calls that make an HTTP client whose `get`/`post`/... methods send requests.
pub fn is_http_client_ctor(name: &str) -> bool {
    matches!(
        name,
        "requests.Session"
            | "requests.session"
            | "requests.sessions.Session"
            | "httpx.Client"
            | "httpx.AsyncClient"
            | "aiohttp.ClientSession"
            | "urllib3.PoolManager"
            | "urllib3.ProxyManager"
            | "tornado.httpclient.AsyncHTTPClient"
            | "tornado.httpclient.HTTPClient"
    )
}

/// Cheap pre-check before resolving a callee's qualified name for `is_http_client_ctor`.
pub fn may_be_http_client_ctor(last: &str) -> bool {
    matches!(
        last,
        "Session"
            | "session"
            | "Client"
            | "AsyncClient"
            | "ClientSession"
            | "PoolManager"
            | "ProxyManager"
            | "AsyncHTTPClient"
            | "HTTPClient"
    )
}

/// Calls after which the rest of the block does not run.
pub fn is_terminating_call(call: &ExprCall) -> bool {
    matches!(
        last_name(&call.func),
        Some("abort" | "exit" | "_exit" | "abort_with_error")
    )
}

/// How a sink's argument is judged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Any taint of a matching kind.
    Any,
    /// subprocess-style: with shell=True any taint in the argument; otherwise only a tainted
    /// program (the string, or a list's first element).
    Program,
    /// A URL: not reported when a constant prefix fixes the origin (`"/profile/" + x`).
    Url,
    /// `open()`: for archive member names only a write counts.
    Open,
    /// `yaml.load`: not a sink with a safe Loader.
    Yaml,
    /// `torch.load`: not a sink with weights_only=True.
    Torch,
}

#[derive(Clone, Copy, Debug)]
pub struct Sink {
    pub kind: u16,
    pub positions: &'static [usize],
    pub keywords: &'static [&'static str],
    pub role: &'static str,
    pub mode: Mode,
    /// Whether the sink writes (for archive member names, only writes are zip slip).
    pub write: bool,
}

const fn sink(kind: u16, positions: &'static [usize], keywords: &'static [&'static str], role: &'static str) -> Sink {
    Sink {
        kind,
        positions,
        keywords,
        role,
        mode: Mode::Any,
        write: false,
    }
}

const fn with_mode(mut s: Sink, mode: Mode) -> Sink {
    s.mode = mode;
    s
}

const fn writes(mut s: Sink) -> Sink {
    s.write = true;
    s
}

const SQL_ROLE: &str = "the SQL text";
const SHELL_ROLE: &str = "the shell command";
const PROGRAM_ROLE: &str = "the program to run";
const PATH_ROLE: &str = "a file path";
const REDIRECT_ROLE: &str = "the redirect URL";
const URL_ROLE: &str = "the request URL";
const CODE_ROLE: &str = "code to run";
const DESER_ROLE: &str = "data to deserialise";
const TEMPLATE_ROLE: &str = "the template source";
const XPATH_ROLE: &str = "the XPath query";

/// The sink a call is, by the callee's qualified name.
pub fn sink_by_name(name: &str) -> Option<Sink> {
    let s = match name {
        // Command injection.
        "os.system"
        | "os.popen"
        | "posix.system"
        | "os.popen2"
        | "os.popen3"
        | "os.popen4"
        | "subprocess.getoutput"
        | "subprocess.getstatusoutput"
        | "commands.getoutput"
        | "commands.getstatusoutput"
        | "asyncio.create_subprocess_shell" => sink(CMD, &[0], &["cmd", "command"], SHELL_ROLE),
        "subprocess.Popen"
        | "subprocess.run"
        | "subprocess.call"
        | "subprocess.check_call"
        | "subprocess.check_output"
        | "pty.spawn" => with_mode(sink(CMD, &[0], &["args", "argv"], PROGRAM_ROLE), Mode::Program),
        "asyncio.create_subprocess_exec"
        | "os.execv"
        | "os.execve"
        | "os.execvp"
        | "os.execvpe"
        | "os.execl"
        | "os.execle"
        | "os.execlp"
        | "os.execlpe"
        | "os.posix_spawn"
        | "os.posix_spawnp"
        | "os.startfile" => sink(CMD, &[0], &["program", "path", "file", "filepath"], PROGRAM_ROLE),
        "os.spawnv" | "os.spawnve" | "os.spawnvp" | "os.spawnvpe" | "os.spawnl" | "os.spawnle" | "os.spawnlp"
        | "os.spawnlpe" => sink(CMD, &[1], &["file", "path"], PROGRAM_ROLE),
        // Path traversal.
        "open" | "builtins.open" | "io.open" | "codecs.open" | "aiofiles.open" => {
            with_mode(sink(PATH, &[0], &["file", "filename"], PATH_ROLE), Mode::Open)
        }
        "os.open" => writes(sink(PATH, &[0], &["path"], PATH_ROLE)),
        "os.remove" | "os.unlink" | "os.rmdir" | "os.removedirs" | "os.truncate" | "shutil.rmtree" => {
            writes(sink(PATH, &[0], &["path"], PATH_ROLE))
        }
        "os.mkdir" | "os.makedirs" | "os.listdir" | "os.scandir" | "os.chmod" | "os.chown" | "os.utime" => {
            sink(PATH, &[0], &["path", "name"], PATH_ROLE)
        }
        "os.rename" | "os.renames" | "os.replace" | "os.symlink" | "os.link" | "shutil.copy" | "shutil.copy2"
        | "shutil.copyfile" | "shutil.copytree" | "shutil.move" | "shutil.copymode" | "shutil.copystat" => {
            writes(sink(PATH, &[0, 1], &["src", "dst"], PATH_ROLE))
        }
        "flask.send_file" | "flask.helpers.send_file" | "quart.send_file" | "bottle.static_file" => {
            sink(PATH, &[0], &["path_or_file", "filename_or_fp", "filename"], PATH_ROLE)
        }
        // Open redirect.
        "flask.redirect"
        | "quart.redirect"
        | "werkzeug.utils.redirect"
        | "werkzeug.redirect"
        | "bottle.redirect"
        | "django.shortcuts.redirect"
        | "django.http.HttpResponseRedirect"
        | "django.http.HttpResponsePermanentRedirect"
        | "django.http.response.HttpResponseRedirect"
        | "django.http.response.HttpResponsePermanentRedirect"
        | "starlette.responses.RedirectResponse"
        | "fastapi.responses.RedirectResponse" => with_mode(
            sink(REDIRECT, &[0], &["location", "url", "to", "redirect_to"], REDIRECT_ROLE),
            Mode::Url,
        ),
        // SSRF.
        "requests.get"
        | "requests.post"
        | "requests.put"
        | "requests.patch"
        | "requests.delete"
        | "requests.head"
        | "requests.options"
        | "httpx.get"
        | "httpx.post"
        | "httpx.put"
        | "httpx.patch"
        | "httpx.delete"
        | "httpx.head"
        | "httpx.options"
        | "urllib.request.urlopen"
        | "urllib.request.Request"
        | "urllib.urlopen"
        | "urllib2.urlopen"
        | "urllib2.Request"
        | "six.moves.urllib.request.urlopen" => with_mode(sink(URL, &[0], &["url"], URL_ROLE), Mode::Url),
        "requests.request" | "httpx.request" | "httpx.stream" | "aiohttp.request" | "urllib3.request" => {
            with_mode(sink(URL, &[1], &["url"], URL_ROLE), Mode::Url)
        }
        "http.client.HTTPConnection" | "http.client.HTTPSConnection" => {
            sink(URL, &[0], &["host"], "the host to connect to")
        }
        // Code.
        "eval" | "exec" | "compile" | "builtins.eval" | "builtins.exec" | "builtins.compile" => {
            sink(CODE, &[0], &["source"], CODE_ROLE)
        }
        // eval-like: an expression language that reaches Python's eval or attribute access.
        // (ImageMath's keywords are the expression's variables, not the expression.)
        "PIL.ImageMath.eval" | "PIL.ImageMath.unsafe_eval" => sink(CODE, &[0], &["expression"], CODE_ROLE),
        "pandas.eval" | "numexpr.evaluate" => sink(CODE, &[0], &["expr", "ex"], CODE_ROLE),
        "sympy.sympify" | "sympy.parse_expr" | "sympy.parsing.sympy_parser.parse_expr" => {
            sink(CODE, &[0], &["a", "s"], CODE_ROLE)
        }
        // File names matched by a pattern the client chose (`*`, `**`, `..`).
        "glob.glob" | "glob.iglob" => sink(PATH, &[0], &["pathname"], PATH_ROLE),
        // XPath injection.
        "lxml.etree.XPath" | "lxml.etree.ETXPath" => sink(XPATH, &[0], &["path"], XPATH_ROLE),
        // Deserialisation.
        "pickle.loads"
        | "pickle.load"
        | "pickle.Unpickler"
        | "cPickle.loads"
        | "cPickle.load"
        | "_pickle.loads"
        | "_pickle.load"
        | "dill.loads"
        | "dill.load"
        | "cloudpickle.loads"
        | "cloudpickle.load"
        | "marshal.loads"
        | "marshal.load"
        | "jsonpickle.decode"
        | "pandas.read_pickle"
        | "yaml.unsafe_load"
        | "yaml.unsafe_load_all"
        | "shelve.open" => sink(
            DESER,
            &[0],
            &["data", "file", "s", "stream", "filepath_or_buffer"],
            DESER_ROLE,
        ),
        "yaml.load" | "yaml.load_all" => with_mode(sink(DESER, &[0], &["stream"], DESER_ROLE), Mode::Yaml),
        "torch.load" => with_mode(sink(DESER, &[0], &["f"], DESER_ROLE), Mode::Torch),
        // Template injection.
        "flask.render_template_string"
        | "quart.render_template_string"
        | "jinja2.Template"
        | "jinja2.environment.Template"
        | "django.template.Template"
        | "django.template.base.Template"
        | "mako.template.Template"
        | "tornado.template.Template" => sink(TEMPLATE, &[0], &["source", "template_string", "text"], TEMPLATE_ROLE),
        // SQL.
        "sqlalchemy.text" | "sqlalchemy.sql.text" | "sqlalchemy.sql.expression.text" => {
            sink(SQL, &[0], &["text"], SQL_ROLE)
        }
        "pandas.read_sql" | "pandas.read_sql_query" => sink(SQL, &[0], &["sql"], SQL_ROLE),
        _ if name.starts_with("django.") && name.ends_with(".RawSQL") => sink(SQL, &[0], &["sql"], SQL_ROLE),
        _ => return None,
    };
    Some(s)
}

/// The sink a method call is, by method name, when the name alone says enough.
pub fn sink_by_method(method: &str, receiver: &Expr, http_client: bool) -> Option<Sink> {
    let s = match method {
        "execute" | "executemany" | "executescript" | "fetchrow" | "fetchval" => {
            sink(SQL, &[0], &["sql", "query", "operation", "statement"], SQL_ROLE)
        }
        "raw" if matches!(receiver, Expr::Attribute(a) if a.attr.as_str() == "objects") => {
            sink(SQL, &[0], &["raw_query"], SQL_ROLE)
        }
        "extra" => sink(SQL, &[0, 1, 3, 4], &["select", "where", "tables", "order_by"], SQL_ROLE),
        "from_string" => sink(TEMPLATE, &[0], &["source"], TEMPLATE_ROLE),
        "xpath" => sink(XPATH, &[0], &["_path", "path"], XPATH_ROLE),
        "save" => writes(sink(PATH, &[0], &["dst", "fp"], PATH_ROLE)),
        // Archive extraction into a directory the client chose.
        "extractall" => writes(sink(PATH, &[0], &["path"], "the extraction directory")),
        "extract" => writes(sink(PATH, &[1], &["path"], "the extraction directory")),
        "redirect" if matches!(receiver, Expr::Name(n) if n.id.as_str() == "self") => {
            with_mode(sink(REDIRECT, &[0], &["url"], REDIRECT_ROLE), Mode::Url)
        }
        "get" | "post" | "put" | "patch" | "delete" | "head" | "options" | "fetch" if http_client => {
            with_mode(sink(URL, &[0], &["url"], URL_ROLE), Mode::Url)
        }
        "request" | "urlopen" | "stream" if http_client => with_mode(sink(URL, &[1], &["url"], URL_ROLE), Mode::Url),
        _ => return None,
    };
    Some(s)
}

/// Methods that set a response header (`set_header("Location", url)` in Tornado, `send_header`
/// in `http.server`, Bottle's `response.set_header`, Werkzeug's `headers.add`).
pub fn is_header_setter(method: &str) -> bool {
    matches!(
        method,
        "set_header" | "add_header" | "send_header" | "header" | "append_header" | "add" | "set"
    )
}

/// A `Location` header set by hand: the value (second argument) is where the client goes.
pub fn location_header_sink() -> Sink {
    with_mode(sink(REDIRECT, &[1], &["value", "_value"], REDIRECT_ROLE), Mode::Url)
}

/// Whether a literal URL prefix fixes where the URL goes: an absolute URL whose host is complete
/// (`https://api.example.com/`), or for redirects a local path (`/profile/`, not `//` or `/\`).
pub fn prefix_fixes_origin(prefix: &str, kind: u16) -> bool {
    if kind == REDIRECT && prefix.starts_with('/') {
        let b = prefix.as_bytes();
        return b.len() >= 2 && b[1] != b'/' && b[1] != b'\\';
    }
    match prefix.find("://") {
        Some(i) => prefix[i + 3..].contains(['/', '?', '#']),
        None => false,
    }
}

/// `yaml.load(data, Loader=SafeLoader)`: whether the loader is a safe one.
pub fn yaml_loader_is_safe(call: &ExprCall) -> bool {
    util::argument(call, "Loader", 1)
        .and_then(last_name)
        .is_some_and(|l| matches!(l, "SafeLoader" | "CSafeLoader" | "BaseLoader" | "CBaseLoader"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_converters() {
        assert!(typed_in_route("/user/<int:uid>", "uid"));
        assert!(typed_in_route("/items/{item_id:int}", "item_id"));
        assert!(typed_in_route("/u/<uuid:x>/<name>", "x"));
        assert!(!typed_in_route("/u/<uuid:x>/<name>", "name"));
        assert!(!typed_in_route("/file/<path:p>", "p"));
        assert!(!typed_in_route("/x/<string(length=2):code>", "code"));
        assert!(!typed_in_route("/broken/<int:x", "x"));
    }

    #[test]
    fn stockade_guards_are_sanitisers() {
        for (name, kinds) in [
            ("stockade.guards.quote_identifier", SQL),
            ("stockade.guards.sql.order_by", SQL),
            ("stockade.guards.in_clause", SQL),
            ("stockade.guards.safe_join", PATH | ARCHIVE),
        ] {
            assert!(matches!(through(name), Through::Clears(k) if k == kinds), "{name}");
        }
        assert!(matches!(through("stockade.guards.safe_open"), Through::Clean));
    }

    #[test]
    fn url_prefixes() {
        assert!(prefix_fixes_origin("/profile/", REDIRECT));
        assert!(!prefix_fixes_origin("/", REDIRECT));
        assert!(!prefix_fixes_origin("//", REDIRECT));
        assert!(!prefix_fixes_origin("/\\", REDIRECT));
        assert!(prefix_fixes_origin("https://api.example.com/v1/", URL));
        assert!(prefix_fixes_origin("https://api.example.com?q=", URL));
        assert!(!prefix_fixes_origin("https://", URL));
        assert!(!prefix_fixes_origin("https://api.example.com", URL));
        assert!(!prefix_fixes_origin("/local", URL));
    }
}
