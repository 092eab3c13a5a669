"""A client of ``stockade serve``: :class:`Client` (and :class:`AsyncClient`) run code on a
stockade service and return the same :class:`~stockade.Result` as :func:`stockade.run`.

Only the standard library: ``http.client``, one keep-alive connection per thread. The request
is built by the same code as a local run's (the typed value encoding for ``inputs``, base64 for
``files`` and ``stdin``, seconds to ms for ``timeout``) and the answer read by the same code,
so a value that round-trips locally round-trips through the service.

Errors are the local API's where the cause is the same (a bad input is an :class:`InputError`,
a bad policy a :class:`PolicyError`, a jail that could not be built a :class:`SetupError`), plus
the service's own, all under :class:`StockadeError`::

    StockadeError
    └── ServiceError          # the service's own failures (and any answer none below fits)
        ├── AuthError             # 401, 403: the key is not valid or may not do this
        ├── NotFound              # 404, 410: no such run or session, or the session is closed
        ├── QuotaExceeded         # 429: a quota or the server's queue (.retry_after, .quota)
        ├── ServiceUnavailable    # 503 (database, shutting down), or the service is unreachable
        └── WaitTimeout           # Client.wait gave up (also a TimeoutError)

Every ServiceError, and every local class raised for an answer of the service, has ``status``
(the HTTP status, or None), ``code`` (the service's error code, or None), ``field`` (the request
field at fault, or None) and ``retry_after``. The API key never appears in an exception, a
message or a repr.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import select
import socket
import threading
import time
import urllib.parse
import weakref
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from . import (
    InputError,
    LayerMissing,
    PolicyError,
    Result,
    SetupError,
    StockadeError,
    WorkerLost,
    _result,
    _seconds,
    _spec,
)

__all__ = [
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
]


class ServiceError(StockadeError):
    """An error of the service itself (not of the code, the inputs or the policy): the base of
    the classes below, and raised as such for an answer none of them fits (e.g. 409)."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.retry_after = retry_after


class AuthError(ServiceError):
    """401 or 403: the API key is missing, not valid, revoked or expired, or its role may not do
    this."""


class NotFound(ServiceError):
    """404 or 410: no such run or session (or not one this key may see), or the session is
    closed."""


class QuotaExceeded(ServiceError):
    """429: a quota of the tenant (``quota`` names it, e.g. ``runs_per_minute``) or the server's
    queue (``quota`` None) is full. ``retry_after`` is the service's advice in seconds (a float),
    or None."""

    @property
    def quota(self) -> Optional[str]:
        return self.field


class ServiceUnavailable(ServiceError):
    """503 (the database is away, the server is shutting down), another server-side failure, or
    the service cannot be reached or did not answer in time. ``retry_after`` when the service
    gave one."""


class WaitTimeout(ServiceError, TimeoutError):
    """:meth:`Client.wait` gave up before the run finished (the run goes on)."""


