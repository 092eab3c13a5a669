"""stockade: run Python code you did not write inside a Linux jail.

``stockade.run(code, inputs=...)`` runs ``code`` in a fresh jail (namespaces, a read-only root
holding only the interpreter, Landlock, seccomp, limits, and the in-interpreter guard) and
returns a :class:`Result`. The jail is built by a separate, single-threaded launcher process,
never by forking the caller. Values cross the boundary as JSON only.

Exception tree (a non-zero exit or an exception raised by the code is a *result*, with
``Result.ok`` false, not an exception)::

    StockadeError(Exception)
    ├── PolicyError(StockadeError, ValueError)   # the policy or an argument is invalid; nothing ran
    ├── InputError(StockadeError, TypeError)     # inputs or files cannot cross the boundary
    └── SetupError(StockadeError)                # the jail could not be built (has .step); nothing ran
        └── LayerMissing(SetupError)             # a protection layer is unavailable on this host
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

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
]

__version__ = "0.1.0"


class StockadeError(Exception):
    """Base class of every error stockade raises."""


class PolicyError(StockadeError, ValueError):
    """The policy (file, string or keyword argument) is invalid; nothing ran."""


class InputError(StockadeError, TypeError):
    """An input value or file cannot cross the boundary (not JSON-encodable, bad name)."""


class SetupError(StockadeError):
    """The jail could not be built; nothing of the code ran. ``step`` names the failed step."""

    def __init__(self, message: str, step: Optional[str] = None):
        super().__init__(message)
        self.step = step


class LayerMissing(SetupError):
    """A protection layer is not available on this host (pass ``allow_degraded=True``)."""


@dataclass
class Result:
    """What a run produced. ``ok`` is true when the code finished without an error.

    ``error`` (None when ``ok``) is ``{"type", "message", "traceback"}``. ``type`` is the
    exception's class name when the code raised (``traceback`` then has host paths removed), or
    one of stockade's own:

    - ``UnencodableResult``: the result is not strict JSON (a type JSON lacks, NaN or an
      infinity, a cycle) or is nested deeper than 100 levels; the message says which.
    - ``NoResult``: the run ended without a result record (``os._exit`` before the code
      finished, or a record it overwrote with something unreadable).
    - ``MalformedAnswer``: the answer that came out of the jail had the wrong shape (a run
      can write into its own answer); the run's outcome is unknown.
    - ``WorkerLost`` / ``SessionLost``: the worker or session jail died or stopped answering.
    - ``timeout``, ``cpu_limit``, ``memory_limit``, ``output_limit``, ``killed``: the run was
      stopped; ``status`` says the same.
    - ``refused``: the policy's pre-screen refused the code before it ran.
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
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    limits: Dict[str, Any] = field(default_factory=dict)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# The launcher: a fresh interpreter without site that loads only the native module (not this
# package, which would cost tens of milliseconds of imports) and runs the command line in it.
_LAUNCH = (
    "import os, sys; sys.path.insert(0, sys.argv.pop(1)); import _stockade; "
    "os.environ.setdefault('STOCKADE_GUARD_LIB', _stockade.__file__); "
    "code = _stockade.cli_main(['stockade'] + sys.argv[1:]); sys.stdout.flush(); os._exit(code)"
)

PolicyArg = Union[None, str, "os.PathLike[str]"]


def _policy_args(policy: PolicyArg, tmp: str) -> List[str]:
    if policy is None:
        return []
    text = os.fspath(policy)
    if os.path.isfile(text):
        # Absolute: the launcher runs in its own working directory.
        return ["--policy", os.path.abspath(text)]
    if "\n" in text or text.lstrip().startswith("version"):
        path = os.path.join(tmp, "policy.toml")
        with open(path, "w") as f:
            f.write(text)
        return ["--policy", path]
    if text in ("strict", "data"):
        return ["--profile", text]
    raise PolicyError(f"policy {text!r} is neither a file, a TOML document, nor a profile name")


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


def _launcher_args(policy, timeout, memory, venv, python, allow_degraded, tmp) -> List[str]:
    """Command-line options for the launcher, from the keyword arguments of the API."""
    args = _policy_args(policy, tmp)
    timeout = _seconds(timeout)
    if timeout is not None:
        args += ["--timeout", f"{timeout}s"]
    if memory is not None:
        args += ["--memory", str(memory)]
    # Paths are made absolute here: the launcher runs in its own working directory.
    if venv is not None:
        args += ["--venv", os.path.abspath(os.fspath(venv))]
    if python is not None:
        python = os.fspath(python)
        args += ["--python", os.path.abspath(python) if os.sep in python else python]
    if allow_degraded:
        args.append("--allow-degraded")
    return args


def _encode_files(files: Optional[Mapping[str, Union[bytes, str]]]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for name, data in (files or {}).items():
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InputError(f"file name {name!r} must be a relative path without '..'")
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"file {name!r} must be bytes or str, not {type(data).__name__}")
        out[name] = base64.b64encode(bytes(data)).decode()
    return out


