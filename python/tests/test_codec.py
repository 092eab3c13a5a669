"""Tests of stockade/_codec.py, the typed value codec (docs/values.md).

The codec file is loaded by path, so these tests need neither the built package nor the rest
of it. The cross-version test runs the same file under every installed CPython 3.9-3.13.
"""
import collections
import copy
import dataclasses
import datetime
import decimal
import enum
import importlib.util
import json
import math
import os
import pathlib
import pickle
import random
import struct
import subprocess
import sys
import textwrap
import time
import types
import uuid

import pytest

CODEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stockade", "_codec.py")
CODEC_PATH = os.path.normpath(CODEC_PATH)


def _load_codec():
    spec = importlib.util.spec_from_file_location("_stockade_codec_under_test", CODEC_PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # so that Records pickle
    spec.loader.exec_module(mod)
    return mod


codec = _load_codec()
dumps, loads, encode, decode = codec.dumps, codec.loads, codec.encode, codec.decode
EncodeError, DecodeError, Record = codec.EncodeError, codec.DecodeError, codec.Record

# --------------------------------------------------------------------------------------------
# A corpus and an exact comparator, shared with the subprocesses of the cross-version test
# (so written for 3.9 and executed as the module "codec_corpus" on both sides).

CORPUS_SRC = r'''
import dataclasses, datetime, decimal, enum, math, pathlib, struct, uuid

D = decimal.Decimal


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Shape:
    name: str
    points: list
    tags: frozenset = frozenset()
    meta: dict = dataclasses.field(default_factory=dict)


class Color(enum.Enum):
    RED = 1
    GREEN = "g"
    BLUE = (1, 2)


class Num(enum.IntEnum):
    ONE = 1
    TWO = 2


TYPES = (Point, Shape, Color, Num)


def corpus():
    utc = datetime.timezone.utc
    tz = datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))
    odd = datetime.timezone(datetime.timedelta(seconds=3725, microseconds=17))
    values = [
        None, True, False, 0, -1, 2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 2**70, -(2**70),
        2**20000 + 1, -(3**9000), 10**4200,
        0.0, -0.0, 1.5, 0.1, 1e308, -1.7976931348623157e308, 5e-324, 2.0**60,
        float("inf"), float("-inf"), float("nan"), -float("nan"),
        "", "plain", "\u00fcn\u00efc\u00f6d\u00e9 \U0001F600", "\x00\x1f\"\\/", "$int", "{\"$int\": 1}",
        b"", bytes(range(256)), b"\x00", b"ab", bytearray(b"abc"), bytearray(),
        [], [1, [2, [3, []]]], (), (1,), (1, (2, "x"), [3]),
        {}, {"a": 1, "b": [1.5, None]}, {"$int": "5"}, {"$dict": {"$set": []}}, {"$ref": "#/x"},
        {"$int": 1, "other": 2}, {1: "a", 2: "b"}, {(1, 2): [3]}, {None: 1, True: 2, 1.5: 3},
        {frozenset({1, 2}): 1, "s": 2}, {D("1.5"): "dec", datetime.date(2020, 1, 1): "date"},
        set(), {1, 2, 3}, frozenset({"a", "b", "c"}), {(1, 2), (3, 4)}, {1.5, -2.25},
        frozenset({frozenset({1}), frozenset()}),
        datetime.date(2024, 2, 29), datetime.date(1, 1, 1), datetime.date(9999, 12, 31),
        datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.datetime(1, 1, 1),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=utc),
        datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=tz),
        datetime.datetime(2000, 1, 1, tzinfo=odd),
        datetime.time(0, 0), datetime.time(23, 59, 59, 999999, tzinfo=tz), datetime.time(12, 0, tzinfo=utc),
        datetime.timedelta(0), datetime.timedelta(days=-1, microseconds=1),
        datetime.timedelta.max, datetime.timedelta.min, datetime.timedelta(seconds=1.5),
        D("1.000"), D("-0"), D("0E-7"), D("1E+5"), D("NaN"), D("-NaN7"), D("sNaN"), D("-sNaN42"),
        D("Infinity"), D("-Infinity"), D("123456789012345678901234567890.0987654321"),
        D("1E-999999999"), D("9.99E+999999999999999999"),
        complex(1, -2), complex(float("nan"), float("inf")), complex(-0.0, 0.0), 1e300j,
        uuid.UUID("12345678-1234-5678-1234-567812345678"), uuid.UUID(int=0),
        pathlib.PurePosixPath("/tmp/a b/\u00fc"), pathlib.PurePosixPath("rel/x"),
        pathlib.PurePosixPath("."),
        Color.RED, Color.GREEN, Color.BLUE, Num.TWO,
        Point(1, 2), Shape("tri", [Point(0, 0), Point(1, 0)], frozenset({Point(0, 0)}), {"k": (1, 2)}),
        {Point(1, 2): "a frozen dataclass as a key"},
    ]
    try:
        import zoneinfo
        paris = zoneinfo.ZoneInfo("Europe/Paris")
    except Exception:
        paris = None
    if paris is not None:
        values.append(datetime.datetime(2024, 7, 1, 12, 0, tzinfo=paris))
        values.append(datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris))
    values.append({"nested": list(values), "tuple": tuple(values[:20])})
    return values


def same(a, b):
    """Equal and of the same type, all the way down; floats bit for bit (NaNs by sign);
    datetimes and times by their fields and UTC offset."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is float:
        if a != a:
            return b != b and math.copysign(1.0, a) == math.copysign(1.0, b)
        return struct.pack("<d", a) == struct.pack("<d", b)
    if ta is complex:
        return same(a.real, b.real) and same(a.imag, b.imag)
    if ta is list or ta is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if ta is dict:
        return len(a) == len(b) and all(
            same(k1, k2) and same(v1, v2) for (k1, v1), (k2, v2) in zip(a.items(), b.items()))
    if ta is set or ta is frozenset:  # (not a == b: an ambiguous local time is never equal
        bl = list(b)                    # to the same instant in another zone, PEP 495)
        return len(a) == len(b) and all(any(same(x, y) for y in bl) for x in a)
    if ta is decimal.Decimal:
        return a.as_tuple() == b.as_tuple()
    if ta is datetime.datetime or ta is datetime.time:
        return (a.replace(tzinfo=None) == b.replace(tzinfo=None)
                and a.utcoffset() == b.utcoffset())
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, enum.Enum):
        return a is b
    if ta.__name__ == "Record":
        return (a._module == b._module and a._qualname == b._qualname
                and same(a._asdict(), b._asdict()))
    return a == b
'''


def _corpus_module():
    mod = types.ModuleType("codec_corpus")
    sys.modules["codec_corpus"] = mod
    exec(compile(CORPUS_SRC, "codec_corpus", "exec"), mod.__dict__)
    return mod


cc = _corpus_module()
same = cc.same


def _no_constants(name):
    raise AssertionError("%s in the output" % name)


def roundtrip(v, **kw):
    text = dumps(v)
    json.loads(text, parse_constant=_no_constants)  # strict JSON ...
    text.encode("utf-8")  # ... and valid UTF-8
    return loads(text, **kw)


# --------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("i", range(len(cc.corpus())))
def test_round_trip_every_corpus_value(i):
    v = cc.corpus()[i]
    out = roundtrip(v, types=cc.TYPES)
    assert same(out, v), (v, out)
    # encode()/decode() agree with dumps()/loads()
    assert json.dumps(encode(v), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False) == dumps(v)
    assert same(decode(encode(v), types=cc.TYPES), v)


def test_round_trip_all_nested_in_each_other():
    values = cc.corpus()
    hashable = [v for v in values if _hashable(v)]
    big = {
        "list": values,
        "tuple": tuple(values),
        "set": set(hashable),
        "frozenset": frozenset(hashable),
        "map": {v: i for i, v in enumerate(hashable)},
        "shape": cc.Shape("s", values, frozenset(hashable), {"all": values}),
    }
    out = roundtrip(big, types=cc.TYPES)
    assert same(out, big)
    # and once more through the result: the text is stable
    assert dumps(out) == dumps(big) or same(roundtrip(out, types=cc.TYPES), big)


def _hashable(v):
    try:
        hash(v)
    except TypeError:
        return False
    return not (isinstance(v, float) and v != v) and not (
        isinstance(v, complex) and v != v) and not (isinstance(v, decimal.Decimal) and v.is_nan())


def test_the_motivating_example_and_int_boundaries():
    assert dumps(2**70) == '{"$int":"1180591620717411303424"}'
    assert loads(dumps(2**70)) == 2**70 and type(loads(dumps(2**70))) is int
    assert dumps(2**53 - 1) == "9007199254740991"
    assert dumps(-(2**53 - 1)) == "-9007199254740991"
    assert dumps(2**53) == '{"$int":"9007199254740992"}'
    assert dumps(-(2**53)) == '{"$int":"-9007199254740992"}'
    big = 7**20000
    assert dumps(big).startswith('{"$int":"0x') and loads(dumps(big)) == big
    assert loads(dumps(-big)) == -big
    # other writers may put any JSON integer in plain form, or a small one in a tag
    assert loads("123456789012345678901234567890") == 123456789012345678901234567890
    assert loads('{"$int":"5"}') == 5 and loads('{"$int":"-0"}') == 0
    assert loads('{"$int":"%s"}' % ("9" * 4300)) == int("9" * 4300)


def test_floats_bit_exact():
    rng = random.Random(1)
    for _ in range(3000):
        f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        out = roundtrip(f)
        assert same(out, f)
    for f in (0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e16, 1e22, 0.1 + 0.2):
        assert same(roundtrip(f), f)
    assert dumps([float("nan"), -float("nan"), float("inf"), float("-inf")]) == \
        '[{"$float":"nan"},{"$float":"-nan"},{"$float":"inf"},{"$float":"-inf"}]'
    assert math.copysign(1, loads('{"$float":"-nan"}')) == -1


def test_bytes_all_lengths():
    rng = random.Random(2)
    for n in range(70):
        b = bytes(rng.getrandbits(8) for _ in range(n))
        assert same(roundtrip(b), b)
        assert same(roundtrip(bytearray(b)), bytearray(b))
    assert dumps(b"hi") == '{"$bytes":"aGk="}'


def test_datetimes():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        paris = zoneinfo.ZoneInfo("Europe/Paris")
    except Exception:
        pytest.skip("no time zone database")
    summer = datetime.datetime(2024, 7, 1, 12, 0, tzinfo=paris)
    assert dumps(summer) == '{"$datetime":"2024-07-01T12:00:00+02:00[Europe/Paris]"}'
    out = loads(dumps(summer))
    # the offset is kept (same instant, same wall time); the zone key is recorded, not rebuilt
    assert out == summer and out.utcoffset() == summer.utcoffset()
    assert type(out.tzinfo) is datetime.timezone
    # the second 02:30 of the autumn change (fold=1) keeps its offset, +01:00
    second = datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris)
    assert dumps(second) == '{"$datetime":"2024-10-27T02:30:00+01:00[Europe/Paris]"}'
    out = loads(dumps(second))
    assert out.timestamp() == second.timestamp() and out.utcoffset() == second.utcoffset()
    # (but Python compares an ambiguous local time unequal to any other zone: PEP 495)
    assert out != second and out == second.astimezone(datetime.timezone.utc)
    # fixed offsets, UTC and Z from other writers
    assert loads('{"$datetime":"2024-01-01T00:00:00Z"}').tzinfo is datetime.timezone.utc
    assert loads('{"$datetime":"2024-01-01T00:00:00.5+00:00"}').microsecond == 500000
    assert dumps(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)) == \
        '{"$datetime":"2024-01-01T00:00:00+00:00"}'
    assert dumps(datetime.time(1, 2, 3, 4)) == '{"$time":"01:02:03.000004"}'
    assert dumps(datetime.timedelta(days=-1, seconds=5)) == '{"$timedelta":[-1,5,0]}'
    assert dumps(datetime.date(5, 1, 2)) == '{"$date":"0005-01-02"}'


