"""Warm jails: :class:`Pool` (every run in a fresh process of its own, forked from a warm zygote
into its own pid, mount and IPC namespaces with a fresh scratch) and :class:`Session`
(successive cells share one interpreter).

Each worker is a jail under its own supervisor process; the run engine (native) drives them,
so these classes are thin. A pool's workers all use the pool's policy: different policies or
tenants use different pools, so they never share a zygote.
"""
from __future__ import annotations

import atexit
import functools
import weakref
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from . import (
    InputError,
    PolicyArg,
    Result,
    StockadeError,
    _engine_error,
    _launcher,
    _policy,
    _result,
    _seconds,
    _spec,
)

_LIVE: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for owner in list(_LIVE):
        owner.close()


class Pool:
    """Warm workers: each run executes in a fresh process of a warm jail, in its own pid, mount
    and IPC namespaces, with a fresh scratch, the same limits and state as a cold run, and
    channels only the supervisor reads; when it ends, every process it made ends with it.
    Thread-safe: ``run`` from many threads, ``await arun`` from asyncio.
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
        from . import _stockade

        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError("size must be an integer of at least 1")
        preload = list(preload)
        if any(not isinstance(p, str) or not p.replace(".", "").replace("_", "").isalnum() for p in preload):
            raise InputError("preload must be module names")
        toml, _output, _wall = _policy(policy, timeout, memory, venv, python, allow_degraded)
        self._closed = False
        try:
            self._native = _stockade.Pool(_launcher(), toml, size, preload)
        except _stockade.EngineError as exc:
            raise _engine_error(exc) from None
        _LIVE.add(self)

    @property
    def size(self) -> int:
        """Number of live workers."""
        return self._native.size

    def run(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
        types: Tuple[type, ...] = (),
        functions: Any = None,
    ) -> Result:
        """Run ``code`` in a fresh process of a warm jail; same contract as :func:`stockade.run`
        (``timeout`` can only shorten the policy's wall time; ``functions`` are host functions)."""
        from . import _functions, _stockade

        if self._closed:
            raise StockadeError("the pool is closed")
        host = _functions.coerce(functions)
        spec = _spec(code, inputs, files, stdin, timeout, host)
        try:
            return _result(self._native.run(spec, _functions.Dispatcher(host) if host else None), types)
        except _stockade.EngineError as exc:
            raise _engine_error(exc) from None

    async def arun(self, code: str, **kwargs: Any) -> Result:
        """``await pool.arun(code, ...)``: :meth:`run` on a thread of the default executor."""
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.run, code, **kwargs))

    def close(self) -> None:
        """Stop every worker jail; no process is left behind."""
        if not self._closed:
            self._closed = True
            self._native.close()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """Stateful execution, like a notebook: successive :meth:`run` calls share one interpreter
    inside one jail. Each cell is bounded by ``timeout`` (default: the policy's wall time; a cell
    that overruns ends the session) and by the policy's CPU time (CPU used between cells counts
    towards the next); the whole session by ``lifetime`` and the policy's memory limit. The
    processes a cell starts end with the cell. ``close()`` ends it.
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
        from . import _stockade

        toml, _output, _wall = _policy(policy, None, memory, venv, python, allow_degraded)
        lifetime = _seconds(lifetime, "lifetime")
        self._timeout = _seconds(timeout)
        try:
            self._native = _stockade.Session(
                _launcher(), toml, None if lifetime is None else int(lifetime * 1000)
            )
        except _stockade.EngineError as exc:
            raise _engine_error(exc) from None
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        return self._native.closed

    def run(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
        types: Tuple[type, ...] = (),
        functions: Any = None,
    ) -> Result:
        """Run one cell; its ``result`` variable (if set), else the value of its last expression,
        is the returned value. ``functions`` are host functions for this cell."""
        from . import _functions, _stockade

        host = _functions.coerce(functions)
        spec = _spec(code, inputs, None, stdin, timeout if timeout is not None else self._timeout, host)
        try:
            return _result(self._native.run(spec, _functions.Dispatcher(host) if host else None), types)
        except _stockade.EngineError as exc:
            if exc.args and exc.args[0] == "lost":
                raise StockadeError("the session is closed") from None
            raise _engine_error(exc) from None

    def close(self) -> None:
        """End the session and its jail."""
        self._native.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
