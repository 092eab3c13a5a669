"""stockade.guards: building blocks for the code around untrusted input (docs/guards.md)."""
from .paths import PathRefused, check_relative, open_fd, safe_join, safe_open, uses_kernel

__all__ = ["PathRefused", "check_relative", "open_fd", "safe_join", "safe_open", "uses_kernel"]