class _NoneOffset(datetime.tzinfo):
    def utcoffset(self, dt):
        return None


class _BrokenOffset(datetime.tzinfo):
    def utcoffset(self, dt):
        raise RuntimeError("boom")


def test_other_tzinfo():
    # a tzinfo whose utcoffset() is None makes the datetime naive, as Python sees it
    d = datetime.datetime(2024, 1, 1, tzinfo=_NoneOffset())
    assert dumps(d) == '{"$datetime":"2024-01-01T00:00:00"}' and loads(dumps(d)) == d
    with pytest.raises(EncodeError, match=r"^value\[0\]: its tzinfo's utcoffset\(\) failed"):
        dumps([datetime.datetime(2024, 1, 1, tzinfo=_BrokenOffset())])


def test_posix_path_decodes_as_pure():
    p = pathlib.PosixPath("/etc/hosts")
    out = roundtrip(p)
    assert type(out) is pathlib.PurePosixPath and out == p
    with pytest.raises(EncodeError, match=r"cannot encode a value of type 'pathlib\.(_local\.)?PureWindowsPath'"):
        dumps(pathlib.PureWindowsPath("c:/x"))


def test_sets_of_str_and_numbers_are_sorted():
    assert dumps({"b", "c", "a"}) == '{"$set":["a","b","c"]}'
    assert dumps(frozenset({3, 1, 2})) == '{"$frozenset":[1,2,3]}'
    assert dumps(set()) == '{"$set":[]}'


