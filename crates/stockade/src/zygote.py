# stockade's runner inside the jail. Modes: "exec" runs the one request in /sandbox/request.json
# (stockade.run); "pool" serves runs inside one long-lived jail (stockade.Pool); "session" runs
# cells in one persistent interpreter (stockade.Session).
#
# It never runs user code itself. For each request (one JSON line on stdin) it forks a child
# that runs the code with the inputs bound and reports on its own pipes; the zygote enforces the
# run's wall time and output limits, then kills every process the run left behind and empties
# the scratch directory, so nothing of one run is visible to the next. The response is one JSON
# line on stdout. The jail (namespaces, seccomp, Landlock, cgroup, rlimits, guard) is shared by
# the zygote and its runs; the guard lets only this file fork and signal.
import base64
import json
import os
import resource  # a run's usage; imported here so no run pays for loading the extension
import select
import sys
import time
import traceback

_CONF = json.load(open("/sandbox/zygote.json"))
_SCRATCH = "/tmp"


def _line(record):
    """One answer line. It starts with a newline too: a run can write to the answer pipe, and a
    partial line it left there would otherwise swallow this one (the caller skips empty and
    malformed lines)."""
    return ("\n" + json.dumps(record, separators=(",", ":")) + "\n").encode()


def _send(record):
    data = _line(record)
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


_MAX_DEPTH = 100  # nesting of a result; JSON readers on the way (serde: 128) stop not far above


class _Unencodable(Exception):
    pass


def _check_encodable(value):
    """Raise _Unencodable unless `value` is strict JSON (no NaN or infinities) nested at most
    _MAX_DEPTH deep."""
    try:
        json.dumps(value, allow_nan=False)
    except RecursionError:
        raise _Unencodable(f"the result is nested deeper than {_MAX_DEPTH} levels") from None
    except (TypeError, ValueError) as exc:
        raise _Unencodable(f"the result is a {type(value).__name__}, which cannot be encoded as JSON ({exc})") from None
    # Encodable, so free of cycles: walk the containers (scalars cost one isinstance each).
    stack = [(value, 1)] if isinstance(value, (list, tuple, dict)) else []
    while stack:
        container, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _Unencodable(f"the result is nested deeper than {_MAX_DEPTH} levels")
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, (list, tuple, dict)):
                stack.append((item, depth + 1))


def _unencodable(exc):
    return {"type": "UnencodableResult", "message": str(exc), "traceback": ""}


def _hide_host_paths(text):
    for prefix in sorted({sys.prefix, sys.base_prefix, sys.exec_prefix}, key=len, reverse=True):
        if prefix and prefix != "/":
            text = text.replace(prefix, "<python>")
    return text


def _format_user_traceback(exc):
    # Drop this file's own frames: the run's traceback starts in the run's code.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return _hide_host_paths("".join(traceback.format_exception(type(exc), exc, tb)))


def _session():
    """Session mode: cells share one namespace, in this process; one request, one response."""
    import io

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    cap = int(_CONF["limits"]["output"])
    _send({"type": "ready", "pid": os.getpid(), "mode": "session", "timeout": float(_CONF["limits"]["timeout"])})
    count = 0
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        request = json.loads(line)
        count += 1
        out, err = io.StringIO(), io.StringIO()
        real = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        record = {"type": "run", "id": request.get("id"), "status": "ok", "exit_code": 0, "signal": None, "reason": None}
        payload = {"type": "result", "ok": True, "value": None, "error": None, "files": {}}
        start = time.monotonic()
        try:
            namespace.update(request.get("inputs") or {})
            namespace.pop("result", None)
            exec(compile(request["code"], f"/sandbox/cell-{count}.py", "exec"), namespace)
            value = namespace.get("result")
            _check_encodable(value)
            payload["value"] = value
        except _Unencodable as exc:
            payload["ok"] = False
            payload["error"] = _unencodable(exc)
            record["status"], record["exit_code"] = "error", 1
        except BaseException as exc:
            payload["ok"] = False
            payload["error"] = {"type": type(exc).__name__, "message": _hide_host_paths(str(exc)),
                                "traceback": _format_user_traceback(exc)}
            record["status"], record["exit_code"] = "error", 1
        finally:
            sys.stdout, sys.stderr = real
        record["stdout"], record["stderr"] = out.getvalue()[:cap], err.getvalue()[:cap]
        record["stdout_truncated"] = len(out.getvalue()) > cap
        record["stderr_truncated"] = len(err.getvalue()) > cap
        record["usage"] = {"wall_ms": int((time.monotonic() - start) * 1000)}
        record["violations"] = []
        record["result"] = payload
        _send(record)


