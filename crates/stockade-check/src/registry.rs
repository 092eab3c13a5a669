//! Every rule stockade check knows: a stable id, a name, its CWE, default severity and
//! confidence, the equivalent Bandit and ruff ids, and which profile it belongs to.
//!
//! Ids never change meaning. STK0xx are engine findings (the file itself), STK1xx–STK7xx follow
//! Bandit's numbering so `B602` is `STK602`, STK8xx go beyond Bandit (taint and secrets), STK9xx
//! are the pre-screen for untrusted code.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Level::Low),
            "medium" => Some(Level::Medium),
            "high" => Some(Level::High),
            _ => None,
        }
    }
}

/// Which run of the checker a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Engine findings: reported in every profile.
    Engine,
    /// The application audit (the default).
    Audit,
    /// The pre-screen of untrusted code (`--prescreen`).
    Prescreen,
}

/// A rule's static description.
#[derive(Debug, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub cwe: u32,
    pub severity: Level,
    pub confidence: Level,
    pub bandit: &'static [&'static str],
    pub ruff: &'static [&'static str],
    pub profile: Profile,
    pub summary: &'static str,
}

macro_rules! rules {
    ($($variant:ident = $id:literal $name:literal cwe $cwe:literal $sev:ident $conf:ident
        bandit [$($b:literal),*] ruff [$($r:literal),*] $profile:ident $summary:literal;)*) => {
        /// A rule, by name in the code. `RuleId::meta` has its description.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId { $($variant),* }

        /// All rules, in id order.
        pub const ALL: &[RuleId] = &[$(RuleId::$variant),*];

        static RULES: &[Rule] = &[$(Rule {
            id: $id,
            name: $name,
            cwe: $cwe,
            severity: Level::$sev,
            confidence: Level::$conf,
            bandit: &[$($b),*],
            ruff: &[$($r),*],
            profile: Profile::$profile,
            summary: $summary,
        }),*];
    };
}

impl RuleId {
    pub fn meta(self) -> &'static Rule {
        &RULES[self as usize]
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Finds a rule by its id (`STK602`), name (`subprocess-shell-true`), Bandit id (`B602`) or
    /// ruff code (`S602`). Matching is exact (ids are upper case, names lower case).
    pub fn lookup(key: &str) -> Option<RuleId> {
        ALL.iter().copied().find(|r| {
            let m = r.meta();
            m.id == key || m.name == key || m.bandit.contains(&key) || m.ruff.contains(&key)
        })
    }
}