# --------------------------------------------------------------------------------------------
# Plain JSON encodes to itself


def _rand_str(rng):
    alphabet = "ab$ \"\\\n\t\x00\u00e9\u4e2d\U0001F600{}[]:,"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))


def _rand_plain(rng, depth=0):
    r = rng.random()
    if depth > 4 or r < 0.5:
        return rng.choice([
            None, True, False, rng.randrange(-(2**53) + 1, 2**53), rng.randrange(-5, 5),
            rng.uniform(-1e6, 1e6), rng.choice([0.0, -0.0, 1e300, 5e-324]), _rand_str(rng)])
    if r < 0.75:
        return [_rand_plain(rng, depth + 1) for _ in range(rng.randrange(6))]
    d = {}
    for _ in range(rng.randrange(6)):
        d[_rand_str(rng)] = _rand_plain(rng, depth + 1)
    if len(d) == 1 and next(iter(d)) in codec._TAGS:
        d["extra"] = 1
    return d


def test_plain_json_is_unchanged():
    rng = random.Random(3)
    for _ in range(2000):
        v = _rand_plain(rng)
        assert same(encode(v), v)
        assert dumps(v) == json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        assert same(loads(json.dumps(v)), v)  # any JSON writer's spacing and escapes
        assert same(loads(json.dumps(v, indent=2)), v)
        assert same(decode(json.loads(json.dumps(v))), v)
    # the documented examples
    doc = {"name": "x", "n": [1, 2.5, None, True], "$ref": "#/a", "nested": {"$schema": "s", "k": 1}}
    assert encode(doc) == doc and dumps({"$ref": "#/x"}) == '{"$ref":"#/x"}'


def test_plain_shapes():
    shapes = [{}, [], {"a": {}}, {"a": []}, {"a": {"b": 1}}, {"a": [1]}, {"a": [[1]]}, [[[1]]],
              [{}], [[], {}], {"a": {"b": {"c": [1, {"d": None}]}}}, [{"a": 1}, {"b": [2.5]}],
              {"a": [1, "x", 2.5, None, True, {"b": [False]}]}, ["\U0001F600", {"\u00e9": "\u00e9"}],
              {"k%d" % i: [i, str(i), {"x": float(i)}] for i in range(50)}]
    for v in shapes:
        assert dumps(v) == json.dumps(v, ensure_ascii=False, separators=(",", ":")), v
        assert same(loads(dumps(v)), v) and same(encode(v), v)
        assert same(loads(json.dumps(v, indent=1)), v)
    shared = {"a": 1}
    assert dumps([shared, shared]) == '[{"a":1},{"a":1}]'
    assert dumps({"x": [shared], "y": {"z": shared}}) == '{"x":[{"a":1}],"y":{"z":{"a":1}}}'


def test_dicts_that_look_like_tags_round_trip():
    for tag in sorted(codec._TAGS):
        for payload in (1, "x", [1, 2], {"$int": "5"}, None):
            v = {tag: payload}
            enc = encode(v)
            assert enc == {"$dict": {tag: encode(payload)}}
            assert same(roundtrip(v), v)
    v = {"$dict": {"$dict": {"$tuple": [1]}}}
    assert dumps(v) == '{"$dict":{"$dict":{"$dict":{"$dict":{"$dict":{"$tuple":[1]}}}}}}'
    assert same(roundtrip(v), v)
    # escapes written by another writer: "\u0024" is "$"
    assert loads('{"\\u0024tuple": [1]}') == (1,)
    assert loads('{"\\u0024dict": {"\\u0024tuple": [1]}}') == {"$tuple": [1]}
    assert loads('{"$\\u0069nt": "5"}') == 5  # escapes anywhere in a key
    assert loads('{"$int" \n : "5"}') == 5
    # values that start with "$" are plain strings
    assert loads('["$5", {"a": "$HOME"}, "$int"]') == ["$5", {"a": "$HOME"}, "$int"]


def test_documented_encodings():
    """The examples of docs/values.md, value -> exact text."""

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Color(enum.Enum):
        RED = 1

    Point.__module__, Point.__qualname__ = "app.geometry", "Point"
    Color.__module__, Color.__qualname__ = "app.paint", "Color"
    cases = [
        ({"a": [1, 2.5, "s", True, None]}, '{"a":[1,2.5,"s",true,null]}'),
        (2**70, '{"$int":"1180591620717411303424"}'),
        (-(2**64), '{"$int":"-18446744073709551616"}'),
        (float("nan"), '{"$float":"nan"}'),
        (float("-inf"), '{"$float":"-inf"}'),
        (b"\x00\xff", '{"$bytes":"AP8="}'),
        (bytearray(b"hi"), '{"$bytearray":"aGk="}'),
        ((1, "a"), '{"$tuple":[1,"a"]}'),
        ({3, 1, 2}, '{"$set":[1,2,3]}'),
        (frozenset({"b", "a"}), '{"$frozenset":["a","b"]}'),
        ({"$int": 5}, '{"$dict":{"$int":5}}'),
        ({1: "a", (2, 3): "b"}, '{"$map":[[1,"a"],[{"$tuple":[2,3]},"b"]]}'),
        (datetime.date(2024, 2, 29), '{"$date":"2024-02-29"}'),
        (datetime.time(13, 5, 0, 250000), '{"$time":"13:05:00.250000"}'),
        (datetime.datetime(2024, 2, 29, 13, 5), '{"$datetime":"2024-02-29T13:05:00"}'),
        (datetime.datetime(2024, 2, 29, 13, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=-8))),
         '{"$datetime":"2024-02-29T13:05:00-08:00"}'),
        (datetime.timedelta(days=1, seconds=2, microseconds=3), '{"$timedelta":[1,2,3]}'),
        (datetime.timedelta(seconds=-1), '{"$timedelta":[-1,86399,0]}'),
        (decimal.Decimal("1.10"), '{"$decimal":"1.10"}'),
        (decimal.Decimal("-sNaN"), '{"$decimal":"-sNaN"}'),
        (complex(1, float("inf")), '{"$complex":[1.0,"inf"]}'),
        (uuid.UUID(int=1), '{"$uuid":"00000000-0000-0000-0000-000000000001"}'),
        (pathlib.PurePosixPath("/srv/data.csv"), '{"$path":"/srv/data.csv"}'),
        (Color.RED, '{"$enum":{"module":"app.paint","qualname":"Color","name":"RED","value":1}}'),
        (Point(1, 2), '{"$dataclass":{"module":"app.geometry","qualname":"Point",'
                      '"fields":{"x":1,"y":2}}}'),
    ]
    for value, text in cases:
        assert dumps(value) == text, value
        assert dumps(loads(text)) == text or isinstance(value, enum.Enum)


