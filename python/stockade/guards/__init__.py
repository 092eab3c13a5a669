"""stockade.guards: building blocks for the code around untrusted input (docs/guards.md).

* paths: :func:`safe_open`, :func:`safe_join` (resolution beneath a base, in the kernel on Linux)
* SQL: :func:`quote_identifier`, :func:`validate_identifier`, :func:`in_list`, :func:`in_clause`,
  :func:`order_by`
* commands: :class:`Argv`, :func:`safe_env`
* redaction: :class:`Redactor`, :class:`RedactingFilter` (logging), :class:`StructlogRedactor`
* rate limiting: :class:`TokenBucket`, :class:`SlidingWindow` over :class:`MemoryStore`,
  :class:`SQLiteStore` or :class:`PostgresStore`
"""
from .commands import DANGEROUS_ENV, Argv, CommandRefused, safe_env
from .paths import PathRefused, check_relative, open_fd, safe_join, safe_open, uses_kernel
from .ratelimit import Decision, MemoryStore, PostgresStore, RateLimited, SlidingWindow, SQLiteStore, TokenBucket
from .redaction import RedactingFilter, Redactor, StructlogRedactor, add_secret, redact
from .redaction import install as install_redaction
from .sql import IdentifierError, in_clause, in_list, order_by, quote_identifier, quote_qualified, validate_identifier

__all__ = [
    "DANGEROUS_ENV",
    "Argv",
    "CommandRefused",
    "Decision",
    "IdentifierError",
    "MemoryStore",
    "PathRefused",
    "PostgresStore",
    "RateLimited",
    "RedactingFilter",
    "Redactor",
    "SQLiteStore",
    "SlidingWindow",
    "StructlogRedactor",
    "TokenBucket",
    "add_secret",
    "check_relative",
    "in_clause",
    "in_list",
    "install_redaction",
    "open_fd",
    "order_by",
    "quote_identifier",
    "quote_qualified",
    "redact",
    "safe_env",
    "safe_join",
    "safe_open",
    "uses_kernel",
    "validate_identifier",
]
