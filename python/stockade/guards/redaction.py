"""Credentials masked in log output: a :class:`Redactor`, a ``logging.Filter`` and a structlog
processor built on it.

What is masked (the secret part only; the rest of a URL or header stays readable):

* passwords in URLs and DSNs, any scheme (``postgres://u:PW@h``, ``mysql``, ``redis://:PW@``,
  ``amqp``, ``mongodb+srv``, ``https``...), and ``key=value`` / ``"key": "value"`` pairs whose
  key names a secret (``password``, ``pwd``, ``secret``, ``token``, ``api_key``,
  ``AccountKey``, ``SharedAccessKey``, ``aws_secret_access_key``, ``private_key_id``...): libpq
  conninfo, JDBC and Azure connection strings, JSON, environment dumps;
* ``Authorization: Bearer``/``Basic`` credentials, JWTs anywhere;
* cloud and SaaS keys by their format: AWS access key ids (``AKIA``/``ASIA``...), Google API
  keys (``AIza``), GitHub (``ghp_`` ``gho_`` ``ghu_`` ``ghs_`` ``ghr_`` ``github_pat_``), GitLab
  (``glpat-``), Slack (``xox?-`` tokens, webhook URLs), Stripe (``sk_``/``rk_`` live and test,
  ``whsec_``), OpenAI-style ``sk-``, PyPI and npm tokens, Azure SAS ``sig=``;
* PEM private keys (also inside JSON with ``\\n`` escapes: a GCP service-account file);
* every value registered with :meth:`Redactor.add_secret`, also in its base64 (at any
  alignment), percent- and hex-encoded forms, as ``stockade`` does for a run's secrets.

Pure Python on purpose: a log record is small, and crossing into Rust per record would cost
about what the regex pass costs here (docs/guards.md has the numbers).
"""
from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional, Pattern

MASK = "[secret]"

# Key names whose value is a secret: a word of its own or a `_`/`-`/`.`-separated part of a
# longer key (aws_secret_access_key, DB_PASSWORD, private_key_id), never a plural (max_tokens).
_SECRET_WORDS = (
    r"password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"accountkey|sharedaccesskey|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?token|"
    r"session[_-]?key|signing[_-]?key|encryption[_-]?key"
)
_KEY_NAME = re.compile(rf"(?i)\A(?:[A-Za-z0-9]+[_.-])*(?:{_SECRET_WORDS})(?:[_.-][A-Za-z0-9]+)*\Z")

# Each entry: (hints, pattern). The pattern's groups named s... hold the secret part. It only
# runs on a text holding one of its hints (lower-cased substrings): most log lines hold none,
# and a separate pass per pattern keeps `re`'s literal-prefix scan, which one big alternation
# loses (measured: 4x slower on an ordinary line). Order matters where two overlap: earlier
# passes mask first.
_PATTERNS = [
    # scheme://user:PASSWORD@host — the password may itself hold '@' or an unescaped '/' (the
    # last '@' before a host ends it)
    # (bounded: every repetition here is, so that no text makes a pattern quadratic)
    (("://",), r"(?i)\b[a-z][a-z0-9+.-]{0,30}://[^\s:/?#@]{0,256}:(?P<s>[^\s]{1,1024}?)@"
               r"(?=[^\s@/?#]{0,300}(?:[/?#\s\"'<>]|$))(?![^\s]{0,1024}@[^\s@/?#]{0,300}(?:[/?#\s\"'<>]|$))"),
    (("bearer", "basic"), r"(?i)\b(?:bearer|basic)[ \t]+(?P<s>[A-Za-z0-9._~+/-]{8,}=*)"),
    (("eyj",), r"\b(?P<s>eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"),
    # key: "quoted value" (spaces and escapes inside), 'quoted', or unquoted
    (("pass", "pwd", "secret", "token", "key", "credential"),
     rf"(?i)(?<![A-Za-z0-9])(?:{_SECRET_WORDS})(?:[_.-][A-Za-z0-9]+)*[\"']?[ \t]*[:=][ \t]*"
     r"(?:\"(?P<s>(?:[^\"\\]|\\.){1,4096})\"|'(?P<s2>[^']{1,4096})'|(?P<s3>[^\s,;&}\"']{1,4096}))"),
    (("sig=",), r"(?i)[?&]sig=(?P<s>[^&\s\"']+)"),
    (("akia", "asia", "abia", "acca", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
     r"\b(?P<s>(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16})\b"),
    (("aiza",), r"\b(?P<s>AIza[0-9A-Za-z_-]{35})"),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), r"\b(?P<s>(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}))"),
    (("glpat-",), r"\b(?P<s>glpat-[A-Za-z0-9_-]{20,})"),
    (("xox",), r"\b(?P<s>xox[abposre]-[A-Za-z0-9-]{10,})"),
    (("hooks.slack.com",), r"hooks\.slack\.com/services/(?P<s>[A-Za-z0-9/_-]{20,})"),
    (("sk_", "rk_", "whsec_"), r"\b(?P<s>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})"),
    (("sk-",), r"\b(?P<s>sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,})"),
    (("pypi-",), r"\b(?P<s>pypi-AgE[A-Za-z0-9_-]{50,})"),
    (("npm_",), r"\b(?P<s>npm_[A-Za-z0-9]{36})"),
]
_COMPILED = [(hints, re.compile(p)) for hints, p in _PATTERNS]
_SECRET_GROUPS = ("s", "s2", "s3")


_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")


