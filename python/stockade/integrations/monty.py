"""pydantic-monty's host API over stockade: code written for a monty host runs in stockade.

pydantic-monty runs a Python subset in its own interpreter; its hosts drive external function
calls in one of two ways, and this module speaks both against a stockade session (real CPython
in a jail):

    from stockade.integrations.monty import MontySession, FunctionSnapshot, MontyComplete

    s = MontySession(policy="strict")
    s.feed_run("add(1, 2)", external_lookup={"add": add})          # the functions are called for you

    progress = s.feed_start("x = fetch(7)\\nx * 2", external_functions=["fetch"])
    while isinstance(progress, FunctionSnapshot):                   # you answer each call
        progress = progress.resume({"return_value": fetch(*progress.args, **progress.kwargs)})
    assert isinstance(progress, MontyComplete)
    progress.output

What is the same: the names (`feed_run`, `feed_start`, `FunctionSnapshot` with
`function_name`/`args`/`kwargs`/`call_id`/`resume`, `MontyComplete.output`), results as
`{"return_value": ...}` or `{"exception": exc}`, state kept across feeds, `print_callback`
(called once per feed with the captured stdout). What is not: name lookups and OS calls are
never surfaced (code in stockade resolves names itself and reads its own scratch), so
`feed_start` needs the external function names up front (`external_functions=`, or the keys of
`external_lookup`); snapshots cannot be dumped or resumed in another process; a snapshot is
answered on the thread that called `feed_start`. Values cross in stockade's typed encoding.
"""
import queue
import threading
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

import stockade


class MontyComplete:
    """The snippet finished; ``output`` is its value (the last expression, or ``result``)."""

    def __init__(self, output: Any):
        self.output = output

    def __repr__(self) -> str:
        return f"MontyComplete(output={self.output!r})"


class FunctionSnapshot:
    """The snippet is waiting on an external function call; answer it with :meth:`resume`."""

    def __init__(self, feed: "_Feed", call_id: int, function_name: str, args: tuple, kwargs: dict):
        self._feed = feed
        self.call_id = call_id
        self.function_name = function_name
        self.args = args
        self.kwargs = kwargs
        self.is_os_function = False
        self._answered = False

    def resume(self, result: Mapping[str, Any]) -> Any:
        """Answer with ``{"return_value": v}`` or ``{"exception": exc}``; returns the next
        snapshot or :class:`MontyComplete`. Resumes once."""
        if self._answered:
            raise RuntimeError("this snapshot was already resumed")
        if not isinstance(result, Mapping) or not ({"return_value", "exception"} & set(result)):
            raise TypeError('resume() takes {"return_value": value} or {"exception": exception}')
        self._answered = True
        return self._feed.answer(result)

    def __repr__(self) -> str:
        return f"FunctionSnapshot({self.function_name}, args={self.args!r}, kwargs={self.kwargs!r})"


class MontyRuntimeError(stockade.StockadeError):
    """The snippet raised; ``error`` is stockade's ``{type, message, traceback}``."""

    def __init__(self, error: Mapping[str, Any]):
        super().__init__(f"{error.get('type')}: {error.get('message')}")
        self.error = dict(error)


class _Feed:
    """One feed_start: the run on a thread of its own, its calls surfaced one at a time."""

    def __init__(self, session: "MontySession", code: str, inputs: Optional[Mapping[str, Any]],
                 names: Iterable[str], print_callback: Optional[Callable[..., Any]]):
        self.events: "queue.Queue[tuple]" = queue.Queue()
        self.replies: "queue.Queue[Mapping[str, Any]]" = queue.Queue()
        self.print_callback = print_callback
        functions = {name: self._proxy(name) for name in names}
        self.calls = 0

        def run() -> None:
            try:
                r = session._session.run(code, inputs=dict(inputs or {}), functions=functions or None)
                self.events.put(("done", r))
            except BaseException as exc:  # a stockade refusal: surfaced where the host waits
                self.events.put(("failed", exc))

        self.thread = threading.Thread(target=run, name="stockade-monty-feed", daemon=True)
        self.thread.start()

    def _proxy(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.events.put(("call", name, args, kwargs, self.calls))
            reply = self.replies.get()
            if "exception" in reply:
                raise reply["exception"]
            return reply.get("return_value")
        return call

    def next(self) -> Any:
        event = self.events.get()
        if event[0] == "call":
            _, name, args, kwargs, call_id = event
            return FunctionSnapshot(self, call_id, name, tuple(args), dict(kwargs))
        self.thread.join()
        if event[0] == "failed":
            raise event[1]
        result = event[1]
        if self.print_callback is not None and result.stdout:
            self.print_callback("stdout", result.stdout)
        if not result.ok:
            raise MontyRuntimeError(result.error or {"type": result.status, "message": result.reason or ""})
        return MontyComplete(result.value)

    def answer(self, reply: Mapping[str, Any]) -> Any:
        self.replies.put(reply)
        return self.next()


class MontySession:
    """A stockade session with pydantic-monty's session API (state persists across feeds)."""

    def __init__(self, policy: Any = None, **session_kwargs: Any):
        self._session = stockade.Session(policy=policy, **session_kwargs)

    def feed_start(self, code: str, *, inputs: Optional[Mapping[str, Any]] = None,
                   external_lookup: Optional[Mapping[str, Callable[..., Any]]] = None,
                   external_functions: Iterable[str] = (),
                   print_callback: Optional[Callable[..., Any]] = None) -> Any:
        """Start ``code``; returns a :class:`FunctionSnapshot` at each external call, then
        :class:`MontyComplete`. An exception in the code raises :class:`MontyRuntimeError`."""
        names = set(external_functions) | set(external_lookup or {})
        return _Feed(self, code, inputs, sorted(names), print_callback).next()

    def feed_run(self, code: str, *, inputs: Optional[Mapping[str, Any]] = None,
                 external_lookup: Optional[Mapping[str, Callable[..., Any]]] = None,
                 print_callback: Optional[Callable[..., Any]] = None) -> Any:
        """Run ``code`` to the end, answering its external calls from ``external_lookup``;
        returns its value."""
        lookup: Dict[str, Callable[..., Any]] = dict(external_lookup or {})
        progress = self.feed_start(code, inputs=inputs, external_lookup=lookup, print_callback=print_callback)
        while isinstance(progress, FunctionSnapshot):
            try:
                value = lookup[progress.function_name](*progress.args, **progress.kwargs)
                progress = progress.resume({"return_value": value})
            except Exception as exc:  # the function's exception goes to the code, as in monty
                progress = progress.resume({"exception": exc})
        return progress.output

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "MontySession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