rules! {
    SyntaxError = "STK001" "syntax-error" cwe 1164 High High bandit [] ruff [] Engine
        "the file does not parse as Python; the parser recovers, and the rest of the file is still checked";
    UnreadableFile = "STK002" "unreadable-file" cwe 1164 High High bandit [] ruff [] Engine
        "the file could not be read as UTF-8 Python source, or is too large or too deeply nested to check";
    UnusedSuppression = "STK003" "unused-suppression" cwe 1164 Low High bandit [] ruff ["RUF100"] Engine
        "a suppression comment that suppresses nothing";

    AssertUsed = "STK101" "assert-used" cwe 703 Low High bandit ["B101"] ruff ["S101"] Audit
        "assert is removed under python -O; do not use it to enforce a check";
    ExecUsed = "STK102" "exec-used" cwe 78 Medium High bandit ["B102"] ruff ["S102"] Audit
        "exec runs arbitrary code";
    BadFilePermissions = "STK103" "bad-file-permissions" cwe 732 Medium High bandit ["B103"] ruff ["S103"] Audit
        "chmod grants write or execute to group/other";
    BindAllInterfaces = "STK104" "bind-all-interfaces" cwe 605 Medium Medium bandit ["B104"] ruff ["S104"] Audit
        "binding to all interfaces exposes the service on every network";
    HardcodedPasswordString = "STK105" "hardcoded-password-string" cwe 259 Low Medium bandit ["B105"] ruff ["S105"] Audit
        "a string literal assigned to or compared with a password-like name";
    HardcodedPasswordFuncarg = "STK106" "hardcoded-password-funcarg" cwe 259 Low Medium bandit ["B106"] ruff ["S106"] Audit
        "a string literal passed as a password-like keyword argument";
    HardcodedPasswordDefault = "STK107" "hardcoded-password-default" cwe 259 Low Medium bandit ["B107"] ruff ["S107"] Audit
        "a string literal as the default of a password-like parameter";
    HardcodedTmpDirectory = "STK108" "hardcoded-tmp-directory" cwe 377 Medium Medium bandit ["B108"] ruff ["S108"] Audit
        "a hard-coded path in a shared temporary directory (predictable, raceable)";
    TryExceptPass = "STK110" "try-except-pass" cwe 703 Low High bandit ["B110"] ruff ["S110"] Audit
        "an exception silently swallowed with pass";
    TryExceptContinue = "STK112" "try-except-continue" cwe 703 Low High bandit ["B112"] ruff ["S112"] Audit
        "an exception silently swallowed with continue";
    RequestWithoutTimeout = "STK113" "request-without-timeout" cwe 400 Medium Low bandit ["B113"] ruff ["S113"] Audit
        "an HTTP request without a timeout can hang forever";
    FlaskDebugTrue = "STK201" "flask-debug-true" cwe 94 High Medium bandit ["B201"] ruff ["S201"] Audit
        "Flask's debugger allows arbitrary code execution";
    TarfileUnsafeMembers = "STK202" "tarfile-unsafe-members" cwe 22 High High bandit ["B202"] ruff ["S202"] Audit
        "tarfile.extractall without a filter or member check can write outside the target";

    PickleUsage = "STK301" "pickle-load" cwe 502 Medium High bandit ["B301"] ruff ["S301"] Audit
        "unpickling data runs code chosen by whoever produced it";
    MarshalUsage = "STK302" "marshal-load" cwe 502 Medium High bandit ["B302"] ruff ["S302"] Audit
        "marshal is not safe against malicious data";
    InsecureHashFunction = "STK303" "insecure-hash-function" cwe 327 Medium High bandit ["B303"] ruff ["S303"] Audit
        "MD5/SHA1 from a crypto library are broken for security uses";
    InsecureCipher = "STK304" "insecure-cipher" cwe 327 High High bandit ["B304"] ruff ["S304"] Audit
        "a broken or weak cipher (ARC2, ARC4, Blowfish, DES, IDEA, XOR, ...)";
    InsecureCipherMode = "STK305" "insecure-cipher-mode" cwe 327 Medium High bandit ["B305"] ruff ["S305"] Audit
        "ECB mode leaks patterns of the plaintext";
    MktempUsage = "STK306" "mktemp-usage" cwe 377 Medium High bandit ["B306"] ruff ["S306"] Audit
        "tempfile.mktemp returns a name another process can take first";
    EvalUsage = "STK307" "eval-used" cwe 78 Medium High bandit ["B307"] ruff ["S307"] Audit
        "eval runs arbitrary code; ast.literal_eval parses literals safely";
    MarkSafeUsage = "STK308" "mark-safe-usage" cwe 79 Medium High bandit ["B308"] ruff ["S308"] Audit
        "mark_safe disables HTML escaping and may expose XSS";
    UrlopenScheme = "STK310" "urlopen-audit-scheme" cwe 22 Medium High bandit ["B310"] ruff ["S310"] Audit
        "urlopen accepts file: and custom schemes; check the URL's scheme";
    NonCryptoRandom = "STK311" "non-crypto-random" cwe 330 Low High bandit ["B311"] ruff ["S311"] Audit
        "the random module is predictable; use secrets for security";
    TelnetUsage = "STK312" "telnet-usage" cwe 319 High High bandit ["B312"] ruff ["S312"] Audit
        "Telnet sends everything, credentials included, in clear text";
    XmlCElementTree = "STK313" "xml-celementtree" cwe 20 Medium High bandit ["B313"] ruff ["S313"] Audit
        "xml.etree.cElementTree is vulnerable to XML attacks; use defusedxml";
    XmlElementTree = "STK314" "xml-elementtree" cwe 20 Medium High bandit ["B314"] ruff ["S314"] Audit
        "xml.etree.ElementTree is vulnerable to XML attacks; use defusedxml";
    XmlExpatReader = "STK315" "xml-expat-reader" cwe 20 Medium High bandit ["B315"] ruff ["S315"] Audit
        "xml.sax.expatreader is vulnerable to XML attacks; use defusedxml";
    XmlExpatBuilder = "STK316" "xml-expat-builder" cwe 20 Medium High bandit ["B316"] ruff ["S316"] Audit
        "xml.dom.expatbuilder is vulnerable to XML attacks; use defusedxml";
    XmlSax = "STK317" "xml-sax" cwe 20 Medium High bandit ["B317"] ruff ["S317"] Audit
        "xml.sax is vulnerable to XML attacks; use defusedxml";
    XmlMinidom = "STK318" "xml-minidom" cwe 20 Medium High bandit ["B318"] ruff ["S318"] Audit
        "xml.dom.minidom is vulnerable to XML attacks; use defusedxml";
    XmlPulldom = "STK319" "xml-pulldom" cwe 20 Medium High bandit ["B319"] ruff ["S319"] Audit
        "xml.dom.pulldom is vulnerable to XML attacks; use defusedxml";
    XmlLxml = "STK320" "xml-lxml" cwe 20 Medium High bandit ["B320"] ruff ["S320"] Audit
        "lxml parsing of untrusted XML; use defusedxml.lxml or a parser with entities off";
    FtpUsage = "STK321" "ftp-usage" cwe 319 High High bandit ["B321"] ruff ["S321"] Audit
        "FTP sends everything, credentials included, in clear text";
    UnverifiedContext = "STK323" "unverified-ssl-context" cwe 295 Medium High bandit ["B323"] ruff ["S323"] Audit
        "ssl._create_unverified_context turns off certificate checks";
    HashlibInsecureHash = "STK324" "hashlib-insecure-hash" cwe 327 High High bandit ["B324"] ruff ["S324"] Audit
        "hashlib MD4/MD5/SHA1 used without usedforsecurity=False";

    ImportTelnetlib = "STK401" "import-telnetlib" cwe 319 High High bandit ["B401"] ruff ["S401"] Audit
        "telnetlib is a clear-text protocol";
    ImportFtplib = "STK402" "import-ftplib" cwe 319 High High bandit ["B402"] ruff ["S402"] Audit
        "ftplib is a clear-text protocol";
    ImportPickle = "STK403" "import-pickle" cwe 502 Low High bandit ["B403"] ruff ["S403"] Audit
        "pickle-family modules deserialise code";
    ImportSubprocess = "STK404" "import-subprocess" cwe 78 Low High bandit ["B404"] ruff ["S404"] Audit
        "subprocess starts programs; check every call";
    ImportXmlEtree = "STK405" "import-xml-etree" cwe 20 Low High bandit ["B405"] ruff ["S405"] Audit
        "xml.etree is vulnerable to XML attacks; use defusedxml";
    ImportXmlSax = "STK406" "import-xml-sax" cwe 20 Low High bandit ["B406"] ruff ["S406"] Audit
        "xml.sax is vulnerable to XML attacks; use defusedxml";
    ImportXmlExpat = "STK407" "import-xml-expat" cwe 20 Low High bandit ["B407"] ruff ["S407"] Audit
        "xml.dom.expatbuilder is vulnerable to XML attacks; use defusedxml";
    ImportXmlMinidom = "STK408" "import-xml-minidom" cwe 20 Low High bandit ["B408"] ruff ["S408"] Audit
        "xml.dom.minidom is vulnerable to XML attacks; use defusedxml";
    ImportXmlPulldom = "STK409" "import-xml-pulldom" cwe 20 Low High bandit ["B409"] ruff ["S409"] Audit
        "xml.dom.pulldom is vulnerable to XML attacks; use defusedxml";
    ImportLxml = "STK410" "import-lxml" cwe 20 Low High bandit ["B410"] ruff ["S410"] Audit
        "lxml is vulnerable to XML attacks; use defusedxml.lxml";
    ImportXmlrpc = "STK411" "import-xmlrpc" cwe 20 High High bandit ["B411"] ruff ["S411"] Audit
        "xmlrpc is vulnerable to XML attacks; use defusedxml.xmlrpc.monkey_patch()";
    ImportHttpoxy = "STK412" "import-httpoxy" cwe 284 High High bandit ["B412"] ruff ["S412"] Audit
        "CGI handlers are vulnerable to httpoxy (the Proxy header becomes HTTP_PROXY)";
    ImportPycrypto = "STK413" "import-pycrypto" cwe 327 High High bandit ["B413"] ruff ["S413"] Audit
        "pyCrypto is unmaintained and has known vulnerabilities; use pyca/cryptography";
    ImportPyghmi = "STK415" "import-pyghmi" cwe 319 High High bandit ["B415"] ruff ["S415"] Audit
        "IPMI is a clear-text protocol";

    RequestNoCertValidation = "STK501" "request-no-cert-validation" cwe 295 High High bandit ["B501"] ruff ["S501"] Audit
        "verify=False turns off TLS certificate checks";
    SslBadVersion = "STK502" "ssl-insecure-version" cwe 327 High High bandit ["B502"] ruff ["S502"] Audit
        "SSLv2/SSLv3/TLSv1/TLSv1.1 are broken protocol versions";
    SslBadDefaults = "STK503" "ssl-bad-defaults" cwe 327 Medium Medium bandit ["B503"] ruff ["S503"] Audit
        "a function defaults to a broken SSL/TLS version";
    SslNoVersion = "STK504" "ssl-no-version" cwe 327 Low Medium bandit ["B504"] ruff ["S504"] Audit
        "ssl.wrap_socket without ssl_version may negotiate a broken version";
    WeakCryptographicKey = "STK505" "weak-cryptographic-key" cwe 326 High High bandit ["B505"] ruff ["S505"] Audit
        "RSA/DSA keys under 2048 bits or EC keys under 224 bits";
    YamlLoad = "STK506" "unsafe-yaml-load" cwe 20 Medium High bandit ["B506"] ruff ["S506"] Audit
        "yaml.load with a loader that constructs arbitrary objects; use yaml.safe_load";
    SshNoHostKeyVerification = "STK507" "ssh-no-host-key-verification" cwe 295 High Medium bandit ["B507"] ruff ["S507"] Audit
        "paramiko accepting unknown host keys (AutoAddPolicy/WarningPolicy)";
    SnmpInsecureVersion = "STK508" "snmp-insecure-version" cwe 319 Medium High bandit ["B508"] ruff ["S508"] Audit
        "SNMPv1/v2c have no encryption";
    SnmpWeakCryptography = "STK509" "snmp-weak-cryptography" cwe 319 Medium High bandit ["B509"] ruff ["S509"] Audit
        "SNMPv3 without authentication and privacy keys";

    ParamikoCall = "STK601" "paramiko-exec-command" cwe 78 Medium Medium bandit ["B601"] ruff ["S601"] Audit
        "paramiko exec_command runs a shell command on the remote host";
    SubprocessShellTrue = "STK602" "subprocess-shell-true" cwe 78 High High bandit ["B602"] ruff ["S602"] Audit
        "subprocess with shell=True: the command is parsed by a shell";
    SubprocessWithoutShell = "STK603" "subprocess-without-shell" cwe 78 Low High bandit ["B603"] ruff ["S603"] Audit
        "subprocess call: check the executable and arguments are trusted";
    CallWithShellTrue = "STK604" "call-with-shell-true" cwe 78 Medium Low bandit ["B604"] ruff ["S604"] Audit
        "a function called with shell=True";
    StartProcessWithShell = "STK605" "start-process-with-shell" cwe 78 High High bandit ["B605"] ruff ["S605"] Audit
        "os.system/os.popen run a command through the shell";
    StartProcessNoShell = "STK606" "start-process-no-shell" cwe 78 Low Medium bandit ["B606"] ruff ["S606"] Audit
        "os.exec*/spawn* start a program: check it is trusted";
    StartProcessPartialPath = "STK607" "start-process-partial-path" cwe 78 Low High bandit ["B607"] ruff ["S607"] Audit
        "a program started by a partial path is looked up in PATH";
    HardcodedSqlExpression = "STK608" "hardcoded-sql-expression" cwe 89 Medium Low bandit ["B608"] ruff ["S608"] Audit
        "SQL built by string formatting or concatenation";
    WildcardInjection = "STK609" "linux-commands-wildcard-injection" cwe 155 High Medium bandit ["B609"] ruff ["S609"] Audit
        "a shell wildcard given to chown/chmod/tar/rsync can be turned into options";
    DjangoExtra = "STK610" "django-extra-used" cwe 89 Medium Medium bandit ["B610"] ruff ["S610"] Audit
        "QuerySet.extra with non-literal SQL";
    DjangoRawSql = "STK611" "django-rawsql-used" cwe 89 Medium Medium bandit ["B611"] ruff ["S611"] Audit
        "RawSQL with non-literal SQL";
    LoggingConfigListen = "STK612" "logging-config-insecure-listen" cwe 94 Medium High bandit ["B612"] ruff ["S612"] Audit
        "logging.config.listen accepts configuration (and code) from the network";
    TrojanSource = "STK613" "trojan-source" cwe 838 High Medium bandit ["B613"] ruff ["PLE2502"] Audit
        "bidirectional Unicode control characters can make code read differently than it runs";
    TorchLoad = "STK614" "unsafe-torch-load" cwe 502 Medium High bandit ["B614"] ruff [] Audit
        "torch.load unpickles; pass weights_only=True";
    HubUnpinnedDownload = "STK615" "huggingface-unpinned-download" cwe 494 Medium High bandit ["B615"] ruff [] Audit
        "a model hub download without a pinned revision can change under you";

    Jinja2AutoescapeFalse = "STK701" "jinja2-autoescape-false" cwe 94 High High bandit ["B701"] ruff ["S701"] Audit
        "jinja2 Environment with autoescape off (the default) exposes XSS";
    MakoTemplates = "STK702" "mako-templates" cwe 80 Medium High bandit ["B702"] ruff ["S702"] Audit
        "Mako templates do not escape HTML by default";
    DjangoMarkSafe = "STK703" "django-mark-safe" cwe 80 Medium High bandit ["B703"] ruff [] Audit
        "mark_safe/SafeString on a value that is not a literal";
    MarkupsafeMarkupXss = "STK704" "markupsafe-markup-xss" cwe 79 High High bandit ["B704"] ruff ["S704"] Audit
        "markupsafe.Markup on a value that is not a literal";

    TaintedSql = "STK801" "tainted-sql" cwe 89 High High bandit [] ruff [] Audit
        "user-controlled data reaches a SQL query without parameters (bind values; names and sort keys through stockade.guards quote_identifier / order_by)";
    TaintedCommand = "STK802" "tainted-command" cwe 78 High High bandit [] ruff [] Audit
        "user-controlled data reaches a shell or program command line (build argv with stockade.guards.Argv, no shell)";
    TaintedPath = "STK803" "tainted-path" cwe 22 High Medium bandit [] ruff [] Audit
        "user-controlled data reaches a file path without a containment check (stockade.guards.safe_open keeps it beneath a base)";
    OpenRedirect = "STK804" "open-redirect" cwe 601 Medium Medium bandit [] ruff [] Audit
        "user-controlled data chooses a redirect target";
    TaintedUrl = "STK805" "tainted-request-url" cwe 918 High Medium bandit [] ruff [] Audit
        "user-controlled data chooses the URL of an outgoing request (SSRF)";
    TaintedCode = "STK806" "tainted-code" cwe 94 High High bandit [] ruff [] Audit
        "user-controlled data reaches eval/exec/compile";
    TaintedDeserialization = "STK807" "tainted-deserialization" cwe 502 High High bandit [] ruff [] Audit
        "user-controlled data is deserialised with pickle/yaml/marshal";
    TaintedTemplate = "STK808" "tainted-template" cwe 1336 High Medium bandit [] ruff [] Audit
        "user-controlled data is compiled as a template (server-side template injection)";
    TaintedXpath = "STK809" "tainted-xpath" cwe 643 High Medium bandit [] ruff [] Audit
        "user-controlled data is evaluated as an XPath query (XPath injection)";
    SecretInLog = "STK810" "secret-in-log" cwe 532 Medium Medium bandit [] ruff [] Audit
        "a secret is written to a log or printed (stockade.guards.RedactingFilter masks credentials in log records)";
    WeakPasswordHash = "STK811" "weak-password-hash" cwe 916 High Medium bandit [] ruff [] Audit
        "a password hashed with a fast hash (md5/sha1/sha256); use a password KDF";
    RandomForSecret = "STK812" "random-for-secret" cwe 330 Medium High bandit [] ruff [] Audit
        "a token/secret/OTP/password made with the predictable random module";
    JwtNoVerify = "STK813" "jwt-no-verify" cwe 347 High High bandit [] ruff [] Audit
        "JWT decoded without signature verification or with the 'none' algorithm";
    CsrfDisabled = "STK814" "csrf-disabled" cwe 352 Medium High bandit [] ruff [] Audit
        "CSRF protection turned off";
    InsecureCookie = "STK815" "insecure-cookie" cwe 614 Medium Medium bandit [] ruff [] Audit
        "a cookie set without Secure or HttpOnly";
    ZipSlip = "STK816" "archive-path-traversal" cwe 22 High Medium bandit [] ruff [] Audit
        "archive members extracted without checking their paths (zip slip)";
    DebugEnabled = "STK817" "debug-enabled" cwe 489 Medium Medium bandit [] ruff [] Audit
        "debug mode on in application settings";
    AutoescapeOff = "STK818" "template-autoescape-off" cwe 79 High Medium bandit [] ruff [] Audit
        "template autoescaping turned off in settings";
    HardcodedSigningKey = "STK819" "hardcoded-signing-key" cwe 321 High High bandit [] ruff [] Audit
        "a literal used as the key of a JWT, an HMAC, Fernet or an itsdangerous signer";
    XmlExternalEntities = "STK820" "xml-external-entities" cwe 611 High High bandit [] ruff [] Audit
        "an XML parser configured to resolve external entities";

    ForbiddenImport = "STK901" "forbidden-import" cwe 693 High High bandit [] ruff [] Prescreen
        "a module the policy does not allow";
    DunderAccess = "STK902" "dunder-access" cwe 693 High High bandit [] ruff [] Prescreen
        "a dunder or frame attribute used to walk the object graph towards the interpreter";
    DynamicCode = "STK903" "dynamic-code" cwe 94 High High bandit [] ruff [] Prescreen
        "eval/exec/compile/__import__ or another way to run code built at run time";
    DynamicAttribute = "STK904" "dynamic-attribute" cwe 693 High Medium bandit [] ruff [] Prescreen
        "getattr/setattr/delattr with a name that is not a plain literal";
    DecodeThenExec = "STK905" "decode-then-exec" cwe 506 High High bandit [] ruff [] Prescreen
        "data decoded at run time (base64, hex, zlib, rot13, ...) is executed";
    Reflection = "STK906" "reflection" cwe 693 High Medium bandit [] ruff [] Prescreen
        "access to globals()/vars()/sys.modules/builtins or other reflection the pre-screen cannot follow";
    ForbiddenCall = "STK907" "forbidden-call" cwe 693 High High bandit [] ruff [] Prescreen
        "a function the policy's guard denies (starting processes, signalling other processes, ctypes), called or referenced";
    OtherProcessAccess = "STK908" "other-process-access" cwe 693 High High bandit [] ruff [] Prescreen
        "a path to /proc/self/mem or to another process's /proc entries, also when built at run time";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for rule in ALL {
            let m = rule.meta();
            assert!(seen.insert(m.id), "duplicate id {}", m.id);
            assert!(seen.insert(m.name), "duplicate name {}", m.name);
            assert!(m.id.starts_with("STK") && m.id.len() == 6, "{}", m.id);
            assert!(m
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert_eq!(RuleId::lookup(m.id), Some(*rule));
        }
    }

    #[test]
    fn bandit_ids_map_by_number() {
        for rule in ALL {
            let m = rule.meta();
            for b in m.bandit {
                assert_eq!(&m.id[3..], &b[1..], "{} aliases {}", m.id, b);
            }
        }
    }
}