def _child(request):
    """Exec mode: run the request in this process and report on fd 3."""
    record, exit_code = _child_result(request)
    _write_all(3, (json.dumps(record, separators=(",", ":")) + "\n").encode())
    os._exit(exit_code)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child_result(request):
    """Place files, bind inputs, run the code; return (result record, exit code)."""
    record = {"type": "result", "ok": True, "value": None, "error": None, "files": {}, "files_truncated": False}
    exit_code = 0
    inputs = request.get("inputs") or {}
    try:
        for name, data in (request.get("files") or {}).items():
            path = os.path.join(_SCRATCH, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))
        main_module = type(sys)("__main__")
        main_module.__file__ = "/sandbox/main.py"
        sys.modules["__main__"] = main_module
        namespace = main_module.__dict__
        namespace.update(inputs)
        code = compile(request["code"], "/sandbox/main.py", "exec")
        exec(code, namespace)
        if "result" in namespace and namespace["result"] is not inputs.get("result", object()):
            value = namespace["result"]
        elif callable(namespace.get("main")):
            value = namespace["main"](**inputs)
        else:
            value = None
        try:
            _check_encodable(value)
            record["value"] = value
        except _Unencodable as exc:
            record["ok"] = False
            record["error"] = _unencodable(exc)
            exit_code = 1
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exit_code:
            record["ok"] = False
            record["error"] = {"type": "SystemExit", "message": str(exc.code), "traceback": ""}
    except BaseException as exc:
        record["ok"] = False
        text = _format_user_traceback(exc)
        record["error"] = {"type": type(exc).__name__, "message": _hide_host_paths(str(exc)), "traceback": text}
        sys.stderr.write(text)
        exit_code = 1
    try:
        files, total, limit = {}, 0, int(_CONF.get("files_limit", 1 << 20))
        out_dir = os.path.join(_SCRATCH, "out")
        for dirpath, _dirs, names in os.walk(out_dir):
            for name in sorted(names):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                size = os.path.getsize(path)
                if total + size > limit:
                    record["files_truncated"] = True
                    continue
                with open(path, "rb") as f:
                    files[os.path.relpath(path, out_dir)] = base64.b64encode(f.read()).decode()
                total += size
        record["files"] = files
    except OSError as exc:
        record["files_error"] = str(exc)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    return record, exit_code


def _wipe_scratch():
    """Empty the scratch. Never raises: a run may leave anything (mode-000 directories, links to
    read-only paths, fifos); whatever cannot be removed is reported, not fatal."""
    import shutil
    import stat

    def remove(path):
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass
            try:
                names = os.listdir(path)
            except OSError:
                names = []
            for name in names:
                remove(os.path.join(path, name))
            try:
                os.rmdir(path)
            except OSError:
                pass
        else:
            try:
                os.unlink(path)
            except OSError:
                pass

    try:
        names = os.listdir(_SCRATCH)
    except OSError:
        return
    for name in names:
        remove(os.path.join(_SCRATCH, name))


_WARM_REQUEST = '{"code": "x = [i * i for i in range(n)]\\nresult = {\'x\': x}", "inputs": {"n": 8}, "files": {}}'


