"""stockade: run Python code you did not write inside a Linux jail.

``stockade.run(code, inputs=...)`` runs ``code`` in a fresh jail (namespaces, a read-only root
holding only the interpreter, Landlock, seccomp, limits, and the in-interpreter guard) and
returns a :class:`Result`. The jail is built and watched by a separate, single-threaded
supervisor process, never by forking the caller. Values cross the boundary in a data-only typed
encoding (``stockade._codec``, docs/values.md): big integers stay exact; bytes, sets, dates,
``Decimal``, NaN and dataclasses round-trip; nothing is ever unpickled.

Exception tree (a non-zero exit or an exception raised by the code is a *result*, with
``Result.ok`` false, not an exception)::

    StockadeError(Exception)
    ├── PolicyError(StockadeError, ValueError)   # the policy or an argument is invalid; nothing ran
    ├── InputError(StockadeError, TypeError)     # inputs, files or stdin cannot cross the boundary
    └── SetupError(StockadeError)                # the jail could not be built (has .step); nothing ran
        └── LayerMissing(SetupError)             # a protection layer is unavailable on this host
"""
from __future__ import annotations

import base64
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from . import _codec

__all__ = [
    "run",
    "Pool",
    "Session",
    "WorkerLost",
    "Result",
    "StockadeError",
    "PolicyError",
    "InputError",
    "SetupError",
    "LayerMissing",
    "Client",
    "ClientSession",
    "AsyncClient",
    "AsyncClientSession",
    "ServiceError",
    "AuthError",
    "NotFound",
    "QuotaExceeded",
    "ServiceUnavailable",
    "WaitTimeout",
    "HostFunctions",
]

__version__ = "0.1.0"


class StockadeError(Exception):
    """Base class of every error stockade raises."""


class PolicyError(StockadeError, ValueError):
    """The policy (file, string or keyword argument) is invalid; nothing ran."""


class InputError(StockadeError, TypeError):
    """An input value, file or stdin cannot cross the boundary (unencodable, bad name)."""


class SetupError(StockadeError):
    """The jail could not be built; nothing of the code ran. ``step`` names the failed step."""

    def __init__(self, message: str, step: Optional[str] = None):
        super().__init__(message)
        self.step = step


class LayerMissing(SetupError):
    """A protection layer is not available on this host (pass ``allow_degraded=True``)."""


class WorkerLost(StockadeError):
    """A worker or session jail died or stopped answering."""


@dataclass
class Result:
    """What a run produced. ``ok`` is true when the code finished without an error.

    ``value`` is what the code returned (see :func:`run`), decoded with the types given as
    ``types=``. ``error`` (None when ``ok``) is ``{"type", "message", "traceback"}``. ``type`` is
    the exception's class name when the code raised (``traceback`` then has host paths removed),
    or one of stockade's own:

    - ``UnencodableResult``: the value cannot cross the boundary (a function, a cycle, an
      object of an arbitrary class, nested deeper than 100 levels, a lone surrogate); the
      message says which and where.
    - ``NoResult``: the run ended without an answer (``os._exit`` before the code finished, a
      signal, a limit).
    - ``MalformedAnswer``: the answer that came out of the jail could not be read (a run can
      write into its own answer channel); the run's outcome is unknown.
    - ``AnswerTooLarge``: the value took more than the answer limit (the policy's output limit).
    - ``WorkerLost`` / ``SessionLost``: the worker or session jail died or stopped answering.
    - ``timeout``, ``cpu_limit``, ``memory_limit``, ``output_limit``, ``pids_limit``,
      ``file_limit``, ``killed``: the run was stopped; ``status`` says the same.
    - ``refused``: the policy's pre-screen refused the code before it ran.

    ``files_skipped`` lists files of ``out/`` the answer does not carry, and why.
    ``violations`` are the guard's decisions as reported from inside the run's process
    (evidence, not proof: everything else here was observed from outside the run), and the
    egress proxy's refusals (``reported_by == "supervisor"``: observed on the host).
    ``network`` (None unless the policy's ``network.mode`` is ``"proxy"``) is the proxy's
    account: ``flows`` (host, port, address, method, decision, rule, reason, bytes each way,
    start and duration), ``connections`` and ``bytes``.
    """

    ok: bool
    status: str
    value: Any = None
    stdout: str = ""
    stderr: str = ""
    error: Optional[Dict[str, str]] = None
    violations: List[Dict[str, Any]] = field(default_factory=list)
    usage: Dict[str, int] = field(default_factory=dict)
    isolation: Dict[str, Any] = field(default_factory=dict)
    files: Dict[str, bytes] = field(default_factory=dict)
    files_skipped: List[Dict[str, str]] = field(default_factory=list)
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    limits: Dict[str, Any] = field(default_factory=dict)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    reason: Optional[str] = None
    network: Optional[Dict[str, Any]] = None
    calls: List[Dict[str, Any]] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# The supervisor process: a fresh interpreter without site that loads only the native module