# --------------------------------------------------------------------------------------------
# Subclasses of builtins, enums, dataclasses, Record, the registry


def test_subclasses_of_builtins():
    class S(str):
        def __str__(self):
            return "overridden"

    class I(int):
        pass

    class F(float):
        pass

    class L(list):
        pass

    class T(tuple):
        pass

    NT = collections.namedtuple("NT", "a b")
    cases = [
        (S("abc"), "abc"), (I(5), 5), (F(1.5), 1.5), (L([1, (2,)]), [1, (2,)]),
        (T((1, 2)), (1, 2)), (NT(1, [2]), (1, [2])),
        (collections.OrderedDict([("b", 1), ("a", 2)]), {"b": 1, "a": 2}),
        (collections.defaultdict(list, {"x": [1]}), {"x": [1]}),
        (collections.Counter("aab"), {"a": 2, "b": 1}),
        ({S("k"): 1}, {"k": 1}),
        ([True, 1, False, 0], [True, 1, False, 0]),
    ]
    for value, expected in cases:
        out = roundtrip(value)
        assert same(out, expected), (value, out)
    assert list(roundtrip(collections.OrderedDict([("b", 1), ("a", 2)]))) == ["b", "a"]
    assert dumps(True) == "true" and dumps({True: 1}) == '{"$map":[[true,1]]}'


def test_enums():
    class Shade(str, enum.Enum):
        DARK = "dark"

    class Perm(enum.IntFlag):
        R = 4
        W = 2

    assert roundtrip(cc.Color.BLUE) == (1, 2)  # not registered: the plain value
    assert roundtrip(cc.Color.BLUE, types=[cc.Color]) is cc.Color.BLUE
    assert roundtrip(Shade.DARK) == "dark" and roundtrip(Shade.DARK, types=[Shade]) is Shade.DARK
    assert roundtrip(cc.Num.TWO) == 2 and type(roundtrip(cc.Num.TWO)) is int
    assert roundtrip(Perm.R | Perm.W, types=[Perm]) == Perm.R | Perm.W
    assert roundtrip({cc.Num.ONE: "k"}, types=[cc.Num]) == {cc.Num.ONE: "k"}
    bad = dumps(cc.Color.RED).replace('"value":1', '"value":7')
    with pytest.raises(DecodeError, match=r"7 is not a value of the registered enum codec_corpus.Color"):
        loads(bad, types=[cc.Color])


def test_dataclasses_record_and_registry():
    shape = cc.Shape("tri", [cc.Point(0, 0)], frozenset({cc.Point(1, 1)}), {"k": (1, 2)})
    text = dumps(shape)
    rec = loads(text)  # no registry: a Record
    assert type(rec) is Record
    assert rec.name == "tri" and rec._fields == ("name", "points", "tags", "meta")
    assert rec._module == "codec_corpus" and rec._qualname == "Shape"
    assert type(rec.points[0]) is Record and rec.points[0].x == 0
    assert rec._asdict()["meta"] == {"k": (1, 2)}
    assert rec == loads(text) and hash(rec.points[0]) == hash(loads(text).points[0])
    assert dumps(rec) == text  # re-encodes exactly as the dataclass it came from
    assert repr(rec.points[0]) == "Record('codec_corpus', 'Point', {'x': 0, 'y': 0})"
    assert eval(repr(rec.points[0]), {"Record": Record}) == rec.points[0]
    with pytest.raises(AttributeError, match="frozen"):
        rec.name = "x"
    with pytest.raises(AttributeError, match="frozen"):
        del rec.name
    with pytest.raises(AttributeError, match="has no field 'nope'"):
        rec.nope
    assert copy.deepcopy(rec) == rec and pickle.loads(pickle.dumps(rec)) == rec
    assert "name" in dir(rec)
    assert Record("m", "Q", {"a": 1}) != Record("m", "Q", {"a": 2})
    assert Record("m", "Q", {"a": 1}) != Record("n", "Q", {"a": 1})
    with pytest.raises(TypeError):
        Record("m", "Q", {"not an identifier": 1})
    # with a registry: the classes themselves; partial registry mixes both
    assert same(loads(text, types=cc.TYPES), shape)
    mixed = loads(text, types=[cc.Point])
    assert type(mixed) is Record and type(mixed.points[0]) is cc.Point


def test_registry_builds_without_init():
    calls = []

    @dataclasses.dataclass(frozen=True)
    class Guarded:
        a: int
        b: list = dataclasses.field(default_factory=list)
        c: int = dataclasses.field(default=0, init=False)

        def __post_init__(self):
            calls.append("post_init")
            raise RuntimeError("must not run")

    g = object.__new__(Guarded)
    for k, v in (("a", 1), ("b", [2]), ("c", 3)):
        object.__setattr__(g, k, v)
    text = dumps(g)
    out = loads(text, types=[Guarded])
    assert type(out) is Guarded and (out.a, out.b, out.c) == (1, [2], 3) and calls == []
    # registered under another identity (a class defined in the jail's __main__)
    text2 = text.replace(Guarded.__qualname__, "Other").replace(Guarded.__module__, "__main__")
    assert type(loads(text2, types={"__main__:Other": Guarded})) is Guarded
    assert type(loads(text2, types={("__main__", "Other"): Guarded})) is Guarded
    assert type(loads(text2, types=[Guarded])) is Record
    # the recorded fields must match the registered class
    with pytest.raises(DecodeError, match=r"fields \(a, b\) do not match the registered class"):
        loads(text.replace(',"c":3', ""), types=[Guarded])
    with pytest.raises(TypeError):
        loads(text, types=[int])
    with pytest.raises(TypeError):
        loads(text, types=Guarded)
    with pytest.raises(DecodeError, match="is not an Enum"):
        loads(dumps(cc.Color.RED), types={"codec_corpus:Color": Guarded})
    with pytest.raises(DecodeError, match="is not a dataclass"):
        loads(dumps(cc.Point(1, 2)), types={"codec_corpus:Point": cc.Color})


@pytest.mark.skipif(sys.version_info < (3, 10), reason="slots=True is 3.10+")
def test_registry_slots_dataclass():
    Slotted = dataclasses.make_dataclass("Slotted", ["a", "b"], frozen=True, slots=True)
    out = roundtrip(Slotted(1, (2,)), types=[Slotted])
    assert type(out) is Slotted and out == Slotted(1, (2,))