_INPUT_CODES = {
    "invalid_json",
    "invalid_request",
    "invalid_query",
    "bad_body",
    "body_too_large",
    "override_not_allowed",
}
_POLICY_CODES = {"invalid_policy", "invalid_quota"}
_UNAVAILABLE_CODES = {"database_unavailable", "shutting_down", "not_ready", "body_timeout"}
_STREAM_KINDS = ("stdout", "stderr")


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _api_error(
    status: Optional[int], body: Mapping[str, Any], retry_after: Optional[float], secret: str
) -> StockadeError:
    """The package's exception for an error body ``{code, message, field, line?, column?}``."""
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    field = body.get("field") if isinstance(body.get("field"), str) else None
    if secret and secret in message:  # never repeat the key, whatever the service said
        message = message.replace(secret, "[api key]")
    where = f"HTTP {status} {code}" if status else f"{code}"
    described = f"{message or 'the service refused the request'} ({where})"
    exc: StockadeError
    kw: Dict[str, Any] = {"status": status, "code": code, "field": field, "retry_after": retry_after}
    if code in ("unauthorized", "forbidden") or status in (401, 403):
        exc = AuthError(described, **kw)
    elif code in ("not_found", "session_closed") or status in (404, 410):
        exc = NotFound(described, **kw)
    elif code in ("quota_exceeded", "server_busy") or status == 429:
        exc = QuotaExceeded(described, **kw)
    elif code == "layer_missing":
        exc = LayerMissing(message, field)
    elif code == "setup_failed":
        exc = SetupError(message, field)
    elif code == "run_lost":
        exc = WorkerLost(message)
    elif code in _POLICY_CODES:
        exc = PolicyError(message)
    elif code in _INPUT_CODES or status in (400, 413, 422):
        exc = InputError(message)
    elif code in _UNAVAILABLE_CODES or (status is not None and status >= 500):
        exc = ServiceUnavailable(described, **kw)
    else:
        exc = ServiceError(described, **kw)
    if not isinstance(exc, ServiceError):
        # the local API's classes, with the service's details as attributes
        exc.status = status  # type: ignore[attr-defined]
        exc.code = code  # type: ignore[attr-defined]
        exc.field = field  # type: ignore[attr-defined]
        exc.retry_after = retry_after  # type: ignore[attr-defined]
        if code == "invalid_policy":
            exc.line = body.get("line")  # type: ignore[attr-defined]
            exc.column = body.get("column")  # type: ignore[attr-defined]
    return exc


def _check_callback(stream: Any) -> None:
    if stream is not None and not callable(stream):
        raise InputError(f"stream must be a callable (kind, data), not {type(stream).__name__}")


class _Conn:
    """One keep-alive HTTP connection (a thread's own, or a stream's while it is read)."""

    __slots__ = ("http", "used", "__weakref__")

    def __init__(self, conn: http.client.HTTPConnection):
        self.http = conn
        self.used = False

    def __del__(self) -> None:
        # a thread that ends drops its connection: close it rather than leave it to the GC
        try:
            self.http.close()
        except Exception:
            pass


_DEFAULT: Any = object()


