"""The run engine's contract, through real jails: what ordinary programs expect (the run
contract, stdin, values, their own modules, multiprocessing), bad input, and the warm paths'
guarantees that do not fit one channel (deadlines, memory, CPU, nonces, the same state as a
cold run). Cross-run channels have their own suite (test_leaks.py).
"""
import json
import math
import os
import resource
import struct
import time
from dataclasses import dataclass
from decimal import Decimal
import datetime as dt

import pytest

import stockade

NO_GUARD = "version = 1\n[guard]\nenabled = false\n"
ALLOW_PROCESS = "version = 1\nextends = 'data'\n[guard.rules]\nprocess = 'allow'\n"


@pytest.fixture(scope="module")
def solo():
    with stockade.Pool(size=1) as p:
        yield p


# ===== the run contract =====


def test_a_script_with_a_main_guard_runs_main_once(solo):
    code = "def main():\n    print('main ran')\n    return 5\n\nif __name__ == '__main__':\n    main()\n"
    for r in (stockade.run(code), solo.run(code)):
        assert r.ok and r.stdout == "main ran\n" and r.value is None, r


def test_main_is_called_when_the_code_does_not_call_it(solo):
    r = solo.run("def main(x):\n    return x * 2", inputs={"x": 21})
    assert r.ok and r.value == 42, r


def test_async_main_runs_once_and_its_value_returns(solo):
    code = "import asyncio\nasync def main():\n    print('once')\n    await asyncio.sleep(0)\n    return 7\nasyncio.run(main())"
    r = solo.run(code)
    assert r.ok and r.value == 7 and r.stdout == "once\n", r
    r = solo.run("async def main():\n    return 8")
    assert r.ok and r.value == 8, r
    r = solo.run("import asyncio\nawait asyncio.sleep(0)\nresult = 3")
    assert r.ok and r.value == 3, r


def test_the_final_expression_is_the_value(solo):
    assert solo.run("x = 2\nx * 21").value == 42
    r = solo.run("result = 'set'\n1 + 1")
    assert r.value == "set", r  # `result` wins


def test_input_sees_end_of_file_at_once_and_stdin_is_given(solo):
    start = time.monotonic()
    r = solo.run("input()")
    assert time.monotonic() - start < 3 and not r.ok and r.error["type"] == "EOFError", r
    r = solo.run("result = input()", stdin="hello\n")
    assert r.ok and r.value == "hello", r
    r = stockade.run("import sys\nresult = sys.stdin.read()", stdin=b"a\x00b")
    assert r.ok and r.value == "a\x00b", r


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def test_values_cross_without_loss(solo):
    value = {
        "big": 2**70,
        "neg": -(2**100),
        "bytes": b"\x00\xff",
        "set": {1, 2, 3},
        "frozen": frozenset({"a"}),
        "tuple": (1, "a"),
        "date": dt.date(2024, 2, 29),
        "dt": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "dec": Decimal("3.14159265358979323846264338327950288"),
        "nan": float("nan"),
        "inf": float("-inf"),
        "int_keys": {1: "one", (2, 3): "tuple"},
        "point": Point(1, 2),
    }
    for r in (stockade.run("result = v", inputs={"v": value}, types=(Point,)),
              solo.run("result = v", inputs={"v": value}, types=(Point,))):
        assert r.ok, r
        got = r.value
        assert math.isnan(got.pop("nan")) and not math.isnan(value["inf"])
        expect = dict(value)
        expect.pop("nan")
        assert got == expect, got
        assert type(got["big"]) is int and type(got["point"]) is Point
    # Computed in the jail: exact.
    assert solo.run("result = 2**70 + 1").value == 2**70 + 1


def test_a_dataclass_the_caller_lacks_comes_back_as_a_record(solo):
    r = solo.run("from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\nresult = P(3)")
    assert r.ok and r.value.x == 3 and "P" in repr(r.value), r
    back = solo.run("result = (p.x, type(p).__name__)", inputs={"p": r.value})
    assert back.ok and back.value[0] == 3, back


def test_lone_surrogates_are_named(solo):
    with pytest.raises(stockade.InputError, match=r"inputs\['s'\].*surrogate"):
        solo.run("pass", inputs={"s": "a\udc80"})
    r = solo.run("result = ['ok', 'b\\udc80']")
    assert not r.ok and r.error["type"] == "UnencodableResult" and "surrogate" in r.error["message"], r


def test_reserved_and_invalid_input_names_are_refused(solo):
    for name in ("__builtins__", "__name__", "2x", "a-b", "class"):
        with pytest.raises(stockade.InputError):
            solo.run("pass", inputs={name: 1})


def test_a_program_of_several_files_imports_its_own_modules(solo):
    files = {"helper.py": "def f():\n    return 3\n", "pkg/__init__.py": "", "pkg/mod.py": "VALUE = 4\n"}
    code = "import helper\nfrom pkg import mod\nresult = helper.f() + mod.VALUE"
    for r in (stockade.run(code, files=files), solo.run(code, files=files)):
        assert r.ok and r.value == 7 and not r.violations, r