# --------------------------------------------------------------------------------------------
# Encode errors: they name the place


def _enc_err(value, root="value", **kw):
    with pytest.raises(EncodeError) as info:
        dumps(value, root=root, **kw)
    with pytest.raises(EncodeError) as info2:
        encode(value, root=root, **kw)
    assert str(info.value) == str(info2.value)
    return str(info.value)


def test_unencodable_values_name_place_and_type():
    def gen():
        yield 1

    class Plain:
        pass

    assert _enc_err({"f": lambda: 0}, "result") == "result['f']: cannot encode a value of type 'function'"
    assert _enc_err([1, sys]) == "value[1]: cannot encode a value of type 'module'"
    with open(__file__) as fh:
        assert _enc_err({"a": {"b": (1, fh)}}, "inputs") == \
            "inputs['a']['b'][1]: cannot encode a value of type '_io.TextIOWrapper'"
    assert _enc_err([gen()]).endswith("cannot encode a value of type 'generator'")
    assert _enc_err(Plain()) == "value: cannot encode a value of type '%s'" % (
        "%s.%s" % (Plain.__module__, Plain.__qualname__))
    assert _enc_err(object()) == "value: cannot encode a value of type 'object'"
    assert _enc_err(int) == "value: cannot encode a value of type 'type'"
    assert _enc_err(cc.Point(1, print)) == \
        "value.y: cannot encode a value of type 'builtin_function_or_method'"
    assert _enc_err({1: [object()]}) == "value[1][0]: cannot encode a value of type 'object'"
    assert _enc_err({(1, object()): 1}).startswith("value<key (1, <object>)>[1]: cannot encode")
    assert _enc_err({object()}) == "value<element 0>: cannot encode a value of type 'object'"
    assert _enc_err(memoryview(b"x")).endswith("'memoryview'")
    with pytest.raises(EncodeError) as info:
        dumps({"k": lambda: 0}, root="result")
    assert info.value.path == "result['k']" and info.value.reason.startswith("cannot encode")


def test_lone_surrogates_are_encode_errors():
    assert _enc_err({"x": [0, 1, 2, "ok\udc80"]}, "inputs") == \
        "inputs['x'][3]: string contains a lone surrogate '\\udc80'"
    assert _enc_err({"k\ud800": 1}, "inputs") == \
        "inputs<key 'k\\ud800'>: string contains a lone surrogate '\\ud800'"
    assert _enc_err({"a": {"\udfff": 1}}) == \
        "value['a']<key '\\udfff'>: string contains a lone surrogate '\\udfff'"
    assert _enc_err({("\udc80",): 1}).startswith("value<key ('\\udc80',)>[0]: string contains")
    assert _enc_err(cc.Point(1, "\udc80")) == "value.y: string contains a lone surrogate '\\udc80'"
    assert _enc_err(["a" * 1000 + "\udc80"]) == "value[0]: string contains a lone surrogate '\\udc80'"
    assert _enc_err({"\udc80x"}) == "value<element 0>: string contains a lone surrogate '\\udc80'"
    assert _enc_err(pathlib.PurePosixPath("/x\udc80")).startswith("value: string contains")
    # a valid pair written as two code points is still two lone surrogates in a Python str
    assert "lone surrogate" in _enc_err("\ud83d\ude00")
    assert dumps("\U0001F600") == '"\U0001F600"'


def test_cycles_are_encode_errors():
    a = []
    a.append(a)
    assert _enc_err(a, "result") == "result[0]: cannot encode a cycle: this list contains itself"
    d = {}
    d["x"] = [1, {"y": d}]
    assert _enc_err(d) == "value['x'][1]['y']: cannot encode a cycle: this dict contains itself"

    @dataclasses.dataclass(eq=False)
    class Node:
        children: list

    n = Node([])
    n.children.append(n)
    assert _enc_err(n) == "value.children[0]: cannot encode a cycle: this %s.%s contains itself" % (
        Node.__module__, Node.__qualname__)
    s = {Node([])}
    next(iter(s)).children.append(s)
    assert "cycle: this set contains itself" in _enc_err(s)
    # shared but acyclic references are fine
    shared = [1, 2]
    assert roundtrip([shared, shared, (shared,)]) == [[1, 2], [1, 2], ([1, 2],)]


def _nested_list(n):
    v = []
    for _ in range(n - 1):
        v = [v]
    return v


def _nest(n, leaf):
    for _ in range(n):
        leaf = [leaf]
    return leaf


def test_depth_limit_encode():
    assert loads(dumps(_nested_list(100))) == _nested_list(100)
    msg = _enc_err(_nested_list(101))
    assert msg.endswith(": nested deeper than max_depth=100")
    assert msg.startswith("value[0][0][0][0][0]...(90 more)...[0][0]")
    assert _enc_err(_nested_list(10000)).endswith("nested deeper than max_depth=100")
    assert _enc_err(_nested_list(4), max_depth=3).endswith("max_depth=3")
    assert dumps(_nested_list(3), max_depth=3) == "[[[]]]"
    # scalars inside the deepest container do not count; tagged containers do
    assert dumps([[[1, b"x", 2**60]]], max_depth=3)
    one_level = (lambda v: (v,), lambda v: {"k": v}, lambda v: {1: v}, lambda v: frozenset([v]),
                 lambda v: cc.Point(v, 0), lambda v: Record("m", "R", {"f": v}))
    for wrap in one_level:
        v = 1
        for _ in range(100):
            v = wrap(v)
        text = dumps(v)  # 100 levels fit
        with pytest.raises(EncodeError, match="max_depth=100"):
            dumps(wrap(v))
        with pytest.raises(EncodeError, match="max_depth=99"):
            dumps(v, max_depth=99)
        # decoding counts the same way
        assert same(loads(text, types=cc.TYPES), v)
        with pytest.raises(DecodeError, match="max_depth=99"):
            loads(text, max_depth=99)
    # an enum member counts as a level too
    dumps(_nest(99, cc.Color.RED))
    dumps(_nest(98, cc.Color.BLUE))  # its value (1, 2) is one level deeper
    with pytest.raises(EncodeError, match=r"\.value: nested deeper than max_depth=100"):
        dumps(_nest(99, cc.Color.BLUE))
    with pytest.raises(EncodeError, match="max_depth=100"):
        dumps(_nest(100, cc.Color.RED))
    with pytest.raises(DecodeError, match="max_depth=100"):
        loads(dumps(_nest(100, cc.Color.RED), max_depth=101))
    # a limit the interpreter's stack cannot reach is still an EncodeError
    with pytest.raises(EncodeError, match="recursion limit"):
        dumps(_nested_list(100000), max_depth=10**6)