class Client:
    """A client of a ``stockade serve`` service at ``url`` (``http://host:port``, or ``https://``;
    a path prefix is kept), authenticated with ``api_key`` (default: ``$STOCKADE_API_KEY``).

    ``timeout`` (seconds, None: no limit) bounds each wait on the network: connecting, and each
    read of an answer. A run's answer arrives when the run ends, so for :meth:`run` the wait is
    ``timeout`` plus the run's own ``timeout`` when one is given; a streamed run's events are
    waited for at least 20 s each (the service sends a keep-alive every 15 s). Thread-safe: each
    thread keeps one connection of its own alive between requests.
    """

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: Optional[float] = None):
        if not isinstance(url, str):
            raise InputError(f"url must be a str, not {type(url).__name__}")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"url must be http://host[:port] or https://host[:port], not {url!r}")
        if parts.username or parts.password:
            raise InputError("url must not carry credentials: pass api_key=")
        if api_key is None:
            api_key = os.environ.get("STOCKADE_API_KEY")
        if not api_key:
            raise AuthError("no API key: pass api_key= or set STOCKADE_API_KEY")
        if not isinstance(api_key, str) or not all(33 <= ord(c) < 127 for c in api_key):
            # (http.client would put the header, key and all, into its own error)
            raise AuthError("the API key must be printable ASCII without spaces")
        self._timeout = _seconds(timeout)
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._auth = f"Bearer {api_key}"
        self._secret = api_key
        self._local = threading.local()
        self._conns: "weakref.WeakSet[_Conn]" = weakref.WeakSet()  # for close(); threads hold them
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<stockade.Client {self.url}{' closed' if self._closed else ''}>"

    # ----- the connection -----

    def _conn(self) -> _Conn:
        if self._closed:
            raise StockadeError("the client is closed")
        c: Optional[_Conn] = getattr(self._local, "conn", None)
        if c is not None and c.http.sock is not None and c.used:
            # the server closes idle connections (header timeout): a readable idle socket has
            # been closed (or holds garbage); start afresh rather than fail the next request
            try:
                poller = select.poll()
                poller.register(c.http.sock, select.POLLIN)
                readable = bool(poller.poll(0))
            except (OSError, ValueError):
                readable = True
            if readable:
                c.http.close()
        if c is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            c = _Conn(cls(self._host, self._port, timeout=self._timeout))
            self._local.conn = c
            with self._lock:
                self._conns.add(c)
        return c

    def _drop(self, c: _Conn) -> None:
        c.http.close()

    def _detach(self) -> None:
        """Take the thread's connection away from it (a stream holds it while it is read)."""
        self._local.conn = None

    def _reattach(self, c: _Conn, clean: bool) -> None:
        """A stream is over: its connection serves the thread again, or is closed."""
        if clean and not self._closed and getattr(self._local, "conn", None) is None:
            self._local.conn = c
        else:
            c.http.close()
            with self._lock:
                self._conns.discard(c)

    def _send(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        read_timeout: Optional[float] = _DEFAULT,
    ) -> Tuple[_Conn, http.client.HTTPResponse]:
        """Send a request and read the answer's head; the caller reads the body."""
        if read_timeout is _DEFAULT:
            read_timeout = self._timeout
        h = {"Authorization": self._auth, "Accept": "application/json", "User-Agent": "stockade-python"}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        attempts = 2 if method in ("GET", "DELETE") else 1
        for attempt in range(attempts):
            c = self._conn()
            reused = c.http.sock is not None
            try:
                if c.http.sock is None:
                    c.http.connect()
                    try:
                        c.http.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except OSError:
                        pass
                c.http.sock.settimeout(self._timeout)
                try:
                    c.http.request(method, self._prefix + path, body=body, headers=h)
                except (BrokenPipeError, ConnectionResetError):
                    # the server may have answered (413) and closed before reading it all
                    pass
                c.http.sock.settimeout(read_timeout)
                resp = c.http.getresponse()
                c.used = True
                return c, resp
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop(c)
                if reused and attempt + 1 < attempts:
                    continue
                raise ServiceUnavailable(f"the service at {self.url} closed the connection: {exc}") from None
            except socket.timeout:
                self._drop(c)
                raise ServiceUnavailable(f"the service at {self.url} did not answer in time") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(c)
                raise ServiceUnavailable(f"cannot reach the service at {self.url}: {exc}") from None
        raise AssertionError("unreachable")

    def _read(self, c: _Conn, resp: http.client.HTTPResponse) -> bytes:
        try:
            return resp.read()
        except socket.timeout:
            self._drop(c)
            raise ServiceUnavailable(f"the service at {self.url} did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop(c)
            raise ServiceUnavailable(f"the answer from {self.url} was cut off: {exc}") from None

    def _error(self, resp: http.client.HTTPResponse, data: bytes) -> StockadeError:
        try:
            body = json.loads(data)
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = {"message": f"the service answered HTTP {resp.status} {resp.reason}"}
        return _api_error(resp.status, body, _retry_after(resp.getheader("Retry-After")), self._secret)

    def _call(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        ok: Tuple[int, ...] = (200,),
        read_timeout: Optional[float] = _DEFAULT,
    ) -> Tuple[int, bytes]:
        c, resp = self._send(method, path, body, read_timeout=read_timeout)
        data = self._read(c, resp)
        if resp.status not in ok:
            self._refused(c, body)
            raise self._error(resp, data)
        return resp.status, data

    def _refused(self, c: _Conn, body: Optional[Union[bytes, str]]) -> None:
        """After a refusal of a request with a body: do not reuse the connection. The service
        may refuse before reading the body (401, 403, 413), and then it may close the
        connection just after its answer, without saying so: the next request sent on it
        would be lost."""
        if body is not None:
            self._drop(c)

    def _json(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise ServiceUnavailable(f"the service at {self.url} answered something other than JSON") from None

    def _read_timeout(self, timeout: Any) -> Optional[float]:
        if self._timeout is None:
            return None
        extra = _seconds(timeout)
        return self._timeout + (extra or 0.0)

    # ----- runs -----

    def run(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
        stream: Optional[Callable[[str, Any], Any]] = None,
        types: Tuple[type, ...] = (),
    ) -> Result:
        """Run ``code`` on the service and return its :class:`Result`; the contract of
        :func:`stockade.run` under the tenant's policy (``timeout`` can only shorten its wall
        time). ``stream(kind, data)``, when given, is called as output arrives: ``("stdout",
        bytes)``, ``("stderr", bytes)``, ``("violation", dict)``; an exception it raises stops the
        reading and propagates (the run itself goes on to its end on the service)."""
        _check_callback(stream)
        return self._run("/v1/runs", code, inputs, files, stdin, timeout, stream, types)

    def _run(
        self,
        path: str,
        code: Any,
        inputs: Any,
        files: Any,
        stdin: Any,
        timeout: Any,
        stream: Optional[Callable[[str, Any], Any]],
        types: Tuple[type, ...],
    ) -> Result:
        if stream is not None:
            events = self._events(path, code, inputs, files, stdin, timeout, types, None)
            try:
                for kind, data in events:
                    if kind == "result":
                        return data
                    if kind != "run":
                        stream(kind, data)
            finally:
                events.close()  # (when the callback raised: the connection is closed)
            raise AssertionError("unreachable")  # _events ends with a result or raises
        spec = _spec(code, inputs, files, stdin, timeout)
        _status, data = self._call("POST", path, spec.encode(), read_timeout=self._read_timeout(timeout))
        return self._result(data, types)

    def _result(self, data: Union[bytes, str], types: Tuple[type, ...]) -> Result:
        try:
            return _result(data if isinstance(data, str) else data.decode("utf-8"), types)
        except (ValueError, AttributeError):
            raise ServiceUnavailable(f"the service at {self.url} answered something other than a result") from None

    def stream_events(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
        types: Tuple[type, ...] = (),
    ) -> Iterator[Tuple[str, Any]]:
        """Run ``code`` and yield its events as they arrive: ``("run", run_id)`` first, then
        ``("stdout", bytes)``, ``("stderr", bytes)``, ``("violation", dict)``, and last
        ``("result", Result)``. An error is raised as :meth:`run` raises it. Leaving the loop
        early closes the connection (the run itself goes on to its end on the service)."""
        return self._events("/v1/runs", code, inputs, files, stdin, timeout, types, None)

    def _events(
        self,
        path: str,
        code: Any,
        inputs: Any,
        files: Any,
        stdin: Any,
        timeout: Any,
        types: Tuple[type, ...],
        holder: Optional[List[Any]],
    ) -> Iterator[Tuple[str, Any]]:
        spec = _spec(code, inputs, files, stdin, timeout)  # raises here, before the first next()
        # the event stream is read between the caller's other requests: it gets a connection of
        # its own (the thread's, taken away from it meanwhile); keep-alives come every 15 s
        read_timeout = None if self._timeout is None else max(self._timeout, 20.0)

        def events() -> Iterator[Tuple[str, Any]]:
            c, resp = self._send(
                "POST", path, spec.encode(), headers={"Accept": "text/event-stream"}, read_timeout=read_timeout
            )
            if resp.status != 200:
                data = self._read(c, resp)
                self._refused(c, spec)
                raise self._error(resp, data)
            self._detach()
            if holder is not None:
                holder.append(c.http)
            clean = False
            try:
                for event, data in self._sse(c, resp):
                    kind, value = self._event(event, data, types)
                    if kind == "result":
                        self._read(c, resp)  # the end of the stream: the connection stays usable
                        clean = True
                        yield kind, value
                        return
                    if kind == "error":
                        self._read(c, resp)
                        clean = True
                        raise _api_error(None, value, None, self._secret)
                    if kind:
                        yield kind, value
                raise ServiceUnavailable(f"the event stream from {self.url} ended without a result")
            finally:
                self._reattach(c, clean)

        return events()

    def _event(self, event: str, data: str, types: Tuple[type, ...]) -> Tuple[Optional[str], Any]:
        """One server-sent event as (kind, value); kind None for an event this client ignores."""
        try:
            if event in _STREAM_KINDS:
                return event, base64.b64decode(json.loads(data)["data"], validate=True)
            if event == "violation":
                return event, dict(json.loads(data))
            if event == "run":
                return event, str(json.loads(data)["id"])
            if event == "error":
                return event, dict(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            raise ServiceUnavailable(f"the service at {self.url} sent a malformed {event} event: {exc}") from None
        if event == "result":
            return event, self._result(data, types)
        return None, None

    def _sse(self, c: _Conn, resp: http.client.HTTPResponse) -> Iterator[Tuple[str, str]]:
        """Server-sent events: (event, data) pairs."""
        event: Optional[str] = None
        data: List[str] = []
        while True:
            try:
                raw = resp.readline()
            except socket.timeout:
                raise ServiceUnavailable(f"the event stream from {self.url} went silent") from None
            except (OSError, http.client.HTTPException) as exc:
                raise ServiceUnavailable(f"the event stream from {self.url} was cut off: {exc}") from None
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data = None, []
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)

    async def arun(self, code: str, **kwargs: Any) -> Result:
        """``await client.arun(code, ...)``: :meth:`run` on a thread (a ``stream`` callback is
        called on that thread)."""
        import asyncio

        return await asyncio.to_thread(self.run, code, **kwargs)

    def submit(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
    ) -> str:
        """Start ``code`` without waiting; returns the run's id for :meth:`get` and
        :meth:`wait`."""
        spec = _spec(code, inputs, files, stdin, timeout)
        body = spec[:-1] + ',"async":true}'  # _spec's JSON object, one member more
        _status, data = self._call("POST", "/v1/runs", body.encode(), ok=(200, 201, 202))
        run_id = self._json(data).get("id")
        if not isinstance(run_id, str):
            raise ServiceUnavailable(f"the service at {self.url} did not give the run's id")
        return run_id

    def get(self, run_id: str) -> Dict[str, Any]:
        """The run's record: ``state`` (``queued``, ``running``, ``done``, ``lost``), ``status``,
        timings, and ``result`` (the result document, once done)."""
        if not isinstance(run_id, str) or not run_id:
            raise InputError("run_id must be a non-empty str")
        _status, data = self._call("GET", "/v1/runs/" + urllib.parse.quote(run_id, safe=""))
        record = self._json(data)
        if not isinstance(record, dict):
            raise ServiceUnavailable(f"the service at {self.url} answered something other than a run")
        return record

    def wait(self, run_id: str, timeout: Optional[float] = None, types: Tuple[type, ...] = ()) -> Result:
        """Wait for a submitted run and return its :class:`Result` (``timeout`` seconds, None:
        as long as it takes; then :class:`WaitTimeout`). A run the service lost (it stopped
        before the run finished) raises :class:`WorkerLost`; one whose jail could not be built,
        :class:`SetupError`."""
        limit = _seconds(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        delay = 0.02
        while True:
            record = self.get(run_id)
            result = self._finished(run_id, record, types)
            if result is not None:
                return result
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise WaitTimeout(f"the run {run_id} is still {record.get('state')} after {limit:g} s")
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - now)))
            delay = min(delay * 1.5, 0.5)

    def _finished(self, run_id: str, record: Dict[str, Any], types: Tuple[type, ...]) -> Optional[Result]:
        """The Result of a finished run's record; None while it is queued or running."""
        state = record.get("state")
        if state == "lost":
            raise WorkerLost(f"the run {run_id} was lost: the service stopped before it finished")
        if state != "done":
            return None
        doc = record.get("result")
        if not isinstance(doc, dict):
            raise ServiceUnavailable(f"the run {run_id} is done but the service gave no result")
        failure = doc.get("error")
        if doc.get("status") == "setup_failed" and isinstance(failure, dict):
            raise SetupError(str(failure.get("message") or "the jail could not be built"), failure.get("step"))
        return self._result(json.dumps(doc), types)

    # ----- sessions -----

    def session(self, idle_timeout: Optional[float] = None) -> "ClientSession":
        """Open a session on the service: successive :meth:`ClientSession.run` calls share one
        interpreter. It closes after ``idle_timeout`` seconds without a cell (default and
        maximum: the server's), or with :meth:`ClientSession.close`."""
        seconds = _seconds(idle_timeout, "idle_timeout")
        body = {} if seconds is None else {"idle_timeout_ms": max(1, int(seconds * 1000))}
        _status, data = self._call("POST", "/v1/sessions", json.dumps(body).encode(), ok=(200, 201))
        record = self._json(data)
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ServiceUnavailable(f"the service at {self.url} did not give the session's id")
        return ClientSession(self, record)

    def close(self) -> None:
        """Close every connection of this client; it cannot be used after."""
        self._closed = True
        with self._lock:
            conns = list(self._conns)
            self._conns = weakref.WeakSet()
        for c in conns:
            c.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ClientSession:
    """A session on the service (from :meth:`Client.session`): one interpreter whose cells share
    state. ``id`` is the service's id. Closing twice is fine; a cell sent after the session
    closed (by :meth:`close`, idleness or the server) raises :class:`NotFound`."""

    def __init__(self, client: Client, record: Dict[str, Any]):
        self._client = client
        self.id: str = record["id"]
        self.record = record
        self._closed = False
        self._path = "/v1/sessions/" + urllib.parse.quote(self.id, safe="")

    def __repr__(self) -> str:
        return f"<stockade.ClientSession {self.id}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the service may have closed it earlier)."""
        return self._closed

    def run(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
        stream: Optional[Callable[[str, Any], Any]] = None,
        types: Tuple[type, ...] = (),
    ) -> Result:
        """Run one cell; same arguments and result as :meth:`Client.run`."""
        _check_callback(stream)
        return self._client._run(self._path + "/runs", code, inputs, files, stdin, timeout, stream, types)

    def stream_events(
        self,
        code: str,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        stdin: Union[None, bytes, str] = None,
        timeout: Optional[float] = None,
        types: Tuple[type, ...] = (),
    ) -> Iterator[Tuple[str, Any]]:
        """Run one cell, yielding its events as :meth:`Client.stream_events` does."""
        return self._client._events(self._path + "/runs", code, inputs, files, stdin, timeout, types, None)

    async def arun(self, code: str, **kwargs: Any) -> Result:
        """``await session.arun(code, ...)``: :meth:`run` on a thread."""
        import asyncio

        return await asyncio.to_thread(self.run, code, **kwargs)

    def info(self) -> Dict[str, Any]:
        """The service's record of the session (``state``: ``open`` or ``closed``, ``reason``)."""
        _status, data = self._client._call("GET", self._path)
        return self._client._json(data)

    def close(self) -> None:
        """Close the session and its jail (once; later calls do nothing)."""
        if self._closed:
            return
        self._client._call("DELETE", self._path, ok=(200, 204))
        self._closed = True

    def __enter__(self) -> "ClientSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _no_more(kwargs: Dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(f"unexpected keyword argument {next(iter(kwargs))!r}")