# (not this package, which would cost tens of milliseconds of imports) and serves one jail.
_LAUNCH = (
    "import os, sys; sys.path.insert(0, sys.argv.pop(1)); import _stockade; "
    "os.environ.setdefault('STOCKADE_GUARD_LIB', _stockade.__file__); "
    "code = _stockade.supervise_main(); sys.stdout.flush(); os._exit(code)"
)


def _launcher() -> List[str]:
    return [sys.executable, "-s", "-S", "-c", _LAUNCH, _PACKAGE_DIR]


PolicyArg = Union[None, str, "os.PathLike[str]"]

_MAX_SECONDS = 7 * 24 * 3600.0


def _seconds(value: Any, name: str = "timeout") -> Optional[float]:
    """A duration given to the API: None, or a number of seconds above 0 (and at most a week)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not 0 < seconds <= _MAX_SECONDS:  # also false for NaN
        raise InputError(f"{name} must be more than 0 and at most {_MAX_SECONDS:g} seconds, not {value!r}")
    return seconds


def _engine_error(exc: BaseException) -> StockadeError:
    """The package's exception for the native engine's EngineError(kind, step, message)."""
    kind, step, message = (list(exc.args) + ["", "", ""])[:3]
    if kind == "policy":
        return PolicyError(message)
    if kind in ("request", "input"):
        return InputError(message)
    if kind == "layer-missing":
        return LayerMissing(message, step)
    if kind == "lost":
        return WorkerLost(message)
    return SetupError(message, step)


def _policy(policy: PolicyArg, timeout: Any, memory: Any, venv: Any, python: Any, allow_degraded: bool) -> Tuple[str, int, int]:
    """The effective policy as TOML, its output limit and its wall time in ms."""
    from . import _stockade

    if memory is not None and not isinstance(memory, (int, str)) or isinstance(memory, bool):
        raise InputError(f"memory must be bytes (int) or a size like '128M', not {type(memory).__name__}")
    try:
        return _stockade.effective_policy(
            None if policy is None else os.fspath(policy),
            _seconds(timeout),
            None if memory is None else str(memory),
            None if venv is None else os.fspath(venv),
            None if python is None else os.fspath(python),
            bool(allow_degraded),
        )
    except _stockade.EngineError as exc:
        raise _engine_error(exc) from None


def _spec(code: Any, inputs: Any, files: Any, stdin: Any, timeout: Any, functions: Any = None) -> str:
    """The run request (JSON) with the inputs in the typed value encoding."""
    if not isinstance(code, str):
        raise InputError(f"code must be a str, not {type(code).__name__}")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a mapping, not {type(inputs).__name__}")
    encoded: Dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if not isinstance(name, str):
            raise InputError(f"input names must be str, not {type(name).__name__}")
        try:
            encoded[name] = _codec.encode(value, root=f"inputs[{name!r}]")
        except _codec.EncodeError as exc:
            raise InputError(str(exc)) from None
    out_files: Dict[str, str] = {}
    for name, data in (files or {}).items():
        if not isinstance(name, str):
            raise InputError(f"file names must be str, not {type(name).__name__}")
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"file {name!r} must be bytes or str, not {type(data).__name__}")
        out_files[name] = base64.b64encode(bytes(data)).decode()
    if stdin is not None:
        if isinstance(stdin, str):
            stdin = stdin.encode()
        if not isinstance(stdin, (bytes, bytearray, memoryview)):
            raise InputError(f"stdin must be bytes or str, not {type(stdin).__name__}")
        stdin = base64.b64encode(bytes(stdin)).decode()
    seconds = _seconds(timeout)
    spec: Dict[str, Any] = {"code": code, "inputs": encoded, "files": out_files, "stdin": stdin}
    if seconds is not None:
        spec["timeout_ms"] = max(1, int(seconds * 1000))
    if functions is not None:
        clash = sorted(set(functions.functions) & set(encoded))
        if clash:
            raise InputError(f"{clash[0]!r} is both an input and a function")
        spec["functions"] = functions.spec()
    try:
        return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


def run(
    code: str,
    *,
    inputs: Optional[Mapping[str, Any]] = None,
    policy: PolicyArg = None,
    timeout: Optional[float] = None,
    memory: Union[None, int, str] = None,
    files: Optional[Mapping[str, Union[bytes, str]]] = None,
    stdin: Union[None, bytes, str] = None,
    venv: Optional[str] = None,
    python: Optional[str] = None,
    allow_degraded: bool = False,
    types: Tuple[type, ...] = (),
    functions: Union[None, Mapping[str, Any], "HostFunctions"] = None,
) -> Result:
    """Run ``code`` in a fresh jail and return its :class:`Result`.

    The code runs as ``__main__`` with ``inputs`` bound as variables (names must be Python
    identifiers; ``__x__`` names are reserved). Its value is, in this order: the variable
    ``result`` if the code sets it; else the value of its last statement when that is an
    expression (as in a notebook); else, if the code defines ``main`` and never calls it itself,
    ``main(**inputs)``. A coroutine is awaited (top-level ``await`` works too), so a script that
    ends with ``asyncio.run(main())`` or ``if __name__ == "__main__": main()`` runs once.

    ``files`` are placed in the scratch directory (the code's working directory, which is also
    on ``sys.path``, so a program of several files imports its own modules); files the code
    writes under ``out/`` come back in ``Result.files``. ``stdin`` is the code's standard input
    (empty by default: ``input()`` sees end of file at once). ``policy`` is a policy file path, a
    TOML string, or a profile name; ``timeout`` (seconds) and ``memory`` (bytes or ``"128M"``)
    override it. ``types`` are the dataclasses and enums to rebuild in the value.

    ``functions`` (name → callable, or a :class:`HostFunctions` with limits) are host functions:
    the code calls them like its own functions; each call crosses the boundary as data and the
    callable runs here, in this process, with the caller's privileges (see docs/functions.md).
    """
    from . import _stockade

    host = _functions.coerce(functions)
    spec = _spec(code, inputs, files, stdin, None, host)
    toml, _output, _wall = _policy(policy, timeout, memory, venv, python, allow_degraded)
    try:
        doc = _stockade.run_cold(_launcher(), toml, spec, _functions.Dispatcher(host) if host else None)
    except _stockade.EngineError as exc:
        raise _engine_error(exc) from None
    return _result(doc, types)


def _result(text: str, types: Tuple[type, ...] = ()) -> Result:
    doc = json.loads(text)
    answer = doc.get("answer") or {}
    error = answer.get("error")
    value = None
    if answer.get("value") is not None:
        try:
            value = _codec.decode(answer["value"], types=types)
        except _codec.DecodeError as exc:
            error = error or {"type": "MalformedAnswer", "message": f"the run's value could not be decoded: {exc}", "traceback": ""}
    status = doc.get("status", "error")
    if error is None and status not in ("ok", "error"):
        error = {"type": status, "message": doc.get("reason") or status, "traceback": ""}
    files = {name: base64.b64decode(data) for name, data in (answer.get("files") or {}).items()}
    return Result(
        ok=status == "ok" and error is None,
        status=status,
        value=value,
        stdout=doc.get("stdout", ""),
        stderr=doc.get("stderr", ""),
        error=error,
        violations=doc.get("violations") or [],
        usage=doc.get("usage") or {},
        isolation=doc.get("isolation") or {},
        files=files,
        files_skipped=answer.get("files_skipped") or [],
        exit_code=doc.get("exit_code"),
        signal=doc.get("signal"),
        limits=doc.get("limits") or {},
        stdout_truncated=bool(doc.get("stdout_truncated")),
        stderr_truncated=bool(doc.get("stderr_truncated")),
        reason=doc.get("reason"),
        network=doc.get("network"),
        calls=doc.get("calls") or [],
        raw=doc,
    )


from . import _functions  # noqa: E402
from ._functions import HostFunctions  # noqa: E402
from ._pool import Pool, Session  # noqa: E402  (needs the names above)
from ._client import (  # noqa: E402  (needs the names above)
    AsyncClient,
    AsyncClientSession,
    AuthError,
    Client,
    ClientSession,
    NotFound,
    QuotaExceeded,
    ServiceError,
    ServiceUnavailable,
    WaitTimeout,
)
