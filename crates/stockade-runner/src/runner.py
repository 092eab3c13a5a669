# stockade's runner inside the jail: runs one request of code (mode "api": a cold run; mode
# "pool": in each process the zygote forks; mode "session": cell after cell in this process).
#
# What it reads and writes (docs/engine.md): the request frame from fd 5 (a sealed memfd the
# supervisor wrote), the answer frame on fd 4 (a pipe the supervisor reads, capped, and checks:
# this process runs the code, so everything it writes is the run's own account). Status,
# usage, limits and the guard's reports are not the runner's to give. The same file runs on
# CPython 3.9 to 3.13: no newer syntax.
import json
import os
import struct
import sys

sys.dont_write_bytecode = True  # /sandbox is read-only: no __pycache__ attempt for the codec
import _stockade_codec as codec  # noqa: E402

sys.dont_write_bytecode = False

_ANSWER_FD, _REQUEST_FD, _CALLS_FD = 4, 5, 9
_HEADER = struct.Struct("<2sBBIQ")  # magic, version, kind, length, nonce (stockade-protocol)
_KIND_REQUEST, _KIND_ANSWER, _KIND_CALL, _KIND_REPLY = 10, 11, 18, 19
_PACKAGES = "/tmp/packages"
_SCRATCH = "/tmp"
_RUNNER = os.path.abspath(__file__)
_CO_COROUTINE = 0x80
_PYCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000  # ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, CPython 3.8+


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _read_request(fd):
    """The request frame from the supervisor (trusted, but checked all the same): a sealed
    memfd, read whole at once."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else _read_all(fd)
    magic, version, kind, length, _nonce = _HEADER.unpack_from(data)
    if magic != b"SK" or version != 1 or kind != _KIND_REQUEST or len(data) != _HEADER.size + length:
        raise SystemExit("stockade runner: malformed request")
    return json.loads(data[_HEADER.size:])


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class HostFunctionError(Exception):
    """A host function raised an exception of a kind that does not cross as itself, or
    stockade refused the call (an unknown function, too many calls, a timeout, too large)."""


HostFunctionError.__module__ = "stockade"

# Exceptions a host function's error comes back as when it names one of them; anything else
# is a HostFunctionError naming the host's class. Nothing is looked up by a name from outside.
_BUILTIN_ERRORS = {e.__name__: e for e in (
    ValueError, TypeError, KeyError, IndexError, LookupError, RuntimeError, PermissionError,
    FileNotFoundError, FileExistsError, TimeoutError, ConnectionError, NotImplementedError,
    ZeroDivisionError, ArithmeticError, AttributeError, OSError, AssertionError, UnicodeError)}
_calls = [0]


def _read_exact(fd, n):
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise HostFunctionError("the host closed the call channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _call(name, args, kwargs):
    """One host function call: a Call frame out on fd 9, the Reply frame back."""
    _calls[0] += 1
    nonce = _calls[0]
    try:
        payload = json.dumps({"name": name, "args": [codec.encode(a, root="argument") for a in args],
                              "kwargs": {k: codec.encode(v, root=k) for k, v in kwargs.items()}},
                             ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except codec.EncodeError as exc:
        raise TypeError("%s(): an argument cannot cross to the host: %s" % (name, exc)) from None
    try:
        _write_all(_CALLS_FD, _HEADER.pack(b"SK", 1, _KIND_CALL, len(payload), nonce) + payload)
        magic, version, kind, length, got = _HEADER.unpack(_read_exact(_CALLS_FD, _HEADER.size))
    except OSError as exc:
        raise HostFunctionError("%s(): the host cannot be reached: %s" % (name, exc)) from None
    if magic != b"SK" or version != 1 or kind != _KIND_REPLY or got != nonce:
        raise HostFunctionError("%s(): a malformed reply from the host" % name)
    reply = json.loads(_read_exact(_CALLS_FD, length))
    error = reply.get("error")
    if error:
        kind, message = str(error.get("kind", "")), str(error.get("message", ""))
        if kind in _BUILTIN_ERRORS:
            raise _BUILTIN_ERRORS[kind](message)
        raise HostFunctionError("%s: %s" % (kind, message))
    return codec.decode(reply.get("value"))


def _host_function(name):
    def host_function(*args, **kwargs):
        return _call(name, args, kwargs)
    host_function.__name__ = host_function.__qualname__ = name
    host_function.__doc__ = "%s(...): a host function; it runs outside the sandbox." % name
    return host_function


def _clean(text):
    """Text that is valid UTF-8 (a lone surrogate from an exception message becomes '?')."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