def _mask_pem(text: str, mask: str) -> str:
    """Every PEM private key's body masked, from its BEGIN line to the next END marker, or to the
    end of the text when there is none (fail closed: a key cut off by a log line's truncation is
    still a key). One forward scan, so no input makes it quadratic; a regex with a lazy body
    would rescan the rest of the text at every BEGIN."""
    out, pos = [], 0
    while True:
        m = _PEM_BEGIN.search(text, pos)
        if m is None:
            out.append(text[pos:])
            return "".join(out)
        end = text.find("-----END ", m.end())
        out.append(text[pos : m.end()])
        out.append(mask)
        if end < 0:
            return "".join(out)
        pos = end


def encoded_forms(secret: str) -> List[str]:
    """``secret`` and the spellings of it that are masked too: base64 (standard and URL-safe, at
    each of the three alignments it can have inside a longer encoded string), percent-encoding
    and hex; forms shorter than 8 characters are left out (they would match ordinary text)."""
    raw = secret.encode()
    out = [secret]

    def add(f: str) -> None:
        if len(f) >= 8 and f not in out:
            out.append(f)

    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        for k in range(3):
            e = enc(b"\0" * k + raw).decode().rstrip("=")
            first, end = -(-8 * k // 6), (8 * (k + len(raw))) // 6
            if end > first:
                add(e[first:end])
    unreserved = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    add("".join(chr(b) if b in unreserved else f"%{b:02X}" for b in raw))
    add("".join(chr(b) if b in unreserved else f"%{b:02x}" for b in raw))
    add("".join(chr(b) if b in unreserved else "+" if b == 32 else f"%{b:02X}" for b in raw))
    add(raw.hex())
    add(raw.hex().upper())
    return out


class Redactor:
    """Masks credentials in text (see the module's docstring for what). Thread-safe; one
    instance is usually shared by every handler."""

    def __init__(self, secrets: Iterable[str] = (), mask: str = MASK, patterns: bool = True):
        self.mask = mask
        self.patterns = patterns
        self._lock = threading.Lock()
        self._secrets: List[str] = []
        self._secret_re: Optional[Pattern[str]] = None
        for s in secrets:
            self.add_secret(s)

    def add_secret(self, value: str) -> None:
        """Mask ``value`` (and its encodings) wherever it appears from now on. Values shorter
        than 4 characters are refused: masking them would shred ordinary text."""
        if not isinstance(value, str) or len(value) < 4:
            raise ValueError("a registered secret must be a str of at least 4 characters")
        with self._lock:
            forms = [f for f in encoded_forms(value) if f not in self._secrets]
            self._secrets.extend(forms)
            # longest first, so a secret containing another is masked whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._secret_re = re.compile("|".join(map(re.escape, ordered)))

    def _sub(self, m: "re.Match[str]") -> str:
        groups = m.groupdict()
        name = next(g for g in _SECRET_GROUPS if groups.get(g) is not None)
        start, end = m.span(name)
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + self.mask + whole[end - base :]

    def redact(self, text: str) -> str:
        """``text`` with every credential replaced by the mask."""
        secret_re = self._secret_re
        if secret_re is not None:
            text = secret_re.sub(self.mask, text)
        if self.patterns:
            if "PRIVATE KEY-----" in text:
                text = _mask_pem(text, self.mask)
            low = text.lower()
            for hints, pattern in _COMPILED:
                if any(h in low for h in hints):
                    text = pattern.sub(self._sub, text)
        return text

    def redact_value(self, value: Any, key: Optional[str] = None) -> Any:
        """``value`` with strings redacted inside dicts, lists and tuples; under a key that names
        a secret (``password``, ``api_key``...) a string is masked whole."""
        if isinstance(value, str):
            if key is not None and _KEY_NAME.match(key) and value:
                return self.mask
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_value(v, k if isinstance(k, str) else None) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            items = [self.redact_value(v) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "replace")
            red = self.redact(text)
            return value if red == text else red
        return value


_default = Redactor()


def default_redactor() -> Redactor:
    """The process-wide :class:`Redactor` the filter and processor use unless given one."""
    return _default


def add_secret(value: str) -> None:
    """Register ``value`` with the default redactor."""
    _default.add_secret(value)


def redact(text: str) -> str:
    """``text`` through the default redactor."""
    return _default.redact(text)


class RedactingFilter(logging.Filter):
    """A ``logging.Filter`` that masks credentials in each record: the formatted message (its
    arguments included, whatever their type: a dict holding a DSN is formatted, then masked),
    the exception text and the stack text. The record's ``msg`` becomes the masked text and its
    ``args`` empty, so no handler or formatter after this one sees the originals.

    Attach it to *handlers* (``handler.addFilter(RedactingFilter())``): a filter on a logger
    does not see records propagated from its children. :func:`install` does that.
    """

    def __init__(self, redactor: Optional[Redactor] = None, name: str = ""):
        super().__init__(name)
        self.redactor = redactor or _default
        self._fmt = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: mask what there is, as logging would show it
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = r.redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._fmt.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = r.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = r.redact(record.stack_info)
        return True


def install(logger: Optional[logging.Logger] = None, redactor: Optional[Redactor] = None) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to every handler of ``logger`` (default: the root
    logger); returns it. Handlers added later need ``addFilter`` themselves."""
    f = RedactingFilter(redactor)
    for h in (logger or logging.getLogger()).handlers:
        if not any(isinstance(x, RedactingFilter) for x in h.filters):
            h.addFilter(f)
    return f


class StructlogRedactor:
    """A structlog processor: every string in the event dict (nested dicts, lists and tuples
    too) is redacted, and values under keys that name a secret are masked whole. Put it last
    before the renderer::

        structlog.configure(processors=[..., StructlogRedactor(), structlog.processors.JSONRenderer()])
    """

    def __init__(self, redactor: Optional[Redactor] = None):
        self.redactor = redactor or _default

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return self.redactor.redact_value(dict(event_dict))
