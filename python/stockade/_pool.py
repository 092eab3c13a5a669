"""Warm jails: :class:`Pool` (a fresh process per run, forked from a warm zygote inside the
jail) and :class:`Session` (successive cells share one interpreter).

Each worker is a long-lived jail started by its own launcher process (``stockade serve``); the
caller's interpreter never forks. A pool's workers all use the pool's policy: different
policies or tenants use different pools, so they never share a zygote.
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import queue
import secrets
import selectors
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import (
    _LAUNCH,
    _PACKAGE_DIR,
    InputError,
    PolicyError,
    PolicyArg,
    Result,
    SetupError,
    StockadeError,
    _encode_files,
    _seconds,
    _launcher_args,
    _result_from_doc,
)


_HEADER = 64  # bytes of a pool request's header, newline included (zygote.py reads as many)


class WorkerLost(StockadeError):
    """A worker jail died or stopped answering; the pool replaced it."""


class _Worker:
    """One long-lived jail speaking JSON lines."""

    def __init__(self, args: List[str], tmp: str, ready_timeout: float = 60.0):
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-S", "-c", _LAUNCH, _PACKAGE_DIR, "serve", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
            cwd=tmp,
        )
        self._buf = b""
        # After an answer the zygote resets (kills the run's leftovers, empties the scratch) and
        # then says "idle"; the next request is sent only after that line (see `wait_idle`).
        self.resetting = False
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ)
        first = self._read_line(ready_timeout)
        while first is not None and first.get("type") == "warning":
            first = self._read_line(ready_timeout)
        if first is None or first.get("type") != "ready":
            self.kill()
            message = (first or {}).get("message") or "the worker jail did not start"
            raise SetupError(message, (first or {}).get("step"))
        # The policy's wall-time limit for a run that has none of its own.
        self.wall_time = float(first.get("timeout") or 10.0)

    def _read_line(self, timeout: float) -> Optional[Dict[str, Any]]:
        """The next non-empty line, decoded; None when the worker is gone or `timeout` passes.
        Every line from the jail starts with a newline (so that a partial line a run left in the
        pipe cannot swallow it): the empty lines that makes are skipped."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while True:
            while b"\n" not in self._buf:
                if len(self._buf) > (256 << 20):
                    return None
                left = deadline - time.monotonic()
                if left <= 0 or not self._sel.select(left):
                    return None
                chunk = os.read(fd, 1 << 16)  # a 1 MiB read would allocate 1 MiB per answer
                if not chunk:
                    return None
                self._buf += chunk
            line, self._buf = self._buf.split(b"\n", 1)
            if line.strip():
                break
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than json can decode
            doc = None
        # Anything else was written by a run; the readers skip it.
        return doc if isinstance(doc, dict) else {"type": "malformed"}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Consume the zygote's "idle" after the previous answer; False if the worker is gone."""
        while self.resetting:
            line = self._read_line(timeout)
            if line is None:
                return False
            if line.get("type") == "idle":
                self.resetting = False
            elif line.get("type") not in ("run", "malformed"):  # what a run wrote is skipped
                return False
        return self.alive()

    def request(self, request: "_Encoded", timeout: float, framed: bool = True) -> Dict[str, Any]:
        """Send one request and wait for its response. Pool workers take a framed request
        (`<nonce> <length> <timeout>` then the JSON), read by the run's own process; the response
        carries the nonce, and any other line (something the run printed on its way out) is
        ignored. Sessions take one JSON line."""
        nonce = secrets.token_hex(8)
        body, run_timeout = request
        if framed:
            # A fixed-size header: the run's process reads it with one read.
            head = f"{nonce} {len(body)} {run_timeout}".encode()
            data = head.ljust(_HEADER - 1) + b"\n" + body
        else:
            data = body + b"\n"
        try:
            self.proc.stdin.write(data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError) as exc:
            raise WorkerLost(f"the worker jail is gone: {exc}") from None
        while True:
            line = self._read_line(timeout)
            if line is None:
                raise WorkerLost("the worker jail died or stopped answering")
            if line.get("type") == "run" and (not framed or line.get("nonce") == nonce):
                self.resetting = framed
                return line
            if line.get("type") in ("exit", "error") and "nonce" not in line:
                raise WorkerLost(f"the worker jail ended: {line}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, grace: float = 2.0) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
        self._sel.close()

    def kill(self) -> None:
        # SIGKILL of the launcher: the jail's init has a parent-death signal, so the whole jail dies.
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


# A request as sent: its JSON, and its own timeout in seconds (0: the policy's).
_Encoded = Tuple[bytes, float]


def _request(code: str, inputs: Optional[Mapping[str, Any]], files, timeout) -> _Encoded:
    if not isinstance(code, str):
        raise InputError(f"code must be a str, not {type(code).__name__}")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a mapping, not {type(inputs).__name__}")
    request = {"code": code, "inputs": dict(inputs or {}), "files": _encode_files(files)}
    try:
        body = json.dumps(request, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InputError(f"inputs must be JSON-compatible: {exc}") from None
    return body, _seconds(timeout) or 0.0


_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for owner in list(_LIVE):
        owner.close()


class _Prescreen:
    """The policy's ``[check] prescreen`` for runs that do not pass through the CLI: when the policy
    asks for it, each run's code is pre-screened in this process (native, well under a millisecond
    for ordinary code) and a refused run returns a ``refused`` Result without reaching the jail."""

    def __init__(self, policy_flags: List[str]) -> None:
        from . import _stockade

        self._flags = list(policy_flags)
        self._native = _stockade
        try:
            self._enabled = _stockade.policy_prescreens(self._flags)
        except ValueError as exc:
            raise PolicyError(str(exc)) from None

    def __call__(self, code: str) -> Optional[Result]:
        if not self._enabled:
            return None
        if not isinstance(code, str):
            raise InputError(f"code must be a str, not {type(code).__name__}")
        refused = self._native.prescreen(self._flags, code)
        return None if refused is None else _result_from_doc(json.loads(refused))


class Pool:
    """Warm jails: each run executes in a fresh process forked from a warm zygote inside a jail,
    and is destroyed afterwards; the zygote then kills whatever the run left running and empties
    the scratch directory. Thread-safe: ``run`` from many threads, ``await arun`` from asyncio.
    """

    def __init__(
        self,
        policy: PolicyArg = None,
        size: int = 2,
        preload: Sequence[str] = (),
        *,
        timeout: Optional[float] = None,
        memory: Union[None, int, str] = None,
        venv: Optional[str] = None,
        python: Optional[str] = None,
        allow_degraded: bool = False,
    ):
        if size < 1:
            raise ValueError("size must be at least 1")
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="stockade-pool-")
        self._args = _launcher_args(policy, timeout, memory, venv, python, allow_degraded, self._tmp.name)
        self._prescreen = _Prescreen(self._args)
        if preload:
            self._args += ["--preload", ",".join(preload)]
        self._timeout = _seconds(timeout)
        self._idle: "queue.Queue[_Worker]" = queue.Queue()
        self._workers: List[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        errors: List[BaseException] = []

        def start() -> None:
            try:
                self._add(_Worker(self._args, self._tmp.name))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.close()
            raise errors[0]
        _LIVE.add(self)

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.append(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            closed = self._closed
        if not closed:
            self._add(_Worker(self._args, self._tmp.name))

    @property
    def size(self) -> int:
        """Number of live workers."""
        with self._lock:
            return len(self._workers)

    def run(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        timeout: Optional[float] = None,
    ) -> Result:
        """Run ``code`` in a fresh process of a warm jail; same contract as :func:`stockade.run`."""
        if self._closed:
            raise StockadeError("the pool is closed")
        refused = self._prescreen(code)
        if refused is not None:
            return refused
        request = _request(code, inputs, files, timeout)
        while True:
            worker = self._idle.get()
            # The previous run's reset must be over before this request enters the jail. A
            # worker that died meanwhile is replaced in the background; take another.
            if worker.wait_idle():
                break
            self._replace_later(worker)
        # The zygote enforces the run's wall time; the caller waits that long and a grace more.
        wait = (request[1] or worker.wall_time) + 10.0
        try:
            response = worker.request(request, wait)
        except WorkerLost as exc:
            self._replace_later(worker)
            return Result(ok=False, status="killed", error={"type": "WorkerLost", "message": str(exc), "traceback": ""})
        except BaseException:
            # Interrupted mid-request (KeyboardInterrupt, ...): the worker's state is unknown, and
            # a worker neither returned nor replaced would leave the pool one short for good.
            self._replace_later(worker)
            raise
        self._idle.put(worker)
        return _result_from_doc(response)

    def _replace_later(self, worker: _Worker) -> None:
        def replace() -> None:
            try:
                self._replace(worker)
            except StockadeError:
                pass

        threading.Thread(target=replace, daemon=True).start()

    async def arun(self, code: str, **kwargs: Any) -> Result:
        """``await pool.arun(code, ...)``: :meth:`run` on a thread of the default executor."""
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.run, code, **kwargs))

    def close(self) -> None:
        """Stop every worker jail; no process is left behind."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for w in workers:
            w.close()
        self._tmp.cleanup()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """Stateful execution, like a notebook: successive :meth:`run` calls share one interpreter
    inside one jail. Each cell is bounded by ``timeout`` (default: the policy's wall time; a cell
    that overruns ends the session); the whole session by ``lifetime`` and the policy's memory
    limit. ``close()`` ends it.
    """

    def __init__(
        self,
        policy: PolicyArg = None,
        *,
        timeout: Optional[float] = None,
        lifetime: Optional[float] = None,
        memory: Union[None, int, str] = None,
        venv: Optional[str] = None,
        python: Optional[str] = None,
        allow_degraded: bool = False,
    ):
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="stockade-session-")
        args = _launcher_args(policy, None, memory, venv, python, allow_degraded, self._tmp.name)
        self._prescreen = _Prescreen(args)
        args += ["--session"]
        lifetime = _seconds(lifetime, "lifetime")
        if lifetime is not None:
            args += ["--lifetime", str(lifetime)]
        timeout = _seconds(timeout)
        self._lock = threading.Lock()
        self._worker: Optional[_Worker] = _Worker(args, self._tmp.name)
        # A cell's default bound is the policy's wall time, as for a run.
        self._timeout = timeout or self._worker.wall_time
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        return self._worker is None

    def run(self, code: str, *, inputs: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = None) -> Result:
        """Run one cell; its ``result`` variable (if set) is the returned value."""
        refused = self._prescreen(code)
        if refused is not None:
            return refused
        request = _request(code, inputs, None, None)
        with self._lock:
            if self._worker is None:
                raise StockadeError("the session is closed")
            try:
                response = self._worker.request(
                    request, _seconds(timeout) or self._timeout, framed=False
                )
            except WorkerLost as exc:
                self.close()
                return Result(ok=False, status="timeout", error={"type": "SessionLost", "message": str(exc), "traceback": ""})
        return _result_from_doc(response)

    def close(self) -> None:
        """End the session and its jail."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
        self._tmp.cleanup()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