def _hide_host_paths(text):
    for prefix in sorted({sys.prefix, sys.base_prefix, sys.exec_prefix}, key=len, reverse=True):
        if prefix and prefix != "/":
            text = text.replace(prefix, "<python>")
    return text


def _error(exc):
    import traceback

    # Drop the runner's own frames: the traceback starts in the run's code.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _RUNNER:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {
        "type": _clean(type(exc).__name__),
        "message": _clean(_hide_host_paths(str(exc))),
        "traceback": _clean(_hide_host_paths(text)),
    }


def _place_files(files):
    import base64

    for name, data in files.items():
        path = os.path.join(_SCRATCH, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def _split_final_expression(tree):
    """The module without its last statement when that is an expression, and that expression
    (its value is the run's value, as in a notebook); else the module and None."""
    import ast

    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
        return tree, ast.Expression(last.value)
    return tree, None


def _calls_main_itself(tree):
    """Whether the module's own top level refers to `main` (calls it, `asyncio.run(main())`,
    `if __name__ == "__main__": main()`): then the runner never calls it a second time."""
    import ast

    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "main":
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id == "main" and isinstance(node.ctx, ast.Load):
                return True
    return False


def _awaited(value):
    """A coroutine the code left as its value is run to completion, as `asyncio.run` would."""
    if type(value).__name__ == "coroutine" and hasattr(value, "send"):
        import asyncio

        return asyncio.run(value)
    return value


def _parts(code, filename, shape):
    """(body, final expression, whether the code refers to `main` itself) as code objects. With
    the supervisor's `shape` the code is cut at the final expression's byte offsets; without it
    (the supervisor's parser did not accept the code), the interpreter's `ast` does the work."""
    flags = _PYCF_ALLOW_TOP_LEVEL_AWAIT
    if shape is None:
        import ast

        tree = ast.parse(code, filename)
        main_called = _calls_main_itself(tree)
        body, last = _split_final_expression(tree)
        last = None if last is None else compile(last, filename, "eval", flags=flags, dont_inherit=True)
        return compile(body, filename, "exec", flags=flags, dont_inherit=True), last, main_called
    span = shape["final_expression"]
    if span is None:
        return compile(code, filename, "exec", flags=flags, dont_inherit=True), None, shape["refers_to_main"]
    raw = code.encode("utf-8")
    head = raw[: span[0]].decode("utf-8")
    # The expression keeps its line and column: blank lines before it, and an opening
    # parenthesis at column 0 so that its own indentation is not a syntax error.
    line_breaks = head.count("\n") + head.count("\r") - head.count("\r\n")
    column = len(head) - max(head.rfind("\n"), head.rfind("\r")) - 1
    text = raw[span[0] : span[1]].decode("utf-8")
    source = "\n" * line_breaks + ("(" + " " * (column - 1) + text + "\n)" if column else text)
    body = compile(head, filename, "exec", flags=flags, dont_inherit=True)
    return body, compile(source, filename, "eval", flags=flags, dont_inherit=True), shape["refers_to_main"]


def _execute(code, filename, namespace, inputs, call_main, shape=None):
    """Run `code` in `namespace` (the inputs already bound) and return its value:
    the variable `result` if the code set it; else the value of its final expression; else, when
    `call_main` and the code defines `main` but never refers to it itself, `main(**inputs)`.
    Top-level `await` works; a coroutine value is awaited."""
    import linecache

    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    compiled, last, main_called = _parts(code, filename, shape)
    sentinel = namespace.get("result", _MISSING)
    if compiled.co_flags & _CO_COROUTINE:
        _awaited(eval(compiled, namespace))
    else:
        exec(compiled, namespace)
    value = None
    if last is not None:
        value = _awaited(eval(last, namespace))
    result = namespace.get("result", _MISSING)
    if result is not _MISSING and result is not sentinel:
        return result
    if last is not None:
        return value
    if call_main and not main_called and callable(namespace.get("main")):
        return _awaited(namespace["main"](**inputs))
    return None


class _Missing:
    pass


_MISSING = _Missing()


def _collect_files(budget):
    """Files the code wrote under out/, each as base64, while they fit in `budget` bytes of
    answer; what does not fit (or cannot be named in UTF-8, or is not a regular file) is listed
    with the reason."""
    import base64

    files, skipped = {}, []
    out_dir = os.path.join(_SCRATCH, "out")
    if not os.path.isdir(out_dir) or os.path.islink(out_dir):
        return files, skipped
    for dirpath, dirnames, names in os.walk(out_dir):
        dirnames.sort()
        for raw in sorted(names):
            path = os.path.join(dirpath, raw)
            rel = os.path.relpath(path, out_dir)
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append({"name": _clean(repr(rel)), "reason": "its name is not valid UTF-8"})
                continue
            if os.path.islink(path) or not os.path.isfile(path):
                skipped.append({"name": rel, "reason": "not a regular file"})
                continue
            size = os.path.getsize(path)
            cost = len(json.dumps(rel)) + 4 * ((size + 2) // 3) + 4
            if cost > budget:
                skipped.append({"name": rel, "reason": "over the answer limit (%d bytes)" % size})
                continue
            with open(path, "rb") as f:
                data = f.read(size + 1)
            if len(data) != size:
                skipped.append({"name": rel, "reason": "it changed while it was read"})
                continue
            files[rel] = base64.b64encode(data).decode("ascii")
            budget -= cost
    return files, skipped


def _answer(value, error, limit):
    """The answer frame, at most `limit` bytes: the value (or why it cannot cross), the error,
    and as many files as fit."""
    encoded = None
    if error is None:
        try:
            encoded = codec.encode(value, root="result")
        except codec.EncodeError as exc:
            error = {"type": "UnencodableResult", "message": _clean(exc), "traceback": ""}
    body = {"value": encoded, "error": error, "files": {}, "files_skipped": []}
    head = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(head) > limit:
        size = len(head)
        body = {
            "value": None,
            "error": {
                "type": "AnswerTooLarge",
                "message": "the result takes %d bytes encoded, over the answer limit of %d bytes" % (size, limit),
                "traceback": "",
            },
            "files": {},
            "files_skipped": [],
        }
        head = json.dumps(body, separators=(",", ":")).encode("utf-8")
    files, skipped = _collect_files(limit - len(head) - 1024)
    body["files"], body["files_skipped"] = files, skipped
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(b"SK", 1, _KIND_ANSWER, len(payload), 0) + payload


def _packages_dir():
    """With the egress proxy, packages installed at run time (pip, PIP_TARGET) go to
    /tmp/packages, last on sys.path: make it exist before the code runs, so the import system
    looks in it rather than remembering it missing."""
    if _PACKAGES in sys.path:
        try:
            os.makedirs(_PACKAGES, exist_ok=True)
        except OSError:
            return
        sys.path_importer_cache.pop(_PACKAGES, None)


def _run(request, namespace, call_main, keep_result=False):
    """Run one request in `namespace`; return (answer frame, exit code)."""
    value, error, code = None, None, 0
    try:
        _packages_dir()
        os.environ.update(request.get("env") or {})
        _place_files(request["files"])
        inputs = {name: codec.decode(obj) for name, obj in request["inputs"].items()}
        if not keep_result:
            namespace.pop("result", None)
        namespace.update(inputs)
        for name in request.get("functions") or ():
            namespace[name] = _host_function(name)
        value = _execute(request["code"], request["filename"], namespace, inputs, call_main, request.get("shape"))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            error = {"type": "SystemExit", "message": _clean(exc.code), "traceback": ""}
    except BaseException as exc:  # the code's own exception is the run's result
        error = _error(exc)
        sys.stderr.write(error["traceback"])
        code = 1
    _flush()
    return _answer(value, error, int(request["answer_limit"])), code


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _main_module(filename):
    main = type(sys)("__main__")
    main.__file__ = filename
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    return main.__dict__


def _finish(frame, code):
    """Answer, then end as a script would: non-daemon threads joined, atexit handlers run, output
    flushed — but never the answer rewritten after it was sent."""
    _write_all(_ANSWER_FD, frame)
    os.close(_ANSWER_FD)
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:
            pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    _flush()
    sys.audit("stockade.flush")  # the guard's counts of repeated records, before the exit
    os._exit(code)


def _one_run():
    """fds 0-5 are this run's: read the request, run it as __main__, answer, exit."""
    request = _read_request(_REQUEST_FD)
    os.close(_REQUEST_FD)
    sys.argv[:] = [request["filename"]]
    # The run's own files (in the scratch, its working directory) are importable.
    sys.path[0] = _SCRATCH
    frame, code = _run(request, _main_module(request["filename"]), call_main=True)
    _finish(frame, code)


_WARM_CODE = "x = [i * i for i in range(n)]\n{'x': x, 'n': n}"
_WARM = {"code": _WARM_CODE, "inputs": {"n": 8}, "files": {}, "filename": "/sandbox/warm-up.py",
         "answer_limit": 1 << 20,
         "shape": {"final_expression": [_WARM_CODE.index("{"), len(_WARM_CODE)], "refers_to_main": False}}


def _warm():
    """Take a made-up request through a run's whole path (decode, compile, exec, encode), so the
    interpreter's lazily built state (the AST types, json's caches, specialised bytecode) exists
    before the zygote forks, not once per run."""
    main = sys.modules.get("__main__")
    _run(_WARM, _main_module(_WARM["filename"]), call_main=True)
    sys.modules["__main__"] = main
    import linecache

    linecache.cache.pop(_WARM["filename"], None)


def _reseed():
    """Every run starts from the same state, but not the same random numbers."""
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()
    nprandom = sys.modules.get("numpy.random")
    if nprandom is not None:
        try:
            nprandom.seed()
        except Exception:
            pass


def _pool():
    import gc

    import _stockade_jail

    warnings = []
    preload = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else []
    for name in preload:
        try:
            __import__(name)
        except BaseException as exc:
            warnings.append("preload %s: %s: %s" % (name, type(exc).__name__, exc))
    for _ in range(10):
        _warm()
    gc.collect()
    gc.freeze()
    # Returns only in a run's process (the native loop forks it into its own namespaces).
    _stockade_jail.serve(sys.version, "\n".join(warnings))
    # The run's environment is a cold run's: the zygote's own switches go.
    for name in ("STOCKADE_NONDUMPABLE", "STOCKADE_RUNNER_MODULE"):
        os.environ.pop(name, None)
    _reseed()
    _stockade_jail.await_run()
    _one_run()


def _session():
    import _stockade_jail

    namespace = _main_module("/sandbox/session.py")
    sys.path[0] = _SCRATCH
    _stockade_jail.session_ready(sys.version)
    while True:
        nonce = _stockade_jail.next_cell()
        if nonce is None:
            return
        request = _read_request(_REQUEST_FD)
        os.close(_REQUEST_FD)
        frame, code = _run(request, namespace, call_main=False)
        sys.audit("stockade.flush")  # this cell's counts of repeated guard records
        _write_all(_ANSWER_FD, frame)
        _stockade_jail.cell_done(nonce, code)


if __name__ == "__main__":
    _mode = sys.argv[1] if len(sys.argv) > 1 else "api"
    if _mode == "pool":
        _pool()
    elif _mode == "session":
        _session()
    else:
        _one_run()