def _warm(spare):
    """Take a made-up request through a run's whole path (decode, compile, exec, encode the
    result and the answer), so that the pages a run writes are copied (copy-on-write faults,
    ~10 us each on a busy VM) before a request arrives rather than while the caller waits. In
    the zygote it runs a few times first: the interpreter specialises the bytecode it runs
    repeatedly, so the runs do not rewrite those code objects either."""
    main = sys.modules.get("__main__")
    record, _ = _child_result(json.loads(_WARM_REQUEST))
    sys.modules["__main__"] = main
    json.dumps(record, separators=(",", ":"))
    resource.getrusage(resource.RUSAGE_SELF)
    if spare:
        # The print path too; then the run's stdout memfd is emptied again.
        print(0)
        sys.stdout.flush()
        json.dumps(_response("0", "ok", None, 0, None, {}, (1, 2, 3), record, []), separators=(",", ":"))
        os.ftruncate(1, 0)
        os.lseek(1, 0, os.SEEK_SET)


# ----- Pool mode -----------------------------------------------------------------------------
#
# The zygote never holds a run's data. The request is read from stdin by the run's own process
# (a pre-forked, pre-warmed spare); its stdout, stderr and reports go to memfds that the zygote
# only measures (fstat), never reads; the run writes its response itself, or, if it was killed,
# a reporter forked from the zygote (holding no run data either) reads the memfds and answers.
# So a later run, even one able to read its own memory, finds nothing of an earlier run.
#
# Frame: "<nonce> <length> <timeout>", space-padded to 63 bytes, "\n", then <length> bytes of
# JSON; response: one JSON line carrying the nonce.
_HEADER = 64


def _read_header():
    line = _read_exact(0, _HEADER)
    if len(line) != _HEADER or not line.endswith(b"\n"):
        return None
    return line


def _read_exact(fd, n):
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _report_lines(fd, limit=64 << 20, payload=None):
    """The run's result record and its guard events from the report memfd. A run that answers
    itself passes its own record as `payload`, which is then not decoded again."""
    known, violations = payload is not None, {}
    for line in _pread_all(fd, limit).splitlines():
        if known and line.startswith(b'{"type":"result"'):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("type") == "result" and not known:
            payload = record
        elif record.get("type") == "event" and record.get("decision") in ("denied", "audited"):
            key = (record.get("event"), record.get("rule"), json.dumps(record.get("args")))
            if key in violations:
                violations[key]["count"] += 1
            elif len(violations) < 200:
                violations[key] = {k: record.get(k) for k in ("event", "rule", "reason", "decision", "args")}
                violations[key]["count"] = 1
    return payload, list(violations.values())


def _pread_all(fd, limit):
    """Up to `limit` bytes of a memfd, sized by fstat (a read of `limit` bytes would allocate that
    much for every run)."""
    return os.pread(fd, min(os.fstat(fd).st_size, limit), 0)


def _response(nonce, status, reason, exit_code, signal, usage, fds, payload=None, violations=None):
    cap = int(_CONF["limits"]["output"])
    out = _pread_all(fds[0], cap + 1)
    err = _pread_all(fds[1], cap + 1)
    if payload is None and violations is None:
        payload, violations = _report_lines(fds[2])
    return {
        "type": "run",
        "id": nonce,
        "nonce": nonce,
        "schema": "stockade.run/1",
        "status": status,
        "reason": reason,
        "exit_code": exit_code,
        "signal": signal,
        "stdout": out[:cap].decode(errors="replace"),
        "stderr": err[:cap].decode(errors="replace"),
        "stdout_truncated": len(out) > cap,
        "stderr_truncated": len(err) > cap,
        "usage": usage,
        "violations": violations or [],
        "result": payload,
    }


