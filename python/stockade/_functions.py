"""Host functions: callables of the caller that code in the jail calls like its own.

A call crosses as data (name, arguments in the typed value encoding) from the run through its
supervisor to this process; the dispatcher checks the arguments against the function's
signature and type hints (with pydantic when it is installed), calls it (awaiting a
coroutine), and sends back the value or the exception's class name and message. Nothing of
the host crosses into the jail but that value.
"""
import asyncio
import inspect
import json
import typing
from typing import Any, Callable, Dict, Mapping, Optional

from . import _codec

__all__ = ["HostFunctions"]


class HostFunctions:
    """Functions a run may call, with the limits on calling them.

    ``stockade.run(code, functions={"search": search})`` is the same as
    ``functions=HostFunctions({"search": search})``. ``max_calls`` per run, ``max_bytes`` for
    one call or reply (encoded), ``timeout`` seconds for one call on this side (the run gets a
    ``HostFunctionError`` when it passes; the function keeps running here).
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *, max_calls: int = 1000,
                 max_bytes: int = 1 << 20, timeout: float = 30.0):
        if not isinstance(functions, Mapping):
            raise TypeError(f"functions must be a mapping of name to callable, not {type(functions).__name__}")
        for name, f in functions.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
                raise ValueError(f"function name {name!r} is not a Python identifier (or is a __dunder__)")
            if not callable(f):
                raise TypeError(f"functions[{name!r}] is not callable")
        if max_calls < 1 or max_bytes < 64 or timeout <= 0:
            raise ValueError("max_calls must be at least 1, max_bytes at least 64, timeout more than 0")
        self.functions: Dict[str, Callable[..., Any]] = dict(functions)
        self.max_calls = int(max_calls)
        self.max_bytes = int(max_bytes)
        self.timeout = float(timeout)

    def spec(self) -> Dict[str, Any]:
        return {"names": sorted(self.functions), "max_calls": self.max_calls, "max_bytes": self.max_bytes,
                "timeout_ms": max(1, int(self.timeout * 1000))}


def coerce(functions: Any) -> Optional[HostFunctions]:
    if functions is None:
        return None
    if isinstance(functions, HostFunctions):
        return functions
    return HostFunctions(functions)


def _reply(call_id: int, value: Any = None, error: Optional[Dict[str, str]] = None) -> str:
    return json.dumps({"id": call_id, "value": value, "error": error}, ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False)


def _error(call_id: int, kind: str, message: str) -> str:
    return _reply(call_id, None, {"kind": kind, "message": message[:4000]})


_SIMPLE = (int, float, str, bool, bytes, list, dict, tuple, set, frozenset)


def _check_hints(f: Callable[..., Any], bound: inspect.BoundArguments) -> None:
    """Without pydantic: plain classes in the hints are checked with isinstance (an int is
    accepted for a float); anything richer (generics, unions) is left to the function."""
    try:
        hints = typing.get_type_hints(f)
    except Exception:
        return
    for name, value in bound.arguments.items():
        hint = hints.get(name)
        if hint is None or not isinstance(hint, type) or hint not in _SIMPLE:
            continue
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if hint is int and isinstance(value, bool):
            raise TypeError(f"argument {name!r} must be int, not bool")
        if not isinstance(value, hint):
            raise TypeError(f"argument {name!r} must be {hint.__name__}, not {type(value).__name__}")


def _validated(f: Callable[..., Any]) -> Callable[..., Any]:
    """The function behind a pydantic argument check when pydantic is installed (it coerces
    and validates against the hints), else the function itself."""
    try:
        import pydantic  # noqa: F401
    except ImportError:
        return f
    try:
        return pydantic.validate_call(f)
    except Exception:
        return f


class Dispatcher:
    """Answers a run's calls (the engine calls it with a call's JSON, on an engine thread)."""

    def __init__(self, functions: HostFunctions):
        self.functions = functions
        self._validated: Dict[str, Callable[..., Any]] = {}

    def __call__(self, call_json: str) -> str:
        try:
            call = json.loads(call_json)
            call_id, name = int(call.get("id", 0)), str(call["name"])
        except Exception as exc:
            return _error(0, "MalformedCall", f"the call could not be read: {exc}")
        f = self.functions.functions.get(name)
        if f is None:
            return _error(call_id, "UnknownFunction", f"no function {name!r} is registered")
        try:
            args = [_codec.decode(a, root=f"{name}() argument") for a in call.get("args", [])]
            kwargs = {k: _codec.decode(v, root=f"{name}({k}=)") for k, v in call.get("kwargs", {}).items()}
        except _codec.DecodeError as exc:
            return _error(call_id, "MalformedCall", str(exc))
        try:
            bound = inspect.signature(f).bind(*args, **kwargs)
        except TypeError as exc:
            return _error(call_id, "TypeError", f"{name}(): {exc}")
        except ValueError:
            bound = None  # no signature (a builtin): the call itself says what is wrong
        target = f
        try:
            target = self._validated.get(name)
            if target is None:
                target = self._validated[name] = _validated(f)
            if bound is not None and target is f:
                _check_hints(f, bound)
            value = target(*args, **kwargs)
            if inspect.isawaitable(value):
                value = asyncio.run(_awaited(value))
        except Exception as exc:  # the function's exception crosses as its class name and message
            if target is not f and type(exc).__name__ == "ValidationError":
                # pydantic refused the arguments: the same TypeError as without pydantic.
                return _error(call_id, "TypeError", f"{name}(): the arguments do not match its type hints: {exc}")
            message = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else exc
            return _error(call_id, type(exc).__name__, str(message))
        try:
            return _reply(call_id, _codec.encode(value, root=f"{name}() result"))
        except _codec.EncodeError as exc:
            return _error(call_id, "UnencodableResult", str(exc))


async def _awaited(value: Any) -> Any:
    return await value