def run(
    code: str,
    *,
    inputs: Optional[Mapping[str, Any]] = None,
    policy: PolicyArg = None,
    timeout: Optional[float] = None,
    memory: Union[None, int, str] = None,
    files: Optional[Mapping[str, Union[bytes, str]]] = None,
    venv: Optional[str] = None,
    python: Optional[str] = None,
    allow_degraded: bool = False,
) -> Result:
    """Run ``code`` in a fresh jail and return its :class:`Result`.

    ``inputs`` (JSON-compatible values) are bound as variables in the code's namespace. The
    returned ``value`` is the variable ``result`` if the code sets it, else the return value of
    ``main(**inputs)`` if the code defines ``main``. ``files`` are placed in the scratch
    directory (the code's working directory); files the code writes under ``out/`` come back
    in ``Result.files``. ``policy`` is a policy file path, a TOML string, or a profile name;
    ``timeout`` (seconds) and ``memory`` (bytes or ``"128M"``) override it.
    """
    if not isinstance(code, str):
        raise InputError(f"code must be a str, not {type(code).__name__}")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a mapping, not {type(inputs).__name__}")
    try:
        request = json.dumps({"code": code, "inputs": dict(inputs or {}), "files": _encode_files(files)})
    except (TypeError, ValueError) as exc:
        raise InputError(f"inputs must be JSON-compatible: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="stockade-") as tmp:
        args = _launcher_args(policy, timeout, memory, venv, python, allow_degraded, tmp)
        proc = subprocess.run(
            [sys.executable, "-s", "-S", "-c", _LAUNCH, _PACKAGE_DIR, "exec", *args],
            input=request.encode(),
            capture_output=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
    return _result(proc)


def _result(proc: "subprocess.CompletedProcess[bytes]") -> Result:
    err = proc.stderr.decode(errors="replace").strip()
    doc = _parse_doc(proc, err)
    return _result_from_doc(doc)


def _parse_doc(proc: "subprocess.CompletedProcess[bytes]", err: str) -> Dict[str, Any]:
    message = err.removeprefix("stockade: ") if err else f"stockade exited with {proc.returncode}"
    if proc.returncode == 123 or proc.returncode == 2:
        raise PolicyError(message)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise SetupError(message) from None
    if doc.get("status") == "setup_failed":
        error = doc.get("error") or {}
        text = error.get("message") or message
        if proc.returncode == 122:
            raise LayerMissing(text, error.get("step"))
        raise SetupError(text, error.get("step"))
    return doc


def _result_from_doc(doc: Dict[str, Any]) -> Result:
    """The Result of an answer. Part of an answer is written inside the jail (a run can forge its
    own record), so a malformed one is an error Result, never an exception in the caller."""
    try:
        return _result_from_trusted_shape(doc)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        return Result(
            ok=False,
            status="error",
            error={"type": "MalformedAnswer", "message": f"the run's answer could not be read: {exc}", "traceback": ""},
            raw=doc if isinstance(doc, dict) else {},
        )


_ANSWER_TYPES = (("stdout", str), ("stderr", str), ("usage", dict), ("isolation", dict), ("limits", dict),
                 ("violations", list), ("result", dict))


def _result_from_trusted_shape(doc: Dict[str, Any]) -> Result:
    for key, kind in _ANSWER_TYPES:
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise TypeError(f"{key} is a {type(doc[key]).__name__}, not a {kind.__name__}")
    payload = doc.get("result") or {}
    if not isinstance(payload.get("error"), (dict, type(None))):
        raise TypeError("result.error is not an object")
    files = {name: base64.b64decode(data) for name, data in (payload.get("files") or {}).items()}
    error = payload.get("error")
    if error is None and doc.get("status") not in ("ok", "error"):
        error = {"type": doc.get("status"), "message": doc.get("reason") or doc.get("status"), "traceback": ""}
    if error is None and not payload:
        error = {
            "type": "NoResult",
            "message": "the run ended without a readable result record (it exited before its code finished, "
            "or replaced the record with one that could not be read)",
            "traceback": "",
        }
    return Result(
        ok=doc.get("status") == "ok" and bool(payload.get("ok", False)),
        status=doc.get("status", "error"),
        value=payload.get("value"),
        stdout=doc.get("stdout", ""),
        stderr=doc.get("stderr", ""),
        error=error,
        violations=doc.get("violations") or [],
        usage=doc.get("usage") or {},
        isolation=doc.get("isolation") or {},
        files=files,
        exit_code=doc.get("exit_code"),
        signal=doc.get("signal"),
        limits=doc.get("limits") or {},
        stdout_truncated=bool(doc.get("stdout_truncated")),
        stderr_truncated=bool(doc.get("stderr_truncated")),
        raw=doc,
    )


from ._pool import Pool, Session, WorkerLost  # noqa: E402  (needs the names above)