# --------------------------------------------------------------------------------------------
# Hostile decoding


def _dec_err(text, **kw):
    with pytest.raises(DecodeError) as info:
        loads(text, **kw)
    return str(info.value)


@pytest.mark.parametrize("text, message", [
    ("", "not valid JSON"),
    ("[1,", "not valid JSON"),
    ("[1] x", "not valid JSON"),
    ("\ufeff[1]", "not valid JSON"),
    ("[NaN]", "not JSON: NaN"),
    ("[-Infinity]", "not JSON: -Infinity"),
    ('{"$int": 5}', "$int payload must be a string, not a number"),
    ('{"$int": "01"}', "$int payload '01' is not a decimal integer"),
    ('{"$int": "1_000"}', "is not a decimal integer"),
    ('{"$int": " 1"}', "is not a decimal integer"),
    ('{"$int": "\\uff11"}', "is not a decimal integer"),
    ('{"$int": "0x0"}', "is not a decimal integer"),
    ('{"$int": "0X1F"}', "is not a decimal integer"),
    ('{"$int": "%s"}' % ("1" * 4301), "is not a decimal integer of at most 4300 digits"),
    ("1" * 5000, "not valid JSON"),
    ('{"$float": "NaN"}', '$float payload \'NaN\' is not one of "nan"'),
    ('{"$float": 1.5}', "$float payload must be a string"),
    ('{"$bytes": "abc"}', "is not padded standard base64"),
    ('{"$bytes": "ab=c"}', "is not padded standard base64"),
    ('{"$bytes": "a===" }', "is not padded standard base64"),
    ('{"$bytes": "QR=="}', "is not canonical base64"),
    ('{"$bytes": "YWJjZA-_"}', "is not padded standard base64"),
    ('{"$bytes": ["x"]}', "$bytes payload must be a string, not an array"),
    ('{"$bytearray": null}', "$bytearray payload must be a string, not null"),
    ('{"$tuple": {"a": 1}}', "$tuple payload must be an array, not an object"),
    ('{"$set": [[1]]}', "$set element 0 is not hashable"),
    ('{"$set": [1, 1]}', "$set payload has duplicate elements"),
    ('{"$set": [1, true]}', "$set payload has duplicate elements"),
    ('{"$frozenset": [{"a": 1}]}', "$frozenset element 0 is not hashable"),
    ('{"$map": [[1, 2], [1, 3]]}', "$map payload has duplicate keys"),
    ('{"$map": [[1, 2, 3]]}', "$map entry 0 must be a [key, value] array"),
    ('{"$map": [[[1], 2]]}', "$map key 0 is not hashable"),
    ('{"$map": {"a": 1}}', "$map payload must be an array"),
    ('{"$dict": [1]}', "$dict payload must be an object"),
    ('{"$date": "2024-02-30"}', "is not a valid date"),
    ('{"$date": "2024-1-01"}', "is not YYYY-MM-DD"),
    ('{"$date": "\\uff12024-01-01"}', "is not YYYY-MM-DD"),
    ('{"$date": "20240101"}', "is not YYYY-MM-DD"),
    ('{"$time": "24:00:00"}', "is not a valid time"),
    ('{"$time": "12:00"}', "is not HH:MM:SS"),
    ('{"$datetime": "2024-01-01 00:00:00"}', "is not YYYY-MM-DDTHH:MM:SS"),
    ('{"$datetime": "2024-01-01T00:00:00+24:00"}', "offset hours 24"),
    ('{"$datetime": "2024-01-01T00:00:00+01:60"}', "offset minutes 60"),
    ('{"$datetime": "2024-01-01T00:00:00[Europe/Paris]"}', "needs an offset"),
    ('{"$datetime": "2024-01-01T00:00:00+01:00[../../etc/passwd]"}', "is not YYYY-MM-DDTHH"),
    ('{"$datetime": "2024-01-01T00:00:60"}', "is not a valid datetime"),
    ('{"$datetime": "0000-01-01T00:00:00"}', "is not a valid datetime"),
    ('{"$timedelta": [0, 86400, 0]}', "is not normalized"),
    ('{"$timedelta": [1000000000, 0, 0]}', "out of range"),
    ('{"$timedelta": [0, 0]}', "must be [days, seconds, microseconds]"),
    ('{"$timedelta": [0, 1.5, 0]}', "must be [days, seconds, microseconds]"),
    ('{"$timedelta": [true, 0, 0]}', "must be [days, seconds, microseconds]"),
    ('{"$decimal": "1_0"}', "is not a decimal number"),
    ('{"$decimal": " 1"}', "is not a decimal number"),
    ('{"$decimal": "1e"}', "is not a decimal number"),
    ('{"$decimal": "\\u0661"}', "is not a decimal number"),
    ('{"$decimal": "1E+99999999999999999999999"}', "is not a representable decimal"),
    ('{"$complex": [1]}', "$complex payload must be a [real, imag] array"),
    ('{"$complex": [1, "x"]}', "$complex parts must be numbers"),
    ('{"$complex": [1, true]}', "$complex parts must be numbers"),
    ('{"$complex": [1, 1e999]}', ""),  # 1e999 parses as inf: accepted
    ('{"$uuid": "ABCDEF00-0000-0000-0000-000000000000"}', "is not a lowercase 8-4-4-4-12"),
    ('{"$uuid": "12345678123456781234567812345678"}', "is not a lowercase 8-4-4-4-12"),
    ('{"$path": 1}', "$path payload must be a string"),
    ('{"$enum": {"module": "m"}}', "$enum payload must have exactly the keys"),
    ('{"$enum": {"module": "m", "qualname": "", "name": null, "value": 1}}', "non-empty strings"),
    ('{"$enum": {"module": "m", "qualname": "q", "name": 1, "value": 1}}', "name must be a string"),
    ('{"$enum": []}', "$enum payload must be an object"),
    ('{"$dataclass": {"module": "m", "qualname": "q", "fields": []}}', "fields must be an object"),
    ('{"$dataclass": {"module": "m", "qualname": "q", "fields": {"a b": 1}}}', "identifiers"),
    ('{"$dataclass": {"module": 1, "qualname": "q", "fields": {}}}', "non-empty strings"),
    ('{"$dataclass": {"module": "m", "qualname": "q", "fields": {}, "x": 1}}', "exactly the keys"),
    ('["\\ud800"]', "value[0]: string contains a lone surrogate '\\ud800'"),
    ('{"a": {"\\udc80": 1}}', "value['a']<key '\\udc80'>: string contains a lone surrogate"),
    ('"\\ude00\\ud83d"', "lone surrogate"),
    ('{"$dataclass": {"module": "m\\ud800", "qualname": "q", "fields": {}}}', "lone surrogate"),
    ('{"a": [{"$tuple": [1, {"$date": 5}]}]}', "value['a'][0][1]: $date payload must be a string"),
])
def test_malformed_input_is_a_clear_decode_error(text, message):
    if message == "":
        loads(text)
        return
    msg = _dec_err(text)
    assert message in msg, msg


