"""What the adapters share: a readable account of a run for a model."""
import json
from typing import Any


def describe(result: Any, *, limit: int = 20000) -> str:
    """A run as text a model reads: stdout, then the value or the error, then stderr."""
    parts = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.error:
        tb = result.error.get("traceback") or ""
        parts.append(tb.rstrip("\n") if tb else f"{result.error.get('type')}: {result.error.get('message')}")
    elif result.value is not None:
        try:
            parts.append(json.dumps(result.value, default=repr, ensure_ascii=False))
        except (TypeError, ValueError):
            parts.append(repr(result.value))
    if result.stderr and not result.error:
        parts.append("stderr:\n" + result.stderr.rstrip("\n"))
    for v in result.violations:
        parts.append(f"refused by the sandbox: {v.get('reason')} ({v.get('rule')})")
    text = "\n".join(p for p in parts if p) or "(no output)"
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"
