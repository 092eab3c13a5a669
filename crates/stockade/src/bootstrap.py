# stockade's bootstrap for `stockade exec` (the Python API's stockade.run): runs inside the jail,
# binds the inputs as variables, runs the code, and returns what it produced on the report
# channel (fd 3) as one JSON line. Values cross as JSON only: nothing that executes on load.
import json
import os
import sys
import traceback

_REPORT_FD = 3


def _emit(record):
    data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(_REPORT_FD, view):]


def _hide_host_paths(text):
    # The interpreter's own paths are host paths; the code's are /sandbox and /tmp already.
    for prefix in sorted({sys.prefix, sys.base_prefix, sys.exec_prefix}, key=len, reverse=True):
        if prefix and prefix != "/":
            text = text.replace(prefix, "<python>")
    return text


def _error(exc):
    return {
        "type": type(exc).__name__,
        "message": _hide_host_paths(str(exc)),
        "traceback": _hide_host_paths("".join(traceback.format_exception(exc))),
    }


def _collect_files(limit):
    import base64

    files, total, truncated = {}, 0, False
    root = "out"
    if not os.path.isdir(root):
        return files, truncated
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            size = os.path.getsize(path)
            if total + size > limit:
                truncated = True
                continue
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = base64.b64encode(f.read()).decode()
            total += size
    return files, truncated


def _main():
    with open("/sandbox/request.json") as f:
        request = json.load(f)
    inputs = request.get("inputs") or {}
    namespace = {"__name__": "__main__", "__file__": "/sandbox/main.py", "__builtins__": __builtins__}
    namespace.update(inputs)
    record = {"type": "result", "ok": True, "value": None, "error": None, "files": {}, "files_truncated": False}
    exit_code = 0
    try:
        with open("/sandbox/main.py") as f:
            code = compile(f.read(), "/sandbox/main.py", "exec")
        exec(code, namespace)
        if "result" in namespace and namespace["result"] is not inputs.get("result", object()):
            value = namespace["result"]
        elif callable(namespace.get("main")):
            value = namespace["main"](**inputs)
        else:
            value = None
        try:
            json.dumps(value)
            record["value"] = value
        except (TypeError, ValueError) as exc:
            record["ok"] = False
            record["error"] = {
                "type": "UnencodableResult",
                "message": f"the result is a {type(value).__name__}, which cannot be encoded as JSON ({exc})",
                "traceback": "",
            }
            exit_code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code != 0:
            record["ok"] = False
            record["error"] = {"type": "SystemExit", "message": str(exc.code), "traceback": ""}
        exit_code = code
    except BaseException as exc:  # the code's failure is a result, not the bootstrap's
        record["ok"] = False
        record["error"] = _error(exc)
        traceback.print_exception(exc)
        exit_code = 1
    try:
        record["files"], record["files_truncated"] = _collect_files(int(request.get("files_limit", 1 << 20)))
    except OSError as exc:
        record["files_error"] = str(exc)
    _emit(record)
    sys.stdout.flush()
    os._exit(exit_code)


_main()