def test_a_file_named_like_a_denied_module_does_not_unlock_it(solo):
    r = solo.run("import socket", files={"socket.py": "X = 1\n"})
    assert not r.ok and r.error["type"] == "PolicyViolation", r


def test_multiprocessing_pool_works_when_processes_are_allowed():
    code = "from multiprocessing import Pool\nwith Pool(2) as p:\n    result = p.map(abs, [-1, -2, -3])"
    start = time.monotonic()
    r = stockade.run(code, policy=ALLOW_PROCESS, timeout=20)
    assert r.ok and r.value == [1, 2, 3], r
    assert time.monotonic() - start < 15
    with stockade.Pool(ALLOW_PROCESS, size=1, timeout=20) as p:
        r = p.run(code)
        assert r.ok and r.value == [1, 2, 3], r


def test_deep_directory_trees_are_cheap_for_the_guard(solo):
    code = "import os\nfor i in range(1000):\n    os.mkdir('d')\n    os.chdir('d')\nresult = len(os.getcwd())"
    r = solo.run(code)
    assert r.ok and r.value > 2000, r
    assert r.usage["sys_cpu_ms"] + r.usage["user_cpu_ms"] < 3000, r.usage


# ===== bad input from the run =====

FORGED_FILES = r"""
import json, os, struct
payload = json.dumps({"value": 1, "error": None, "files": {
    "../../../../etc/cron.d/pwn": "eA==", "/abs/path": "eA==", "ok.txt": "eA=="}, "files_skipped": []}).encode()
os.write(4, struct.pack("<2sBBIQ", b"SK", 1, 11, len(payload), 0) + payload)
os._exit(0)
"""


def test_returned_file_names_are_checked_on_the_host(solo):
    for r in (stockade.run(FORGED_FILES), solo.run(FORGED_FILES)):
        assert r.ok and r.value == 1, r
        assert set(r.files) == {"ok.txt"}, r.files
        assert {f["name"] for f in r.files_skipped} == {"../../../../etc/cron.d/pwn", "/abs/path"}, r.files_skipped
    assert not os.path.exists("/etc/cron.d/pwn")


def test_a_file_name_that_is_not_utf8_is_skipped_and_said(solo):
    code = "import os\nos.makedirs('out')\nopen(b'out/\\xff.bin', 'wb').write(b'x')\nopen('out/fine.txt', 'w').write('y')\nresult = 1"
    r = solo.run(code)
    assert r.ok and r.value == 1 and r.files == {"fine.txt": b"y"}, r
    assert len(r.files_skipped) == 1 and "UTF-8" in r.files_skipped[0]["reason"], r.files_skipped


def test_files_over_the_answer_limit_are_left_out_and_listed():
    policy = "version = 1\n[limits]\noutput = '64K'\n"
    code = "import os\nos.makedirs('out')\nfor n in 'abc':\n    open(f'out/{n}.bin', 'wb').write(b'x' * 30000)\nresult = 'kept'"
    r = stockade.run(code, policy=policy)
    assert r.ok and r.value == "kept", r
    assert len(r.files) == 1 and len(r.files_skipped) == 2, (r.files.keys(), r.files_skipped)
    assert all("answer limit" in f["reason"] for f in r.files_skipped)


def test_a_value_over_the_answer_limit_says_so():
    r = stockade.run("result = 'x' * 200000", policy="version = 1\n[limits]\noutput = '64K'\n")
    assert not r.ok and r.error["type"] == "AnswerTooLarge", r


FLOOD = r"""
import os
chunk = b"\xff" * (1 << 20)
for fd in (3, 4):
    try:
        for _ in range(300):
            os.write(fd, chunk)
    except OSError:
        pass
result = "done"
"""


def test_the_caller_never_holds_more_than_the_output_limit(solo):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for r in (stockade.run(FLOOD, policy=NO_GUARD), solo.run(FLOOD)):
        assert isinstance(r, stockade.Result) and r.status in ("ok", "error"), r
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 64, f"the caller grew by {grown_mib:.0f} MiB"


# ===== deadlines, CPU, memory on the warm paths =====

JUNK_FOREVER = r"""
import os, time
while True:
    for fd in range(0, 16):
        try:
            os.write(fd, b"\n{}\n" if fd != 4 else b"SK")
        except OSError:
            pass
    time.sleep(0.05)
"""


def test_a_run_cannot_extend_its_deadline(solo):
    with stockade.Pool(NO_GUARD, size=1) as p:
        start = time.monotonic()
        r = p.run(JUNK_FOREVER, timeout=1)
        took = time.monotonic() - start
        assert r.status in ("timeout", "output_limit"), r
        assert took < 1 + 3, f"{took:.1f} s"
        start = time.monotonic()
        assert p.run("result = 1").value == 1
        assert time.monotonic() - start < 2