def _spare_main(ctrl_w, out_fd):
    """The run's process: warm up, read one request from stdin, run it, answer on `out_fd`."""
    null = os.open("/dev/null", os.O_RDONLY)
    if not select.select([0], [], [], 0)[0]:
        _warm(spare=True)  # only while nobody waits: a queued request would wait for it
    header = _read_header()
    if header is None:
        os.write(ctrl_w, b"eof\n")
        os._exit(0)
    received = time.perf_counter()
    nonce, length, timeout = header.split()
    body = _read_exact(0, int(length))
    if len(body) != int(length):
        os.write(ctrl_w, b"eof\n")
        os._exit(0)
    os.write(ctrl_w, b"start " + timeout + b" " + nonce + b"\n")
    os.dup2(null, 0)
    start = time.monotonic()
    request = json.loads(body)
    del body
    record, exit_code = _child_result(request)
    del request
    # Also on the report memfd: if this process is stopped before it answers, the reporter
    # forked by the zygote answers from there.
    _write_all(3, (json.dumps(record, separators=(",", ":")) + "\n").encode())
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {
        "wall_ms": int((time.monotonic() - start) * 1000),
        "user_cpu_ms": int((usage_self.ru_utime + usage_kids.ru_utime) * 1000),
        "sys_cpu_ms": int((usage_self.ru_stime + usage_kids.ru_stime) * 1000),
        "peak_memory_kib": max(usage_self.ru_maxrss, usage_kids.ru_maxrss),
    }
    payload, violations = _report_lines(3, payload=record)
    status = "ok" if exit_code == 0 else "error"
    response = _response(nonce.decode(), status, None, exit_code, None, usage, (1, 2, 3), payload, violations)
    # From the request's first byte to the answer, in this process: the caller's round trip
    # minus this is the transport (pipes, the launcher, the caller's own code).
    usage["serve_us"] = int((time.perf_counter() - received) * 1e6)
    if response["stdout_truncated"] or response["stderr_truncated"]:
        # Over the cap: the zygote stops the run for that and answers.
        os._exit(exit_code)
    try:
        _write_all(out_fd, _line(response))
        os.write(ctrl_w, b"done\n")
    except OSError:
        pass
    os._exit(exit_code)


def _fork_spare():
    memfds = [os.memfd_create(name) for name in ("stdout", "stderr", "report")]
    ctrl_r, ctrl_w = os.pipe()
    for name in ("stdout", "stderr"):
        getattr(sys, name).flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ctrl_r)
            out_fd = os.dup(1)
            for fd, target in zip(memfds, (1, 2, 3)):
                os.dup2(fd, target)
            for fd in memfds:
                if fd > 3:
                    os.close(fd)
            _spare_main(ctrl_w, out_fd)
        finally:
            os._exit(125)
    os.close(ctrl_w)
    return pid, ctrl_r, memfds


_spare = None


def _read_ctrl(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 256)
        if not chunk:
            return None
        data += chunk
    return data


def _supervise(pid, ctrl_r, memfds, timeout, nonce, already_done=False):
    """Wait for the run; enforce its wall time and output cap; make sure it is answered."""
    limits = _CONF["limits"]
    cap = int(limits["output"])
    start = time.monotonic()
    status, reason, responded, exited = None, None, False, None
    if already_done:
        responded = True
        _, wait_status, usage = os.wait4(pid, 0)
        exited = (wait_status, usage)
    while exited is None:
        left = start + timeout - time.monotonic()
        if left <= 0:
            status, reason = "timeout", f"wall-clock limit of {timeout:g} s reached"
            break
        ready, _, _ = select.select([ctrl_r], [], [], min(left, 0.01))
        if ready and b"done" in os.read(ctrl_r, 256):
            # Answered: the process only has os._exit left to do.
            responded = True
            _, wait_status, usage = os.wait4(pid, 0)
            exited = (wait_status, usage)
            break
        done, wait_status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            exited = (wait_status, usage)
            break
        if any(os.fstat(fd).st_size > cap for fd in memfds[:2]):
            status, reason = "output_limit", f"output limit of {cap} bytes per stream exceeded"
            break
    if exited is None:
        os.kill(pid, 9)
        _, wait_status, usage = os.wait4(pid, 0)
    else:
        wait_status, usage = exited
        # A "done" written just before exiting may still be in the pipe.
        ready, _, _ = select.select([ctrl_r], [], [], 0)
        if ready and b"done" in os.read(ctrl_r, 256):
            responded = True
    if responded and status is None:
        return
    exit_code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None
    signal = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    if status is None:
        if signal == 24 or (signal == 9 and usage.ru_utime + usage.ru_stime >= limits["cpu"]):
            status, reason = "cpu_limit", f"CPU-time limit of {limits['cpu']:g} s reached"
        elif signal == 9 and usage.ru_maxrss * 1024 >= 0.9 * limits["memory"]:
            status, reason = "memory_limit", "memory limit reached (OOM kill)"
        elif signal is not None:
            status = "killed"
        elif any(os.fstat(fd).st_size > cap for fd in memfds[:2]):
            status, reason = "output_limit", f"output limit of {cap} bytes per stream exceeded"
        elif exit_code == 0:
            status = "ok"
        else:
            status = "error"
    if signal is None and exit_code is None:
        signal = 9
    run_usage = {
        "wall_ms": int((time.monotonic() - start) * 1000),
        "user_cpu_ms": int(usage.ru_utime * 1000),
        "sys_cpu_ms": int(usage.ru_stime * 1000),
        "peak_memory_kib": usage.ru_maxrss,
    }
    # The run's output is read by a process forked for that, never by the zygote itself.
    reporter = os.fork()
    if reporter == 0:
        try:
            response = _response(nonce, status, reason, exit_code, signal, run_usage, memfds)
            _write_all(1, _line(response))
        finally:
            os._exit(0)
    os.waitpid(reporter, 0)


