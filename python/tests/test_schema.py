"""The Python peers of the protocol against the schemas generated from its Rust types
(docs/schema, kept current by crates/stockade-protocol/tests/schema.rs): the package's run
requests and the results it reads, and the in-jail runner's frames (header, request, answer).
A field renamed or added on one side fails here.
"""
import importlib.util
import json
import os
import struct
import sys
from pathlib import Path

import jsonschema
import pytest

import stockade
from stockade import _codec

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schema"
RUNNER = ROOT / "crates" / "stockade-runner" / "src" / "runner.py"


def schema(name):
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def check(name, doc):
    jsonschema.validate(doc, schema(name), cls=jsonschema.Draft7Validator)


@pytest.fixture(scope="module")
def runner():
    sys.modules.setdefault("_stockade_codec", _codec)
    spec = importlib.util.spec_from_file_location("stockade_runner_under_test", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FRAMES = json.loads((SCHEMAS / "frames.json").read_text())


def split_frame(data, kind):
    header = struct.Struct(FRAMES["struct"])
    assert header.size == FRAMES["header_len"]
    magic, version, got, length, _nonce = header.unpack_from(data)
    assert (magic.decode(), version, got) == (FRAMES["magic"], FRAMES["version"], FRAMES["kinds"][kind])
    assert len(data) == header.size + length
    return json.loads(data[header.size:])


def test_the_runner_frames_as_the_protocol_does(runner):
    assert runner._HEADER.format == FRAMES["struct"]
    assert runner._KIND_REQUEST == FRAMES["kinds"]["Request"]
    assert runner._KIND_ANSWER == FRAMES["kinds"]["Answer"]
    assert runner._KIND_CALL == FRAMES["kinds"]["Call"]
    assert runner._KIND_REPLY == FRAMES["kinds"]["Reply"]


def test_the_runner_reads_every_required_request_field(runner):
    required = set(schema("request")["required"])
    source = RUNNER.read_text()
    read = {field for field in required if f'request["{field}"]' in source}
    assert read == required, f"the runner ignores {required - read}"


def test_a_request_the_schema_accepts_is_one_the_runner_reads(runner, tmp_path):
    request = {"code": "x = 1", "inputs": {"n": _codec.encode(2**70)}, "files": {"a.txt": "aGk="}, "filename": "<code>", "answer_limit": 1 << 20}
    check("request", request)
    payload = json.dumps(request).encode()
    frame = struct.pack(FRAMES["struct"], b"SK", FRAMES["version"], FRAMES["kinds"]["Request"], len(payload), 0) + payload
    path = tmp_path / "request"
    path.write_bytes(frame)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert runner._read_request(fd) == request
    finally:
        os.close(fd)
    with pytest.raises(jsonschema.ValidationError):
        check("request", dict(request, extra=1))  # the supervisor's decoder denies unknown fields


@pytest.mark.parametrize(
    "value,error,limit",
    [
        (2**70, None, 1 << 20),
        ({"nested": [1.5, float("nan"), b"\x00", {1, 2}]}, None, 1 << 20),
        (None, {"type": "ValueError", "message": "bad", "traceback": "Traceback ...\n"}, 1 << 20),
        (object(), None, 1 << 20),  # unencodable
        ("x" * 5000, None, 1000),  # over the answer limit
    ],
)
def test_runner_answers_match_the_schema(runner, tmp_path, monkeypatch, value, error, limit):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "r.csv").write_text("a,b\n1,2\n")
    (out / "big.bin").write_bytes(b"\x01" * 4000)
    os.symlink("/etc/passwd", out / "link")
    monkeypatch.setattr(runner, "_SCRATCH", str(tmp_path))
    answer = split_frame(runner._answer(value, error, limit), "Answer")
    check("answer", answer)
    if limit < 2000:
        assert answer["error"]["type"] == "AnswerTooLarge"


def test_run_requests_from_the_package_match_the_schema():
    for kwargs in (
        {},
        {"inputs": {"x": 2**70, "when": __import__("datetime").date(2026, 12, 6)}, "files": {"data.csv": "a\n1\n"}, "stdin": "hello", "timeout": 1.5},
        {"stdin": b"\xff", "timeout": 0.0001},
    ):
        spec = json.loads(
            stockade._spec("print(1)", kwargs.get("inputs"), kwargs.get("files"), kwargs.get("stdin"), kwargs.get("timeout"))
        )
        check("run", spec)


def results():
    yield stockade.run("result = {'n': 2**70}")
    yield stockade.run("raise ValueError('no')")
    yield stockade.run("import os\nos.system('true')")
    yield stockade.run("while True: pass", timeout=0.5)
    yield stockade.run("import os\nos.makedirs('out')\nopen('out/a.txt', 'w').write('x')")
    with stockade.Pool(size=1) as pool:
        yield pool.run("print('pool')")
    with stockade.Session() as session:
        yield session.run("x = 1")
        yield session.run("result = x + 1")


def test_results_the_package_reads_match_the_schema():
    statuses = set()
    for r in results():
        check("result", r.raw)
        statuses.add(r.status)
        for v in r.raw["violations"]:
            check("violation", v)
    assert {"ok", "error", "timeout"} <= statuses


def test_every_field_the_package_reads_is_in_the_schema():
    import re

    source = (Path(stockade.__file__)).read_text()
    result, answer = schema("result"), schema("answer")
    for key in re.findall(r'doc\.get\("(\w+)"', source):
        assert key in result["properties"], f"stockade reads result field {key!r}, which the protocol does not have"
    for key in re.findall(r'answer\.get\("(\w+)"', source) + re.findall(r'answer\["(\w+)"\]', source):
        assert key in answer["properties"], f"stockade reads answer field {key!r}, which the protocol does not have"