def test_decode_rejects_non_json_objects():
    for obj, message in [
        ((1, 2), "not JSON: a value of type 'tuple'"),
        ({1: 2}, "not JSON: an object key of type 'int'"),
        ([float("nan")], "value[0]: not JSON: the float nan"),
        ({"a": {1, 2}}, "value['a']: not JSON: a value of type 'set'"),
        ({"$tuple": (1,)}, "$tuple payload must be an array, not tuple"),
        (b"x", "not JSON: a value of type 'bytes'"),
        (["a\udc80"], "value[0]: string contains a lone surrogate"),
    ]:
        with pytest.raises(DecodeError) as info:
            decode(obj)
        assert message in str(info.value), str(info.value)


def test_bytes_input_and_valid_escapes():
    assert loads(b'["\xc3\xa9"]') == ["\u00e9"]
    assert loads(bytearray(b"[1]")) == [1]
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        loads(b'["\xff"]')
    with pytest.raises(DecodeError, match="lone surrogate"):
        loads('["\udc80"]')  # a raw surrogate code point in the text
    assert loads('"\\ud83d\\ude00"') == "\U0001F600"
    assert loads('{"\\ud83d\\ude00": "\\u00e9"}') == {"\U0001F600": "\u00e9"}
    with pytest.raises(TypeError):
        loads(5)


