"""stockade.guards: building blocks for the code around untrusted input (docs/guards.md)."""
from .commands import DANGEROUS_ENV, Argv, CommandRefused, safe_env
from .paths import PathRefused, check_relative, open_fd, safe_join, safe_open, uses_kernel
from .sql import IdentifierError, in_clause, in_list, order_by, quote_identifier, quote_qualified, validate_identifier

__all__ = [
    "Argv",
    "CommandRefused",
    "DANGEROUS_ENV",
    "IdentifierError",
    "PathRefused",
    "check_relative",
    "in_clause",
    "in_list",
    "open_fd",
    "order_by",
    "quote_identifier",
    "quote_qualified",
    "safe_env",
    "safe_join",
    "safe_open",
    "uses_kernel",
    "validate_identifier",
]