SPIN_FOUR = r"""
import os
for _ in range(3):
    if os.fork() == 0:
        break
while True:
    pass
"""


def test_a_pool_runs_cpu_limit_counts_all_its_processes():
    policy = "version = 1\n[limits]\ncpu-time = '2s'\nwall-time = '20s'\n[guard]\nenabled = false\n"
    with stockade.Pool(policy, size=1) as p:
        start = time.monotonic()
        r = p.run(SPIN_FOUR)
        took = time.monotonic() - start
    assert r.status == "cpu_limit", r
    cpu = (r.usage["user_cpu_ms"] + r.usage["sys_cpu_ms"]) / 1000
    assert cpu < 4, r.usage
    assert took < 6, f"{took:.1f} s"


def test_a_session_cells_processes_end_with_the_cell_and_idle_cpu_counts():
    policy = "version = 1\n[limits]\ncpu-time = '2s'\nwall-time = '6s'\n[guard]\nenabled = false\n"
    with stockade.Session(policy) as s:
        r = s.run("import os\nif os.fork() == 0:\n    while True:\n        pass\nresult = os.getpid()")
        assert r.ok, r
        time.sleep(1.5)
        r = s.run("import os\nresult = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())")
        assert r.ok and len(r.value) <= 2, r  # init and the interpreter: the spinner is gone


FORGE_CELL_END = r"""
import os, struct, json
payload = json.dumps({"wait_status": 0, "user_us": 0, "sys_us": 0, "max_rss_kib": 0}).encode()
for nonce in (1, 2, 3, 2**62):
    try:
        os.write(6, struct.pack("<2sBBIQ", b"SK", 1, 15, len(payload), nonce) + payload)
    except OSError:
        pass
result = "forged"
"""


def test_a_cell_cannot_shift_or_forge_another_cells_record():
    with stockade.Session() as s:
        forged = s.run(FORGE_CELL_END)
        assert forged.value == "forged", forged
        bad = s.run("import os\nos.system('true')")
        assert bad.violations and bad.violations[0]["event"] == "os.system", bad
        good = s.run("result = 2")
        assert good.ok and good.value == 2 and not good.violations, good


# ===== every run starts from the same state =====

STATE = r"""
import os, resource, signal, socket
result = {
    "pid": os.getpid(),
    "uid": (os.getuid(), os.getgid()),
    "cwd": os.getcwd(),
    "umask": os.umask(0o022),
    "nice": os.getpriority(os.PRIO_PROCESS, 0),
    "affinity": sorted(os.sched_getaffinity(0)),
    "sched": os.sched_getscheduler(0),
    "limits": {n: resource.getrlimit(getattr(resource, n)) for n in
               ("RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_AS")},
    "signals": {s.name: str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD)},
    # A warm jail always preloads the runner's library (it carries the fork loop).
    "env": sorted(k for k in os.environ if k != "LD_PRELOAD"),
    "scratch": sorted(os.listdir(".")),
    "hostname": socket.gethostname(),
    "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
}
"""

DISTURB = r"""
import os, resource, signal
os.umask(0o777)
os.environ["X"] = "1"
for pid in range(0, 8):
    for call in (lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
                 lambda: os.sched_setaffinity(pid, {0}),
                 lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (17, 17)),
                 lambda: os.kill(pid, signal.SIGSTOP) if pid not in (0, os.getpid()) else None):
        try:
            call()
        except Exception:
            pass
try:
    os.setpriority(os.PRIO_USER, os.getuid(), 19)
except Exception:
    pass
open("left.txt", "w").write("x")
result = "disturbed"
"""


def test_every_pool_run_starts_from_the_state_of_a_cold_run():
    with stockade.Pool(NO_GUARD, size=1) as p:
        cold = stockade.run(STATE, policy=NO_GUARD)
        first = p.run(STATE)
        assert p.run(DISTURB).value == "disturbed"
        after = p.run(STATE)
    assert cold.ok and first.ok and after.ok, (cold, first, after)
    assert first.value == after.value, (first.value, after.value)
    diff = {k for k in cold.value if cold.value[k] != first.value[k]}
    assert diff == set(), {k: (cold.value[k], first.value[k]) for k in diff}


def test_a_pool_runs_isolation_report_names_its_own_layers(solo):
    r = solo.run("pass")
    layers = {l["name"]: l for l in r.isolation["layers"]}
    assert "per run" in layers["pid-namespace"]["mechanism"], layers["pid-namespace"]
    assert "fresh scratch" in layers["mount-namespace"]["mechanism"]
    assert "run's own process" in layers["landlock"]["mechanism"]
    assert "lockdown" in layers["seccomp"]["mechanism"]
    assert all(v["reported_by"] == "run" for v in r.violations)