@pytest.mark.parametrize("opener, closer", [
    ("[", "]"),
    ('{"a":', "}"),
    ('{"$tuple":[', "]}"),
    ('{"$dict":{"a":', "}}"),
    ('{"$map":[[1,', "]]}"),
    ('{"$frozenset":[{"$tuple":[', "]}]}"),
    ('{"$enum":{"module":"m","qualname":"q","name":null,"value":', "}}"),
    ('{"$dataclass":{"module":"m","qualname":"q","fields":{"f":', "}}}"),
])
def test_deep_nesting_is_a_decode_error(opener, closer):
    for n in (101, 1000, 10000, 100000):
        text = opener * n + "1" + closer * n
        with pytest.raises(DecodeError) as info:
            loads(text)
        assert "nested" in str(info.value)
        if n <= 300:
            obj = json.loads(text)
            with pytest.raises(DecodeError, match="nested deeper than max_depth=100"):
                decode(obj)
    # 100 levels are fine, whatever the tags around them
    levels = 2 if "$frozenset" in opener else 1
    text = opener * (100 // levels) + "1" + closer * (100 // levels)
    loads(text)


def test_depth_limit_decode():
    assert loads("[" * 100 + "]" * 100) == _nested_list(100)
    msg = _dec_err("[" * 101 + "]" * 101)
    assert msg.endswith("nested deeper than max_depth=100")
    assert _dec_err("[[[[]]]]", max_depth=3).endswith("max_depth=3")
    assert loads("[[[]]]", max_depth=3) == [[[]]]
    # the fast path (no tags) checks depth too, even with brackets inside strings
    assert loads('["[[[[[", "{{{{"]', max_depth=1) == ["[[[[[", "{{{{"]


def test_hash_collisions_are_bounded():
    m = (1 << 61) - 1  # ints equal modulo this hash equal
    items = ",".join('{"$int":"%d"}' % (i * m) for i in range(1, 20001))
    for text in ('{"$set":[%s]}' % items, '{"$map":[%s]}' % ",".join(
            '[{"$int":"%d"},0]' % (i * m) for i in range(1, 20001))):
        t0 = time.perf_counter()
        with pytest.raises(DecodeError, match="too many with equal hashes"):
            loads(text)
        assert time.perf_counter() - t0 < 5
    few = ",".join('{"$int":"%d"}' % (i * m) for i in range(1, 50))
    assert len(loads('{"$set":[%s]}' % few)) == 49


def test_big_inputs_are_linear():
    t0 = time.perf_counter()
    n = int("f" * 200000, 16)
    assert loads(dumps(n)) == n
    with pytest.raises(DecodeError):
        loads("9" * 1000000)
    with pytest.raises(DecodeError):
        loads('{"$int":"%s"}' % ("9" * 1000000))
    assert loads('{"$decimal":"%s"}' % ("9" * 1000000)) == decimal.Decimal("9" * 1000000)
    # many "$ inside one long string, many "$ keys, long base64
    assert loads(json.dumps(['"$' * 300000])) == ['"$' * 300000]
    assert len(loads(json.dumps({"$k%d" % i: i for i in range(100000)}))) == 100000
    assert len(loads(dumps(bytes(3000000)))) == 3000000
    assert time.perf_counter() - t0 < 5


_SCALAR_TAGS = ["$int", "$float", "$bytes", "$bytearray", "$date", "$time", "$datetime",
                "$timedelta", "$decimal", "$complex", "$uuid", "$path"]


def _rand_payload_str(rng):
    return rng.choice([
        "", "0", "-0", "1", "01", "-1", "0x10", "-0x1f", "nan", "-nan", "inf", "-inf", "NaN",
        "aGk=", "QR==", "abc", "a=b=", "2024-02-29", "2024-02-30", "12:00:00", "25:00:00",
        "2024-01-01T00:00:00", "2024-01-01T00:00:00+01:00[Europe/Paris]", "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.1234567", "1.000", "sNaN", "-Infinity", "1E+999999999999999999",
        "12345678-1234-5678-1234-567812345678", "/a/b", "\u00e9", "\ud800", "$int",
        "".join(rng.choice("0123456789abcdefx-+.:TZ[]/=eE") for _ in range(rng.randrange(30))),
    ])


def _rand_hostile(rng, depth=0):
    r = rng.random()
    if depth > 6 or r < 0.35:
        return rng.choice([
            None, True, False, 0, -1, 2**53, -(2**64), 1.5, -0.0, 1e300, _rand_payload_str(rng),
            rng.getrandbits(70) - 2**69])
    if r < 0.5:
        return [_rand_hostile(rng, depth + 1) for _ in range(rng.randrange(4))]
    if r < 0.6:
        return {_rand_payload_str(rng): _rand_hostile(rng, depth + 1) for _ in range(rng.randrange(3))}
    tag = rng.choice(sorted(codec._TAGS))
    if tag in _SCALAR_TAGS and rng.random() < 0.6:
        if tag == "$timedelta":
            payload = [rng.randrange(-10**9 - 2, 10**9 + 2), rng.randrange(-2, 86402),
                       rng.randrange(-2, 10**6 + 2)]
        elif tag == "$complex":
            payload = [rng.choice([1, 1.5, "nan", "x", True, None]) for _ in range(rng.choice([1, 2, 2, 3]))]
        else:
            payload = _rand_payload_str(rng)
    elif tag in ("$enum", "$dataclass") and rng.random() < 0.7:
        payload = {"module": rng.choice(["m", "", 1, "codec_corpus"]),
                   "qualname": rng.choice(["Point", "Color", "q", None])}
        if tag == "$enum":
            payload["name"] = rng.choice([None, "RED", 1])
            payload["value"] = _rand_hostile(rng, depth + 1)
        else:
            payload["fields"] = rng.choice([
                {"x": _rand_hostile(rng, depth + 1), "y": _rand_hostile(rng, depth + 1)},
                {"x": 1}, {"not id": 1}, [], {}])
        if rng.random() < 0.1:
            payload["extra"] = 1
    elif tag == "$map" and rng.random() < 0.7:
        payload = [[_rand_hostile(rng, depth + 1), _rand_hostile(rng, depth + 1)]
                   for _ in range(rng.randrange(3))]
    else:
        payload = _rand_hostile(rng, depth + 1)
    return {tag: payload}


def _check_decodes_or_decode_error(text, **kw):
    try:
        loads(text, **kw)
    except DecodeError as exc:
        assert "internal error" not in str(exc), str(exc)
    except RecursionError:  # pragma: no cover - the point of the test
        pytest.fail("RecursionError for %r" % text[:200])


def test_fuzz_hostile_structures_only_raise_decode_error():
    rng = random.Random(4)
    registry = cc.TYPES
    for i in range(4000):
        obj = _rand_hostile(rng)
        text = json.dumps(obj, ensure_ascii=bool(i % 2))
        _check_decodes_or_decode_error(text, types=registry if i % 3 == 0 else ())
        try:
            decode(json.loads(text))
        except DecodeError as exc:
            assert "internal error" not in str(exc), str(exc)


def test_fuzz_mutated_valid_encodings():
    rng = random.Random(5)
    texts = [dumps(v) for v in cc.corpus()]
    for i in range(4000):
        text = rng.choice(texts)
        if rng.random() < 0.5:
            # replace a random subtree of the parsed encoding with hostile junk
            obj = json.loads(text)
            obj = _mutate(obj, rng)
            text = json.dumps(obj, ensure_ascii=bool(i % 2))
        else:
            # character-level damage
            chars = list(text)
            for _ in range(rng.randrange(1, 4)):
                pos = rng.randrange(len(chars) + 1)
                op = rng.random()
                if op < 0.4 and chars:
                    del chars[min(pos, len(chars) - 1)]
                elif op < 0.8:
                    chars.insert(pos, rng.choice('[]{}",:$\\0123456789aeEnx-. '))
                elif chars:
                    chars[min(pos, len(chars) - 1)] = rng.choice('"0[{$')
            text = "".join(chars)
        _check_decodes_or_decode_error(text, types=cc.TYPES if i % 2 else ())


def _mutate(obj, rng, depth=0):
    if rng.random() < 0.25 or depth > 8:
        return _rand_hostile(rng, 4)
    if isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        obj[i] = _mutate(obj[i], rng, depth + 1)
    elif isinstance(obj, dict) and obj:
        k = rng.choice(list(obj))
        if rng.random() < 0.2:
            obj[rng.choice(sorted(codec._TAGS))] = obj.pop(k)
        else:
            obj[k] = _mutate(obj[k], rng, depth + 1)
    return obj


# --------------------------------------------------------------------------------------------
# Cheap import, and the same file on every interpreter


def test_import_is_cheap():
    code = textwrap.dedent("""
        import importlib.util, json, sys
        before = set(sys.modules)
        spec = importlib.util.spec_from_file_location("c", %r)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(" ".join(sorted(set(sys.modules) - before)))
    """ % CODEC_PATH)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    new = set(out.stdout.split())
    heavy = {"datetime", "_datetime", "decimal", "_decimal", "uuid", "dataclasses", "pathlib",
             "zoneinfo", "base64", "typing", "inspect", "__future__"}
    assert not new & heavy, new


SUB_SRC = r'''
import importlib.util, sys, types
spec = importlib.util.spec_from_file_location("_stockade_codec", sys.argv[1])
codec = importlib.util.module_from_spec(spec)
spec.loader.exec_module(codec)
mod = types.ModuleType("codec_corpus")
sys.modules["codec_corpus"] = mod
exec(compile(sys.argv[2], "codec_corpus", "exec"), mod.__dict__)
if sys.argv[3] == "encode":
    sys.stdout.write(codec.dumps(mod.corpus(), root="result"))
else:
    text = sys.stdin.read()
    value = codec.loads(text, types=mod.TYPES, root="inputs")
    if not mod.same(value, mod.corpus()):
        for got, want in zip(value, mod.corpus()):
            if not mod.same(got, want):
                sys.stderr.write("mismatch: %r != %r\n" % (got, want))
        sys.exit(3)
    sys.stdout.write(codec.dumps(value))
'''

INTERPRETERS = [os.path.expanduser("~/.pyenv/versions/%s" % p) for p in (
    "3.9.18/bin/python3.9", "3.10.13/bin/python3.10", "3.11.7/bin/python3.11",
    "3.12.1/bin/python3.12", "3.13.0/bin/python3.13")] + ["/usr/bin/python3.11"]


@pytest.mark.parametrize("python", INTERPRETERS, ids=lambda p: p.split("/")[-1] + ":" + p.split("/")[-3])
def test_cross_version(python):
    if not os.path.exists(python):
        pytest.skip("%s is not installed" % python)
    expected = cc.corpus()
    # there: encode; here: decode
    proc = subprocess.run([python, "-c", SUB_SRC, CODEC_PATH, CORPUS_SRC, "encode"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert same(loads(proc.stdout, types=cc.TYPES), expected)
    assert proc.stdout == dumps(expected, root="result")  # the very same text
    # here: encode; there: decode, compare, re-encode; here: decode again
    text = dumps(expected)
    proc = subprocess.run([python, "-c", SUB_SRC, CODEC_PATH, CORPUS_SRC, "roundtrip"],
                          input=text, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert same(loads(proc.stdout, types=cc.TYPES), expected)
    # (the same text as re-encoding here: zone keys are not rebuilt on decode, so not `text`)
    assert proc.stdout == dumps(loads(text, types=cc.TYPES))
