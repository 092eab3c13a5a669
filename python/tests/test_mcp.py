"""`stockade mcp` driven end to end by the official MCP Python SDK (pinned, from PyPI), over
stdio and streamable HTTP: the tools, sessions, hostile code, bad arguments, authentication.

The SDK lives in its own venv (target/test-venv-mcp); each test runs a small client script
there and reads its JSON report.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STOCKADE_BIN") or os.path.join(REPO, "target", "debug", "stockade")
PY = "/usr/bin/python3.11"
MCP_VERSION = "2.3.0"


@pytest.fixture(scope="module")
def mcp_python():
    venv = os.path.join(REPO, "target", "test-venv-mcp")
    marker = os.path.join(venv, f".mcp-{MCP_VERSION}")
    if not os.path.exists(marker):
        subprocess.run([PY, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", f"mcp=={MCP_VERSION}"], check=True)
        open(marker, "w").close()
    return os.path.join(venv, "bin", "python")


PRELUDE = textwrap.dedent("""
    import asyncio, json, sys
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client, create_mcp_http_client
    out = {}
    def report(res):
        return {"is_error": res.is_error, "text": res.content[0].text if res.content else "",
                "structured": res.structured_content}
""")


def client(mcp_python, body, tail="", timeout=180):
    """Run `body` (an async function `work(s)` given a ClientSession) then `tail` (which connects
    and calls it) in the SDK's venv; return its `out` dict."""
    script = PRELUDE + textwrap.dedent(body) + textwrap.dedent(tail)
    proc = subprocess.run([mcp_python, "-c", script], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


STDIO = f"""
async def main():
    params = StdioServerParameters(command={BIN!r}, args=["mcp", "--python", {PY!r}, "--pool-size", "1"])
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            await work(s)
    print(json.dumps(out))
asyncio.run(main())
"""


def test_stdio_tools_run_code_and_keep_sessions(mcp_python):
    out = client(mcp_python, """
        async def work(s):
            out["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
            out["run"] = report(await s.call_tool("run_python", {
                "code": "import json\\nprint(open('data.txt').read())\\nresult = {'n': n * 2, 'big': 2**70}",
                "inputs": {"n": 21}, "files": {"data.txt": "from a file"}}))
            sid = (await s.call_tool("open_session", {})).structured_content["session_id"]
            await s.call_tool("run_in_session", {"session_id": sid, "code": "import math\\nr = math.pi"})
            out["again"] = report(await s.call_tool("run_in_session", {"session_id": sid, "code": "round(r, 3)"}))
            out["closed"] = report(await s.call_tool("close_session", {"session_id": sid}))
            out["gone"] = report(await s.call_tool("run_in_session", {"session_id": sid, "code": "1"}))
    """, STDIO)
    assert out["tools"] == ["close_session", "open_session", "run_in_session", "run_python"]
    run = out["run"]
    assert run["is_error"] is False
    assert run["structured"]["schema"] == "stockade.run/2" and run["structured"]["status"] == "ok"
    assert run["structured"]["answer"]["value"] == {"n": 42, "big": {"$int": "1180591620717411303424"}}
    assert "from a file" in run["text"] and "status: ok" in run["text"]
    assert out["again"]["structured"]["answer"]["value"] == 3.142
    assert out["closed"]["structured"]["closed"].startswith("s_")
    assert out["gone"]["is_error"] is True and "no open session" in out["gone"]["text"]


def test_hostile_code_and_bad_arguments_get_clear_errors(mcp_python):
    out = client(mcp_python, """
        async def work(s):
            out["shadow"] = report(await s.call_tool("run_python", {"code": "print(open('/etc/shadow').read())"}))
            out["loop"] = report(await s.call_tool("run_python", {"code": "while True: pass", "timeout_ms": 500}))
            out["bomb"] = report(await s.call_tool("run_python", {"code": "x = bytearray(10**10)"}))
            out["bad_name"] = report(await s.call_tool("run_python", {"code": "1", "inputs": {"1bad": 1}}))
            out["bad_file"] = report(await s.call_tool("run_python", {"code": "1", "files": {"../x": "y"}}))
            out["unknown"] = report(await s.call_tool("run_python", {"code": "1", "timout_ms": 5}))
            out["after"] = report(await s.call_tool("run_python", {"code": "6 * 7"}))
    """, STDIO)
    assert out["shadow"]["is_error"] and "PolicyViolation" in out["shadow"]["text"]
    assert out["loop"]["is_error"] and out["loop"]["structured"]["status"] == "timeout"
    assert out["bomb"]["is_error"] and out["bomb"]["structured"]["status"] in ("memory_limit", "error")
    # What the caller can fix comes back as the tool's error, for the model to read (a typo in
    # an argument's name too: it is refused, not ignored).
    for k in ("bad_name", "bad_file", "unknown"):
        assert out[k]["is_error"] and out[k]["structured"] is None, (k, out[k])
    assert "unknown field `timout_ms`" in out["unknown"]["text"]
    assert "1bad" in out["bad_name"]["text"] and "../x" in out["bad_file"]["text"]
    # The server is unharmed.
    assert out["after"]["structured"]["answer"]["value"] == 42


def test_sessions_are_per_connection_and_capped(mcp_python):
    out = client(mcp_python, f"""
        async def work(s):
            ids = []
            for _ in range(4):
                ids.append((await s.call_tool("open_session", {{}})).structured_content["session_id"])
            out["fifth"] = report(await s.call_tool("open_session", {{}}))
            out["ids"] = ids
            # A second connection cannot use the first one's session.
            params = StdioServerParameters(command={BIN!r}, args=["mcp", "--python", {PY!r}])
            async with stdio_client(params) as (r, w):
                async with ClientSession(r, w) as other:
                    await other.initialize()
                    out["stranger"] = report(await other.call_tool("run_in_session", {{"session_id": ids[0], "code": "1"}}))
    """, STDIO)
    assert len(set(out["ids"])) == 4
    assert out["fifth"]["is_error"] and "limit" in out["fifth"]["text"]
    assert out["stranger"]["is_error"] and "no open session" in out["stranger"]["text"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server():
    port = _free_port()
    token = os.urandom(16).hex()
    env = dict(os.environ, STOCKADE_MCP_TOKEN=token)
    proc = subprocess.Popen([BIN, "mcp", "--transport", "http", "--listen", f"127.0.0.1:{port}", "--python", PY,
                             "--pool-size", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp", token
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def test_streamable_http_with_a_token(mcp_python, http_server):
    url, token = http_server
    out = client(mcp_python, f"""
        async def session(headers):
            async with create_mcp_http_client(headers=headers) as http:
                async with streamable_http_client({url!r}, http_client=http) as (r, w, *_):
                    async with ClientSession(r, w) as s:
                        await s.initialize()
                        return report(await s.call_tool("run_python", {{"code": "sum(range(10))"}}))
        async def main():
            out["ok"] = await session({{"Authorization": "Bearer {token}"}})
            for name, headers in [("none", {{}}), ("wrong", {{"Authorization": "Bearer nope"}}),
                                  ("prefix", {{"Authorization": "Bearer {token[:-1]}"}})]:
                try:
                    await session(headers)
                    out[name] = "connected"
                except BaseException as e:
                    out[name] = "refused"
            print(json.dumps(out))
        asyncio.run(main())
    """)
    assert out["ok"]["structured"]["answer"]["value"] == 45
    assert out["none"] == out["wrong"] == out["prefix"] == "refused"
    # The refusal is a 401 at the HTTP layer, before any MCP message is read.
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401
    # A body over the cap is refused before it is read, even with the right token.
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as c:
        c.sendall((f"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {17 << 20}\r\n\r\n").encode() + b"{")
        assert c.recv(100).startswith(b"HTTP/1.1 413"), "a 17 MiB body must be refused before it is read"


def test_http_refuses_to_listen_off_loopback_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "STOCKADE_MCP_TOKEN"}
    proc = subprocess.run([BIN, "mcp", "--transport", "http", "--listen", "0.0.0.0:0", "--python", PY],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "without a token" in proc.stderr