def _reset():
    """Nothing of a run may reach the next: kill every other process in the jail (all of them
    belong to the run; init and this zygote are exempt from kill(-1)), wait until they are gone
    (a dying process can still finish a write) and empty the scratch. The next run's process is
    forked afterwards from `_serve`, where no frame holds the previous run's request or response.
    If either cannot be done, this zygote ends (the worker is replaced by a new jail) rather than
    serve the next run beside what is left."""
    deadline = time.monotonic() + 2.0
    while True:
        try:
            os.kill(-1, 9)
            os.kill(-1, 0)
        except OSError:
            break  # nothing left to signal
        if time.monotonic() > deadline:
            _give_up("processes of the last run outlived SIGKILL for 2 s")
        time.sleep(0.0005)
    _wipe_scratch()
    try:
        left = os.listdir(_SCRATCH)
    except OSError:
        left = ["(unreadable)"]
    if left:
        _give_up("the scratch directory could not be emptied")


def _give_up(reason):
    _send({"type": "error", "message": f"worker retired: {reason}"})
    os._exit(1)


def _serve():
    global _spare
    import gc

    for name in _CONF.get("preload") or []:
        try:
            __import__(name)
        except BaseException as exc:
            _send({"type": "warning", "message": f"preload {name}: {type(exc).__name__}: {exc}"})
    # The warm-up here too: the first compile() of a process builds the interpreter's ~120 AST
    # types (a third of a spare's CPU when each spare paid for it); json's and the code objects'
    # caches are created and the bytecode specialised once, shared by every run.
    for _ in range(10):
        _warm(spare=False)
    # Objects of the warm interpreter are never collected in the runs: fewer pages written
    # (copied) after fork.
    gc.collect()
    gc.freeze()
    _spare = _fork_spare()
    # The wall-time limit of a run without its own: the caller waits that long (plus a grace).
    _send({"type": "ready", "pid": os.getpid(), "timeout": float(_CONF["limits"]["timeout"])})
    while True:
        pid, ctrl_r, memfds = _spare
        _spare = None
        message = _read_ctrl(ctrl_r)
        if message is None or message.startswith(b"eof"):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return
        # A fast run may already have said "done" behind its "start": one read can hold both.
        first, _, rest = message.partition(b"\n")
        _, timeout, nonce = first.split()
        timeout = float(timeout) or float(_CONF["limits"]["timeout"])
        _supervise(pid, ctrl_r, memfds, timeout, nonce.decode(), already_done=b"done" in rest)
        os.close(ctrl_r)
        for fd in memfds:
            os.close(fd)
        _reset()
        # The worker may send the next request now: nothing of the run is left to read it, and
        # the next run's process, forked from here, reads it while the caller's side travels.
        _send({"type": "idle"})
        _spare = _fork_spare()


if _CONF.get("mode") == "session":
    _session()
elif _CONF.get("mode") == "exec":
    # `stockade exec` (stockade.run): one request, run in this process.
    with open("/sandbox/request.json") as _f:
        _child(json.load(_f))
else:
    _serve()