class AsyncClient:
    """:class:`Client` for asyncio: the same methods as coroutines (each request runs on a thread
    of the default executor, with that thread's keep-alive connection)."""

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: Optional[float] = None):
        self._client = Client(url, api_key=api_key, timeout=timeout)
        self.url = self._client.url

    def __repr__(self) -> str:
        return f"<stockade.AsyncClient {self.url}>"

    @property
    def sync(self) -> Client:
        """The underlying :class:`Client`."""
        return self._client

    async def run(self, code: str, **kwargs: Any) -> Result:
        """:meth:`Client.run` (a ``stream`` callback is called on the request's thread)."""
        return await self._client.arun(code, **kwargs)

    async def stream_events(self, code: str, **kwargs: Any) -> Any:
        """:meth:`Client.stream_events` as an async iterator."""
        async for item in _aiter_events(self._client, "/v1/runs", code, kwargs):
            yield item

    async def submit(self, code: str, **kwargs: Any) -> str:
        import asyncio

        return await asyncio.to_thread(self._client.submit, code, **kwargs)

    async def get(self, run_id: str) -> Dict[str, Any]:
        import asyncio

        return await asyncio.to_thread(self._client.get, run_id)

    async def wait(self, run_id: str, timeout: Optional[float] = None, types: Tuple[type, ...] = ()) -> Result:
        """:meth:`Client.wait` without holding a thread while the run goes on."""
        import asyncio

        limit = _seconds(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        delay = 0.02
        while True:
            record = await asyncio.to_thread(self._client.get, run_id)
            result = self._client._finished(run_id, record, types)
            if result is not None:
                return result
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise WaitTimeout(f"the run {run_id} is still {record.get('state')} after {limit:g} s")
            await asyncio.sleep(delay if deadline is None else max(0.0, min(delay, deadline - now)))
            delay = min(delay * 1.5, 0.5)

    async def session(self, idle_timeout: Optional[float] = None) -> "AsyncClientSession":
        import asyncio

        return AsyncClientSession(await asyncio.to_thread(self._client.session, idle_timeout))

    async def close(self) -> None:
        self._client.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncClientSession:
    """:class:`ClientSession` for asyncio."""

    def __init__(self, session: ClientSession):
        self._session = session
        self.id = session.id

    def __repr__(self) -> str:
        return f"<stockade.AsyncClientSession {self.id}>"

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def run(self, code: str, **kwargs: Any) -> Result:
        return await self._session.arun(code, **kwargs)

    async def stream_events(self, code: str, **kwargs: Any) -> Any:
        async for item in _aiter_events(self._session._client, self._session._path + "/runs", code, kwargs):
            yield item

    async def close(self) -> None:
        import asyncio

        await asyncio.to_thread(self._session.close)

    async def __aenter__(self) -> "AsyncClientSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _aiter_events(client: Client, path: str, code: Any, kwargs: Dict[str, Any]) -> Any:
    """A streamed run's events, read on a thread and handed to the event loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    queue: "asyncio.Queue[Tuple[str, Any]]" = asyncio.Queue()
    holder: List[Any] = []
    events = client._events(
        path,
        code,
        kwargs.pop("inputs", None),
        kwargs.pop("files", None),
        kwargs.pop("stdin", None),
        kwargs.pop("timeout", None),
        kwargs.pop("types", ()),
        holder,
    )
    _no_more(kwargs)
    stop = threading.Event()

    def post(item: Tuple[str, Any]) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed
            pass

    def pump() -> None:
        try:
            for item in events:
                post(("item", item))
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the awaiting side
            post(("error", exc))
        else:
            post(("end", None))
        finally:
            events.close()

    worker = loop.run_in_executor(None, pump)
    try:
        while True:
            what, item = await queue.get()
            if what == "item":
                yield item
            elif what == "error":
                raise item
            else:
                return
    finally:
        if not worker.done():
            stop.set()
            for conn in holder:  # wake the thread blocked on the stream
                try:
                    if conn.sock is not None:
                        conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
