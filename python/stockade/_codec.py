"""Typed value codec shared by the stockade caller and the runner inside the jail.

``dumps(value)`` gives strict JSON text (no NaN/Infinity tokens, no lone surrogates) and
``loads(text)`` gives back an equal value of the same type, for the types listed in
docs/values.md. Plain JSON data (dicts with str keys, lists, str, ints within +-(2**53 - 1),
finite floats, bool, None) encodes to itself; every other value becomes a one-key object
``{"$tag": payload}``. The codec is data only: decoding never imports, looks up or calls
anything named by the data (classes come only from the caller's ``types=`` registry), its
depth (``max_depth``) and work are bounded, and it raises only ``DecodeError`` on bad input.
Standard library only; CPython 3.9 to 3.13. The caller's package and the runner import this
very file.
"""
import json
import re
import sys
from itertools import chain

__all__ = ["dumps", "loads", "encode", "decode", "EncodeError", "DecodeError", "Record"]

# Ints strictly inside +-2**53 are plain JSON numbers (every JSON reader holds them exactly).
_SAFE = 1 << 53
# Ints up to this many bits are written in decimal (at most 4215 digits, under CPython's
# default int/str conversion limit of 4300 digits); larger ones in hex, which converts in
# linear time both ways. Decimal payloads longer than _MAX_DEC_DIGITS are refused.
_DEC_BITS = 14000
_MAX_DEC_DIGITS = 4300
# A set or a non-str-keyed dict may hold at most this many elements whose hash equals another
# element's hash (crafted int collisions would make building it quadratic).
_MAX_COLLISIONS = 128

_TAG_NAMES = (
    "$int", "$float", "$bytes", "$bytearray", "$tuple", "$set", "$frozenset", "$dict", "$map",
    "$date", "$time", "$datetime", "$timedelta", "$decimal", "$complex", "$uuid", "$path",
    "$enum", "$dataclass",
)
_TAGS = frozenset(_TAG_NAMES)

_NoneType = type(None)
_PLAIN = frozenset((str, int, float, bool, _NoneType))
_STR_ONLY = frozenset((str,))



class EncodeError(ValueError):
    """A value cannot be encoded. ``str(e)`` names the place, e.g. ``result['f']: ...``;
    ``e.path`` is that place and ``e.reason`` the rest."""

    def __init__(self, message, path="", reason=""):
        super().__init__(message)
        self.path = path
        self.reason = reason


class DecodeError(ValueError):
    """The text or object is not a valid encoding. ``str(e)`` names the place; ``e.path`` and
    ``e.reason`` as for ``EncodeError``."""

    def __init__(self, message, path="", reason=""):
        super().__init__(message)
        self.path = path
        self.reason = reason


class _Fail(Exception):
    """Internal: raised at the failing value; each enclosing container appends its part of the
    path on the way out (innermost first)."""

    def __init__(self, reason):
        Exception.__init__(self, reason)
        self.reason = reason
        self.parts = []

    def raise_as(self, cls, root):
        parts = self.parts[::-1]
        if len(parts) > 12:
            parts = parts[:5] + ["...(%d more)..." % (len(parts) - 10)] + parts[-5:]
        path = root + "".join(parts)
        raise cls("%s: %s" % (path, self.reason), path, self.reason) from None


def _tname(t):
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
    if module is None or module == "builtins" or type(module) is not str:
        return str(name)
    return "%s.%s" % (module, name)


def _short(text, limit=60):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(v, depth=0):
    """repr of a dict key for messages, without calling code of arbitrary classes."""
    t = type(v)
    if t in (str, int, float, bool, bytes, _NoneType, complex):
        if t is int and v.bit_length() > 200:
            return "<int of %d bits>" % v.bit_length()
        return _short(repr(v))
    if t is tuple and depth < 2:
        inner = ", ".join(_safe_repr(x, depth + 1) for x in v[:4])
        if len(v) > 4:
            inner += ", ..."
        return "(%s%s)" % (inner, "," if len(v) == 1 else "")
    return "<%s>" % _tname(t)


def _check_surrogates(s):
    m = _rx("surrogate").search(s)
    if m is not None:
        raise _Fail("string contains a lone surrogate %r" % m.group())


# --------------------------------------------------------------------------------------------
# Record


class Record:
    """A dataclass instance whose class was not available (not registered) when decoding.

    Frozen; fields read as attributes (``r.x``) or with ``r._asdict()``; ``r._fields`` is the
    tuple of field names, ``r._module`` and ``r._qualname`` the recorded class identity. Equal to
    another Record with the same identity and fields (in order). It encodes exactly as the
    dataclass it came from, so a value can travel jail -> caller -> jail unchanged. A field
    whose name is also an attribute of Record (``_asdict``, ``_fields``...) is only reachable
    through ``_asdict()``.
    """

    __slots__ = ("__module", "__qualname", "__fields")

    def __init__(self, module, qualname, fields=()):
        if type(module) is not str or type(qualname) is not str:
            raise TypeError("Record(module, qualname, fields): module and qualname are str")
        fields = dict(fields)
        for name in fields:
            if type(name) is not str or not name.isidentifier():
                raise TypeError("Record field names are identifiers, not %r" % (name,))
        object.__setattr__(self, "_Record__module", module)
        object.__setattr__(self, "_Record__qualname", qualname)
        object.__setattr__(self, "_Record__fields", fields)

    @classmethod
    def _trusted(cls, module, qualname, fields):
        self = object.__new__(cls)
        object.__setattr__(self, "_Record__module", module)
        object.__setattr__(self, "_Record__qualname", qualname)
        object.__setattr__(self, "_Record__fields", fields)
        return self

    @property
    def _module(self):
        return self.__module

    @property
    def _qualname(self):
        return self.__qualname

    @property
    def _fields(self):
        return tuple(self.__fields)

    def _asdict(self):
        return dict(self.__fields)

    def __getattr__(self, name):
        try:
            fields = object.__getattribute__(self, "_Record__fields")
        except AttributeError:
            raise AttributeError(name) from None
        try:
            return fields[name]
        except KeyError:
            raise AttributeError(
                "Record %s.%s has no field %r"
                % (object.__getattribute__(self, "_Record__module"),
                   object.__getattribute__(self, "_Record__qualname"), name)
            ) from None

    def __setattr__(self, name, value):
        raise AttributeError("Record is frozen: cannot set %r" % (name,))

    def __delattr__(self, name):
        raise AttributeError("Record is frozen: cannot delete %r" % (name,))

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self.__fields))

    def __eq__(self, other):
        if type(other) is not Record:
            return NotImplemented
        return (
            self.__module == other.__module
            and self.__qualname == other.__qualname
            and list(self.__fields.items()) == list(other.__fields.items())
        )

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash((Record, self.__module, self.__qualname, tuple(self.__fields.items())))

    def __repr__(self):
        return "Record(%r, %r, %r)" % (self.__module, self.__qualname, self.__fields)

    def __reduce__(self):
        return (Record, (self.__module, self.__qualname, dict(self.__fields)))


# --------------------------------------------------------------------------------------------
# Encoding


class _EncState:
    __slots__ = ("max_depth", "check", "active")

    def __init__(self, max_depth, check):
        if type(max_depth) is not int or max_depth < 0:
            raise TypeError("max_depth must be an int >= 0")
        self.max_depth = max_depth
        self.check = check  # check str values/keys for lone surrogates here (encode())
        self.active = set()  # ids of the containers on the current path (cycle detection)


def _int_text(v):
    if v.bit_length() <= _DEC_BITS:
        try:
            return str(v)
        except ValueError:  # the process lowered sys.set_int_max_str_digits
            pass
    return hex(v)


def _float_text(v):
    # only called for non-finite floats
    if v != v:
        return "-nan" if _copysign(v) < 0 else "nan"
    return "inf" if v > 0 else "-inf"


def _copysign(v):
    import math

    return math.copysign(1.0, v)


def _float_item(v):
    return v if v - v == 0.0 else _float_text(v)


def _enc(v, depth, st):
    """Encode ``v``, which sits inside ``depth`` containers."""
    t = type(v)
    if t is str:
        if st.check and not v.isascii():
            _check_surrogates(v)
        return v
    if t is int:
        if -_SAFE < v < _SAFE:
            return v
        return {"$int": _int_text(v)}
    if t is float:
        if v - v == 0.0:
            return v
        return {"$float": _float_text(v)}
    if t is bool or v is None:
        return v
    if t is list:
        return _enc_seq(v, depth + 1, st)
    if t is dict:
        return _enc_dict(v, depth + 1, st)
    if t is tuple:
        return {"$tuple": _enc_seq(v, depth + 1, st)}
    h = _ENCODERS.get(t)
    if h is None:
        _load_known_types()
        h = _ENCODERS.get(t)
        if h is None:
            return _enc_other(v, t, depth, st)
    return h(v, depth, st)


def _enter(v, depth, st):
    if depth > st.max_depth:
        raise _Fail("nested deeper than max_depth=%d" % st.max_depth)
    i = id(v)
    if i in st.active:
        raise _Fail("cannot encode a cycle: this %s contains itself" % _tname(type(v)))
    return i


def _plain_ok(vals, ts, st):
    """vals (all of a type in _PLAIN, the set ts) encode to themselves?"""
    if len(ts) == 1:
        if int in ts:
            return -_SAFE < min(vals) and max(vals) < _SAFE
        if float in ts:
            s = sum(vals)  # finite sum => every element finite
            return s - s == 0.0
        if str in ts and st.check:
            return all(map(str.isascii, vals))
        return True
    if int in ts or float in ts or (st.check and str in ts):
        return _small_plain(vals, st.check)
    return True


def _small_plain(vals, check):
    """One pass over values of mixed types: do they all encode to themselves?"""
    for x in vals:
        t = type(x)
        if t is str:
            if check and not x.isascii():
                return False
        elif t is int:
            if not -_SAFE < x < _SAFE:
                return False
        elif t is float:
            if x - x != 0.0:
                return False
        elif t is not bool and x is not None:
            return False
    return True


def _enc_seq(v, depth, st):
    i = _enter(v, depth, st)
    ts = set(map(type, v))
    if ts <= _PLAIN and _plain_ok(v, ts, st):
        # dumps() serialises the result at once: no copy of an exact list or tuple there
        return list(v) if st.check or (type(v) is not list and type(v) is not tuple) else v
    active = st.active
    active.add(i)
    out = []
    append = out.append
    try:
        for x in v:
            append(_enc(x, depth, st))
    except _Fail as e:
        e.parts.append("[%d]" % len(out))
        raise
    finally:
        active.discard(i)
    return out


def _enc_dict(v, depth, st):
    i = _enter(v, depth, st)
    if len(v) <= 8:  # small dicts (records): one pass beats building sets of types
        check = st.check
        for k, x in v.items():
            if type(k) is not str or (check and not k.isascii()):
                break
            t = type(x)
            if t is str:
                if check and not x.isascii():
                    break
            elif t is int:
                if not -_SAFE < x < _SAFE:
                    break
            elif t is float:
                if x - x != 0.0:
                    break
            elif t is not bool and x is not None:
                break
        else:
            out = dict(v) if check or type(v) is not dict else v
            if len(out) == 1 and k in _TAGS:
                return {"$dict": out}  # a user dict that would read as a tag
            return out
    if set(map(type, v)) <= _STR_ONLY:
        if st.check and not all(map(str.isascii, v)):
            for k in v:
                try:
                    _check_surrogates(k)
                except _Fail as e:
                    e.parts.append("<key %s>" % _short(repr(k)))
                    raise
        vals = v.values()
        ts = set(map(type, vals))
        if ts <= _PLAIN and _plain_ok(vals, ts, st):
            out = dict(v) if st.check or type(v) is not dict else v
        else:
            active = st.active
            active.add(i)
            out = {}
            k = None
            try:
                for k, x in v.items():
                    out[k] = _enc(x, depth, st)
            except _Fail as e:
                e.parts.append("[%s]" % _short(repr(k)))
                raise
            finally:
                active.discard(i)
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$dict": out}  # a user dict that would read as a tag
        return out
    active = st.active
    active.add(i)
    pairs = []
    try:
        for k, x in v.items():
            try:
                ek = _enc(k, depth, st)
            except _Fail as e:
                e.parts.append("<key %s>" % _safe_repr(k))
                raise
            try:
                pairs.append([ek, _enc(x, depth, st)])
            except _Fail as e:
                e.parts.append("[%s]" % _safe_repr(k))
                raise
    finally:
        active.discard(i)
    return {"$map": pairs}


def _enc_set(v, depth, st, tag):
    i = _enter(v, depth + 1, st)
    items = list(v)
    ts = set(map(type, items))
    if len(ts) == 1 and (str in ts or int in ts or float in ts):
        items.sort()  # deterministic text for sets of str or of numbers
    if ts <= _PLAIN and _plain_ok(items, ts, st):
        return {tag: items}
    active = st.active
    active.add(i)
    out = []
    try:
        for x in items:
            out.append(_enc(x, depth + 1, st))
    except _Fail as e:
        e.parts.append("<element %d>" % len(out))
        raise
    finally:
        active.discard(i)
    return {tag: out}


def _b64(data):
    import binascii

    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _fmt_hms(h, m, s, us):
    if us:
        return "%02d:%02d:%02d.%06d" % (h, m, s, us)
    return "%02d:%02d:%02d" % (h, m, s)


def _fmt_offset(off):
    sign = "+"
    if off.days < 0:
        sign = "-"
        off = -off
    secs, us = off.seconds, off.microseconds
    hh, rem = divmod(secs, 3600)
    mm, ss = divmod(rem, 60)
    text = "%s%02d:%02d" % (sign, hh, mm)
    if ss or us:
        text += ":%02d" % ss
        if us:
            text += ".%06d" % us
    return text


def _utcoffset(v):
    try:
        return v.utcoffset()
    except Exception as exc:
        raise _Fail("its tzinfo's utcoffset() failed: %s: %s" % (_tname(type(exc)), exc)) from None


def _enc_date(v, depth, st):
    return {"$date": "%04d-%02d-%02d" % (v.year, v.month, v.day)}


def _enc_datetime(v, depth, st):
    text = "%04d-%02d-%02dT%s" % (
        v.year, v.month, v.day, _fmt_hms(v.hour, v.minute, v.second, v.microsecond))
    tz = v.tzinfo
    if tz is not None:
        off = _utcoffset(v)
        if off is not None:
            text += _fmt_offset(off)
            if type(tz) is not sys.modules["datetime"].timezone:
                key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo
                if type(key) is str and _rx("zone").fullmatch(key):
                    text += "[%s]" % key
    return {"$datetime": text}


def _enc_time(v, depth, st):
    text = _fmt_hms(v.hour, v.minute, v.second, v.microsecond)
    if v.tzinfo is not None:
        off = _utcoffset(v)
        if off is not None:
            text += _fmt_offset(off)
    return {"$time": text}


def _enc_timedelta(v, depth, st):
    return {"$timedelta": [v.days, v.seconds, v.microseconds]}


def _enc_decimal(v, depth, st):
    return {"$decimal": sys.modules["decimal"].Decimal.__str__(v)}


def _enc_uuid(v, depth, st):
    h = "%032x" % v.int
    return {"$uuid": "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])}


def _enc_path(v, depth, st):
    text = str(v)
    if st.check and not text.isascii():
        _check_surrogates(text)
    return {"$path": text}


def _enc_record(v, depth, st):
    i = _enter(v, depth + 1, st)
    active = st.active
    active.add(i)
    out = {}
    name = None
    try:
        for name, x in v._Record__fields.items():
            out[name] = _enc(x, depth + 1, st)
    except _Fail as e:
        e.parts.append("." + name)
        raise
    finally:
        active.discard(i)
    return {"$dataclass": {"module": v._Record__module, "qualname": v._Record__qualname,
                           "fields": out}}


def _enc_dataclass(v, t, depth, st):
    i = _enter(v, depth + 1, st)
    names = _field_names(t)
    active = st.active
    active.add(i)
    out = {}
    name = None
    try:
        for name in names:
            try:
                x = getattr(v, name)
            except Exception as exc:
                raise _Fail("cannot read the field: %s: %s" % (_tname(type(exc)), exc)) from None
            out[name] = _enc(x, depth + 1, st)
    except _Fail as e:
        e.parts.append("." + str(name))
        raise
    finally:
        active.discard(i)
    module, qualname = getattr(t, "__module__", None), getattr(t, "__qualname__", None)
    if type(module) is not str or type(qualname) is not str:
        raise _Fail("dataclass %r has no str __module__ and __qualname__" % _tname(t))
    return {"$dataclass": {"module": module, "qualname": qualname, "fields": out}}


_FIELD_NAMES = {}


def _field_names(cls):
    """The dataclass's field names, in order (cached for up to 512 classes)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        try:
            names = tuple(f.name for f in _dataclasses().fields(cls))
        except Exception as exc:
            raise _Fail("cannot list the fields of dataclass %r: %s: %s"
                        % (_tname(cls), _tname(type(exc)), exc)) from None
        if len(_FIELD_NAMES) >= 512:
            _FIELD_NAMES.clear()
        _FIELD_NAMES[cls] = names
    return names


def _enc_enum(v, t, depth, st):
    try:
        value, name = v._value_, v._name_
    except AttributeError:
        raise _Fail("enum member of %r has no _value_" % _tname(t)) from None
    if depth + 1 > st.max_depth:  # a member counts as a level, like a container
        raise _Fail("nested deeper than max_depth=%d" % st.max_depth)
    try:
        ev = _enc(value, depth + 1, st)
    except _Fail as e:
        e.parts.append(".value")
        raise
    module, qualname = getattr(t, "__module__", None), getattr(t, "__qualname__", None)
    if type(module) is not str or type(qualname) is not str:
        raise _Fail("enum %r has no str __module__ and __qualname__" % _tname(t))
    return {"$enum": {"module": module, "qualname": qualname,
                      "name": name if type(name) is str else None, "value": ev}}


def _enc_other(v, t, depth, st):
    """Types not in _ENCODERS: enum members, dataclass instances, subclasses of known types."""
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(v, enum.Enum):
        return _enc_enum(v, t, depth, st)
    if getattr(t, "__dataclass_fields__", None) is not None:
        return _enc_dataclass(v, t, depth, st)
    for base in t.__mro__[1:]:
        h = _SUBCLASS_ENCODERS.get(base) or _ENCODERS.get(base)
        if h is not None:
            return h(v, depth, st)
    raise _Fail("cannot encode a value of type %r" % _tname(t))


# Subclasses of builtins encode as their builtin base (see docs/values.md). The values are
# read with the base class's own methods, not overrides.
_SUBCLASS_ENCODERS = {
    str: lambda v, d, st: _enc(str.__str__(v), d, st),
    int: lambda v, d, st: _enc(int.__int__(v), d, st),
    float: lambda v, d, st: _enc(float.__float__(v), d, st),
    list: lambda v, d, st: _enc_seq(v, d + 1, st),
    tuple: lambda v, d, st: {"$tuple": _enc_seq(v, d + 1, st)},
    dict: lambda v, d, st: _enc_dict(v, d + 1, st),
}

_ENCODERS = {
    bytes: lambda v, d, st: {"$bytes": _b64(v)},
    bytearray: lambda v, d, st: {"$bytearray": _b64(v)},
    set: lambda v, d, st: _enc_set(v, d, st, "$set"),
    frozenset: lambda v, d, st: _enc_set(v, d, st, "$frozenset"),
    complex: lambda v, d, st: {"$complex": [_float_item(v.real), _float_item(v.imag)]},
    Record: _enc_record,
}
_LOADED = set()


def _load_known_types():
    """Register the stdlib classes whose modules are loaded (a value of such a class cannot
    exist before its module is imported, so nothing is imported here)."""
    mods = sys.modules
    if "datetime" not in _LOADED and "datetime" in mods:
        dt = mods["datetime"]
        _ENCODERS.update({dt.datetime: _enc_datetime, dt.date: _enc_date, dt.time: _enc_time,
                          dt.timedelta: _enc_timedelta})
        _LOADED.add("datetime")
    if "decimal" not in _LOADED and "decimal" in mods:
        _ENCODERS[mods["decimal"].Decimal] = _enc_decimal
        _LOADED.add("decimal")
    if "uuid" not in _LOADED and "uuid" in mods:
        _ENCODERS[mods["uuid"].UUID] = _enc_uuid
        _LOADED.add("uuid")
    if "pathlib" not in _LOADED and "pathlib" in mods:
        pl = mods["pathlib"]
        _ENCODERS[pl.PurePosixPath] = _enc_path
        _ENCODERS[pl.PosixPath] = _enc_path
        _LOADED.add("pathlib")


def _dataclasses():
    import dataclasses

    return dataclasses


_JSON_TYPES = _PLAIN | {dict, list}
_from_iterable = chain.from_iterable


def _level_values(dicts, lists):
    """All values held by the given dicts and lists (sized iterables of them), as one sized
    iterable."""
    if dicts:
        if len(dicts) == 1 and not lists:
            for d in dicts:
                return d.values()
        vals = list(_from_iterable(map(dict.values, dicts)))
        if lists:
            vals.extend(_from_iterable(lists))
        return vals
    if len(lists) == 1:
        for x in lists:
            return x
    return list(_from_iterable(lists))


def _children(vals, ts):
    """The dicts and the lists among vals (whose set of types is ts)."""
    one = len(ts) == 1
    dicts = (vals if one else list(filter(dict.__instancecheck__, vals))) if dict in ts else ()
    lists = (vals if one else list(filter(list.__instancecheck__, vals))) if list in ts else ()
    return dicts, lists


def _plain_tree(obj, limit):
    """Is ``obj`` (a dict or a list) plain JSON that encodes to itself: exact dict/list/str/
    int/float/bool/None, str keys, no key that is a tag name, ints inside +-2**53, finite
    floats, no container nested deeper than ``limit`` or reached twice (so no cycle)? Checked
    a level at a time with iteration in C, for dumps() (lone surrogates are checked on its
    text). False sends the value through the full encoder, which finds and names the problem."""
    dicts, lists = ([obj], ()) if type(obj) is dict else ((), [obj])
    seen = set()
    depth = 0
    while dicts or lists:
        depth += 1
        if depth > limit:
            return False
        n = len(seen)
        seen.update(map(id, dicts))
        seen.update(map(id, lists))
        if len(seen) != n + len(dicts) + len(lists):
            return False  # shared or cyclic
        if dicts:
            if not set(map(type, _from_iterable(dicts))) <= _STR_ONLY:
                return False
            if min(map(len, dicts)) <= 1 and not _TAGS.isdisjoint(_from_iterable(dicts)):
                return False  # maybe a one-key dict that reads as a tag
        vals = _level_values(dicts, lists)
        ts = set(map(type, vals))
        if not ts <= _JSON_TYPES:
            return False
        if int in ts:
            ints = vals if len(ts) == 1 else list(filter(int.__instancecheck__, vals))
            if not (-_SAFE < min(ints) and max(ints) < _SAFE):
                return False
        if float in ts:
            s = sum(vals if len(ts) == 1 else filter(float.__instancecheck__, vals))
            if s - s != 0.0:  # a finite sum means every element is finite
                return False
        dicts, lists = _children(vals, ts)
    return True


def _json_depth_ok(obj, limit):
    """No container in ``obj`` (parsed JSON: a tree of dicts and lists) is nested deeper than
    ``limit``? Checked a level at a time with iteration in C."""
    t = type(obj)
    if t is not dict and t is not list:
        return True
    dicts, lists = ([obj], ()) if t is dict else ((), [obj])
    depth = 0
    while dicts or lists:
        depth += 1
        if depth > limit:
            return False
        vals = _level_values(dicts, lists)
        ts = set(map(type, vals))
        dicts, lists = _children(vals, ts)
    return True


_JSON_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False)


def encode(value, *, root="value", max_depth=100):
    """Encode ``value`` to a JSON-compatible object (dict/list/str/int/float/bool/None).

    Raises EncodeError naming the place (``root`` then the path) of the first value that
    cannot be encoded: a type outside docs/values.md, a cycle, a string with a lone surrogate,
    containers nested deeper than ``max_depth``."""
    st = _EncState(max_depth, True)
    try:
        return _enc(value, 0, st)
    except _Fail as e:
        e.raise_as(EncodeError, root)
    except RecursionError:
        raise EncodeError("%s: nested too deeply for the interpreter's recursion limit" % root,
                          root, "nested too deeply") from None


def dumps(value, *, root="value", max_depth=100):
    """Encode ``value`` to strict JSON text (compact, UTF-8-safe: no lone surrogates, no
    NaN/Infinity tokens). For plain JSON data this is ``json.dumps(value, ensure_ascii=False,
    separators=(",", ":"))``. Raises EncodeError as ``encode`` does."""
    st = _EncState(max_depth, False)
    try:
        t = type(value)
        if (t is dict or t is list) and _plain_tree(value, max_depth):
            text = _JSON_ENCODER.encode(value)
        else:
            text = _JSON_ENCODER.encode(_enc(value, 0, st))
    except _Fail as e:
        e.raise_as(EncodeError, root)
    except RecursionError:
        raise EncodeError("%s: nested too deeply for the interpreter's recursion limit" % root,
                          root, "nested too deeply") from None
    # Strings were not checked one by one: check the whole text once (isascii is O(1)).
    if not text.isascii() and _rx("surrogate").search(text) is not None:
        encode(value, root=root, max_depth=max_depth)  # raises, naming the place
        raise EncodeError("%s: string contains a lone surrogate" % root, root,
                          "string contains a lone surrogate")
    return text


# --------------------------------------------------------------------------------------------
# Decoding

_RX_SOURCE = {
    "surrogate": "[\ud800-\udfff]",
    "surrogate_escape": r"\\u[dD][89a-fA-F]",
    # a key starting with "$" in valid JSON text; linear: each try stops at a quote or backslash
    "dollar_key": r'"\$[^"\\]*(?:\\|"[ \t\n\r]*:)',
    "dec_int": r"-?(?:0|[1-9][0-9]*)",
    "hex_int": r"-?0x[1-9a-f][0-9a-f]*",
    "b64": r"[A-Za-z0-9+/]*={0,2}",
    "date": r"([0-9]{4})-([0-9]{2})-([0-9]{2})",
    "time": r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
            r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{6}))?)?)?",
    "datetime": r"([0-9]{4})-([0-9]{2})-([0-9]{2})T"
                r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
                r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{6}))?)?)?"
                r"(?:\[([A-Za-z0-9_+\-]{1,64}(?:/[A-Za-z0-9_+\-]{1,64}){0,4})\])?",
    "zone": r"[A-Za-z0-9_+\-]{1,64}(?:/[A-Za-z0-9_+\-]{1,64}){0,4}",
    "decimal": r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
               r"|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|[sS]?[Nn][Aa][Nn][0-9]*)",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}
_RX = {}


def _rx(name):
    r = _RX.get(name)
    if r is None:
        r = _RX[name] = re.compile(_RX_SOURCE[name])
    return r


class _DecState:
    __slots__ = ("max_depth", "check", "trusted", "types")

    def __init__(self, max_depth, check, trusted, types):
        if type(max_depth) is not int or max_depth < 0:
            raise TypeError("max_depth must be an int >= 0")
        self.max_depth = max_depth
        self.check = check  # check strings for lone surrogates
        self.trusted = trusted  # the object came from our json parse (str keys, no NaN)
        self.types = types


def _dec(o, depth, st):
    """Decode ``o``, which sits inside ``depth`` containers."""
    t = type(o)
    if t is str:
        if st.check and not o.isascii():
            _check_surrogates(o)
        return o
    if t is int or t is bool or o is None:
        return o
    if t is float:
        if st.trusted or o - o == 0.0:
            return o
        raise _Fail("not JSON: the float %r" % o)
    if t is list:
        return _dec_list(o, depth + 1, st)
    if t is dict:
        if len(o) == 1:
            for k in o:
                pass
            h = _DECODERS.get(k) if type(k) is str else None
            if h is not None:
                return h(o[k], depth, st)
        return _dec_obj(o, depth + 1, st)
    raise _Fail("not JSON: a value of type %r" % _tname(t))


def _dec_plain_ok(vals, ts, st):
    if st.check and str in ts:
        if len(ts) != 1 or not all(map(str.isascii, vals)):
            return False
    if float in ts and not st.trusted:
        if len(ts) != 1:
            return False
        s = sum(vals)
        return s - s == 0.0
    return True


def _depth_check(depth, st):
    if depth > st.max_depth:
        raise _Fail("nested deeper than max_depth=%d" % st.max_depth)


def _dec_list(o, depth, st):
    if depth > st.max_depth:
        raise _Fail("nested deeper than max_depth=%d" % st.max_depth)
    ts = set(map(type, o))
    if ts <= _PLAIN and _dec_plain_ok(o, ts, st):
        return o if st.trusted else list(o)
    out = []
    append = out.append
    try:
        for x in o:
            append(_dec(x, depth, st))
    except _Fail as e:
        e.parts.append("[%d]" % len(out))
        raise
    return out


def _dec_obj(o, depth, st):
    """A JSON object read as a dict with str keys (plain objects and $dict payloads)."""
    if depth > st.max_depth:
        raise _Fail("nested deeper than max_depth=%d" % st.max_depth)
    if not st.trusted and not set(map(type, o)) <= _STR_ONLY:
        for k in o:
            if type(k) is not str:
                raise _Fail("not JSON: an object key of type %r" % _tname(type(k)))
    if st.check and not all(map(str.isascii, o)):
        for k in o:
            try:
                _check_surrogates(k)
            except _Fail as e:
                e.parts.append("<key %s>" % _short(repr(k)))
                raise
    vals = o.values()
    if st.trusted and not st.check and len(o) <= 8:  # small objects (records)
        for x in vals:
            if type(x) is dict or type(x) is list:
                break
        else:
            return o
    ts = set(map(type, vals))
    if ts <= _PLAIN and _dec_plain_ok(vals, ts, st):
        return o if st.trusted else dict(o)
    out = {}
    k = None
    try:
        for k, x in o.items():
            out[k] = _dec(x, depth, st)
    except _Fail as e:
        e.parts.append("[%s]" % _short(repr(k)))
        raise
    return out


def _want(p, t, tag, what):
    if type(p) is not t:
        raise _Fail("%s payload must be %s, not %s" % (tag, what, _json_type(p)))


def _json_type(p):
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean",
            list: "an array", dict: "an object", _NoneType: "null"}.get(type(p), _tname(type(p)))


def _bad(tag, p, what):
    shown = _short(repr(p), 80) if type(p) is str else _json_type(p)
    return _Fail("%s payload %s is not %s" % (tag, shown, what))


def _d_int(p, depth, st):
    _want(p, str, "$int", "a string")
    if _rx("hex_int").fullmatch(p):
        return int(p, 16)
    if len(p) > _MAX_DEC_DIGITS + 1 or not _rx("dec_int").fullmatch(p) or \
            len(p.lstrip("-")) > _MAX_DEC_DIGITS:
        raise _bad("$int", p, "a decimal integer of at most %d digits or -?0x hex"
                   % _MAX_DEC_DIGITS)
    try:
        return int(p)
    except ValueError:  # the process lowered sys.set_int_max_str_digits
        import decimal

        return int(decimal.Decimal(p))


_FLOATS = {"nan": float("nan"), "-nan": float("-nan"), "inf": float("inf"),
           "-inf": float("-inf")}


def _d_float(p, depth, st):
    _want(p, str, "$float", "a string")
    f = _FLOATS.get(p)
    if f is None:
        raise _bad("$float", p, 'one of "nan", "-nan", "inf", "-inf"')
    return f


def _unb64(p, tag):
    _want(p, str, tag, "a string")
    if len(p) % 4 or not _rx("b64").fullmatch(p):
        raise _bad(tag, p, "padded standard base64")
    import binascii

    data = binascii.a2b_base64(p)
    tail = data[-(len(data) % 3 or 3):]  # the bytes of the last 4-character group
    if p and binascii.b2a_base64(tail, newline=False).decode("ascii") != p[-4:]:
        raise _bad(tag, p, "canonical base64 (unused bits must be zero)")
    return data


def _d_bytes(p, depth, st):
    return _unb64(p, "$bytes")


def _d_bytearray(p, depth, st):
    return bytearray(_unb64(p, "$bytearray"))


def _d_tuple(p, depth, st):
    _want(p, list, "$tuple", "an array")
    return tuple(_dec_list(p, depth + 1, st))


def _check_hashes(items, what):
    try:
        hashes = set(map(hash, items))
    except Exception:
        for n, x in enumerate(items):
            try:
                hash(x)
            except Exception as exc:
                raise _Fail("%s %d is not hashable (%s: %s)"
                            % (what, n, _tname(type(exc)), exc)) from None
        raise
    if len(items) - len(hashes) > _MAX_COLLISIONS:
        raise _Fail("%s: too many with equal hashes (%d)" % (what, len(items) - len(hashes)))


def _make_set(p, depth, st, tag, ctor):
    _want(p, list, tag, "an array")
    items = _dec_list(p, depth + 1, st)
    _check_hashes(items, tag + " element")
    try:
        s = ctor(items)
    except Exception as exc:
        raise _Fail("cannot build the %s: %s: %s" % (tag[1:], _tname(type(exc)), exc)) from None
    if len(s) != len(items):
        raise _Fail("%s payload has duplicate elements" % tag)
    return s


def _d_set(p, depth, st):
    return _make_set(p, depth, st, "$set", set)


def _d_frozenset(p, depth, st):
    return _make_set(p, depth, st, "$frozenset", frozenset)


def _d_dict(p, depth, st):
    _want(p, dict, "$dict", "an object")
    return _dec_obj(p, depth + 1, st)


def _d_map(p, depth, st):
    _want(p, list, "$map", "an array of [key, value] arrays")
    depth += 1
    _depth_check(depth, st)
    keys = []
    vals = []
    for n, pair in enumerate(p):
        if type(pair) is not list or len(pair) != 2:
            raise _Fail("$map entry %d must be a [key, value] array, not %s"
                        % (n, _json_type(pair)))
        try:
            k = _dec(pair[0], depth, st)
        except _Fail as e:
            e.parts.append("<key %d>" % n)
            raise
        try:
            vals.append(_dec(pair[1], depth, st))
        except _Fail as e:
            e.parts.append("[%s]" % _safe_repr(k))
            raise
        keys.append(k)
    _check_hashes(keys, "$map key")
    try:
        out = dict(zip(keys, vals))
    except Exception as exc:
        raise _Fail("cannot build the dict: %s: %s" % (_tname(type(exc)), exc)) from None
    if len(out) != len(keys):
        raise _Fail("$map payload has duplicate keys")
    return out


def _datetime():
    import datetime

    return datetime


def _two(m, i, hi, what, tag, p):
    n = int(m.group(i))
    if n > hi:
        raise _bad(tag, p, "a valid %s (%s %d)" % (tag[1:], what, n))
    return n


def _offset(m, i, tag, p):
    """tzinfo from the offset groups starting at group i (Z, sign, hh, mm, ss, us)."""
    dt = _datetime()
    if m.group(i) is not None:
        return dt.timezone.utc
    key = m.group(i + 1, i + 2, i + 3, i + 4, i + 5)
    if key[0] is None:
        return None
    tz = _TZ_CACHE.get(key)
    if tz is not None:
        return tz
    hh = _two(m, i + 2, 23, "offset hours", tag, p)
    mm = _two(m, i + 3, 59, "offset minutes", tag, p)
    ss = _two(m, i + 4, 59, "offset seconds", tag, p) if m.group(i + 4) else 0
    us = int(m.group(i + 5)) if m.group(i + 5) else 0
    off = dt.timedelta(hours=hh, minutes=mm, seconds=ss, microseconds=us)
    if m.group(i + 1) == "-":
        off = -off
    if len(_TZ_CACHE) >= 256:
        _TZ_CACHE.clear()
    tz = _TZ_CACHE[key] = dt.timezone(off)
    return tz


_TZ_CACHE = {}


def _frac(text):
    return int(text.ljust(6, "0")) if text else 0


def _d_date(p, depth, st):
    _want(p, str, "$date", "a string")
    m = _rx("date").fullmatch(p)
    if m is None:
        raise _bad("$date", p, "YYYY-MM-DD")
    try:
        return _datetime().date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise _bad("$date", p, "a valid date (%s)" % exc) from None


def _d_time(p, depth, st):
    _want(p, str, "$time", "a string")
    m = _rx("time").fullmatch(p)
    if m is None:
        raise _bad("$time", p, "HH:MM:SS[.ffffff][+HH:MM]")
    tz = _offset(m, 5, "$time", p)
    try:
        return _datetime().time(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                _frac(m.group(4)), tz)
    except ValueError as exc:
        raise _bad("$time", p, "a valid time (%s)" % exc) from None


def _d_datetime(p, depth, st):
    _want(p, str, "$datetime", "a string")
    m = _rx("datetime").fullmatch(p)
    if m is None:
        raise _bad("$datetime", p, "YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM[[Zone/Key]]]")
    tz = _offset(m, 8, "$datetime", p)
    if tz is None and m.group(14) is not None:
        raise _bad("$datetime", p, "valid: a [zone key] needs an offset before it")
    try:
        return _datetime().datetime(
            int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
            int(m.group(5)), int(m.group(6)), _frac(m.group(7)), tz)
    except ValueError as exc:
        raise _bad("$datetime", p, "a valid datetime (%s)" % exc) from None


def _d_timedelta(p, depth, st):
    if type(p) is not list or len(p) != 3 or any(type(x) is not int for x in p):
        raise _Fail("$timedelta payload must be [days, seconds, microseconds] integers, not %s"
                    % (_short(repr(p), 80) if type(p) is list else _json_type(p)))
    try:
        td = _datetime().timedelta(p[0], p[1], p[2])
    except (OverflowError, ValueError) as exc:
        raise _Fail("$timedelta payload out of range: %s" % exc) from None
    if [td.days, td.seconds, td.microseconds] != p:
        raise _Fail("$timedelta payload is not normalized (0 <= seconds < 86400, "
                    "0 <= microseconds < 1000000)")
    return td


def _d_decimal(p, depth, st):
    _want(p, str, "$decimal", "a string")
    if not _rx("decimal").fullmatch(p):
        raise _bad("$decimal", p, "a decimal number, Infinity, NaN or sNaN")
    import decimal

    try:
        d = decimal.Decimal(p)
    except (ArithmeticError, ValueError) as exc:
        raise _bad("$decimal", p, "a representable decimal (%s)" % _tname(type(exc))) from None
    if d.is_nan() != (p.lstrip("+-")[:1] in ("n", "N", "s", "S")):  # an untrapping context
        # turns conversion errors into NaN
        raise _bad("$decimal", p, "a representable decimal")
    return d


def _complex_part(x):
    t = type(x)
    if t is float or t is int:
        try:
            return float(x)
        except OverflowError:
            raise _Fail("$complex part %s is out of range" % _safe_repr(x)) from None
    if t is str and x in _FLOATS:
        return _FLOATS[x]
    raise _Fail('$complex parts must be numbers or "nan", "-nan", "inf", "-inf", not %s'
                % (_short(repr(x), 80) if t is str else _json_type(x)))


def _d_complex(p, depth, st):
    if type(p) is not list or len(p) != 2:
        raise _Fail("$complex payload must be a [real, imag] array, not %s" % _json_type(p))
    return complex(_complex_part(p[0]), _complex_part(p[1]))


def _d_uuid(p, depth, st):
    _want(p, str, "$uuid", "a string")
    if not _rx("uuid").fullmatch(p):
        raise _bad("$uuid", p, "a lowercase 8-4-4-4-12 hex UUID")
    import uuid

    return uuid.UUID(int=int(p.replace("-", ""), 16))


def _d_path(p, depth, st):
    _want(p, str, "$path", "a string")
    if st.check and not p.isascii():
        _check_surrogates(p)
    import pathlib

    return pathlib.PurePosixPath(p)


def _identity(p, tag, keys):
    if type(p) is not dict:
        raise _Fail("%s payload must be an object, not %s" % (tag, _json_type(p)))
    if len(p) != len(keys) or any(k not in p for k in keys):
        raise _Fail("%s payload must have exactly the keys %s, not %s"
                    % (tag, ", ".join(keys), _short(", ".join(map(str, p)), 120)))
    module, qualname = p["module"], p["qualname"]
    if type(module) is not str or type(qualname) is not str or not module or not qualname:
        raise _Fail("%s module and qualname must be non-empty strings" % tag)
    if not (module.isascii() and qualname.isascii()):
        _check_surrogates(module)
        _check_surrogates(qualname)
    return module, qualname


def _d_enum(p, depth, st):
    module, qualname = _identity(p, "$enum", ("module", "qualname", "name", "value"))
    name = p["name"]
    if name is not None and type(name) is not str:
        raise _Fail("$enum name must be a string or null, not %s" % _json_type(name))
    if name is not None and not name.isascii():
        _check_surrogates(name)
    _depth_check(depth + 1, st)  # a member counts as a level, like a container
    try:
        value = _dec(p["value"], depth + 1, st)
    except _Fail as e:
        e.parts.append(".value")
        raise
    cls = st.types.get((module, qualname)) if st.types else None
    if cls is None:
        return value
    enum = sys.modules["enum"]
    if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
        raise _Fail("%s.%s is registered as %r, which is not an Enum"
                    % (module, qualname, _tname(cls)))
    try:
        return cls(value)
    except Exception as exc:
        raise _Fail("%s is not a value of the registered enum %s.%s (%s)"
                    % (_safe_repr(value), module, qualname, _tname(type(exc)))) from None


def _d_dataclass(p, depth, st):
    module, qualname = _identity(p, "$dataclass", ("module", "qualname", "fields"))
    raw = p["fields"]
    if type(raw) is not dict:
        raise _Fail("$dataclass fields must be an object, not %s" % _json_type(raw))
    depth += 1
    _depth_check(depth, st)
    fields = {}
    name = None
    try:
        for name, x in raw.items():
            if type(name) is not str or not name.isidentifier():
                raise _Fail("$dataclass field names must be identifiers, not %s"
                            % _safe_repr(name))
            fields[name] = _dec(x, depth, st)
    except _Fail as e:
        e.parts.append("." + name if type(name) is str and name.isidentifier()
                       else "<field %s>" % _safe_repr(name))
        raise
    cls = st.types.get((module, qualname)) if st.types else None
    if cls is None:
        return Record._trusted(module, qualname, fields)
    return _build_dataclass(cls, module, qualname, fields)


def _build_dataclass(cls, module, qualname, fields):
    if getattr(cls, "__dataclass_fields__", None) is None:
        raise _Fail("%s.%s is registered as %r, which is not a dataclass"
                    % (module, qualname, _tname(cls)))
    names = _field_names(cls)
    if set(names) != set(fields):
        raise _Fail("fields (%s) do not match the registered class %s (%s)"
                    % (_short(", ".join(fields), 120), _tname(cls),
                       _short(", ".join(names), 120)))
    # No __init__ or __post_init__: the instance is made with __new__ and each field set with
    # object.__setattr__ (which also works for frozen and slots dataclasses).
    try:
        obj = cls.__new__(cls)
        for n in names:
            object.__setattr__(obj, n, fields[n])
    except Exception as exc:
        raise _Fail("cannot build %r: %s: %s" % (_tname(cls), _tname(type(exc)), exc)) from None
    return obj


_DECODERS = {
    "$int": _d_int, "$float": _d_float, "$bytes": _d_bytes, "$bytearray": _d_bytearray,
    "$tuple": _d_tuple, "$set": _d_set, "$frozenset": _d_frozenset, "$dict": _d_dict,
    "$map": _d_map, "$date": _d_date, "$time": _d_time, "$datetime": _d_datetime,
    "$timedelta": _d_timedelta, "$decimal": _d_decimal, "$complex": _d_complex,
    "$uuid": _d_uuid, "$path": _d_path, "$enum": _d_enum, "$dataclass": _d_dataclass,
}
assert set(_DECODERS) == _TAGS


def _registry(types):
    """{(module, qualname): class} from ``types=``: an iterable of dataclasses and Enum
    classes (each under its own identity), or a mapping {"module:qualname": class}."""
    if not types:
        return None
    if isinstance(types, type):
        raise TypeError("types= takes an iterable of classes, not a single class")
    if hasattr(types, "items"):
        items = []
        for key, cls in types.items():
            if type(key) is str and ":" in key:
                items.append((tuple(key.split(":", 1)), cls))
            elif type(key) is tuple and len(key) == 2 and all(type(x) is str for x in key):
                items.append((key, cls))
            else:
                raise TypeError('types= mapping keys are "module:qualname", not %r' % (key,))
    else:
        items = [(None, cls) for cls in types]
    enum = sys.modules.get("enum")
    reg = {}
    for ident, cls in items:
        if not isinstance(cls, type) or not (
            getattr(cls, "__dataclass_fields__", None) is not None
            or (enum is not None and issubclass(cls, enum.Enum))
        ):
            raise TypeError("types= takes dataclasses and Enum classes, not %r" % (cls,))
        if ident is None:
            ident = (cls.__module__, cls.__qualname__)
        if reg.get(ident, cls) is not cls:
            raise TypeError("types=: two classes for %s:%s" % ident)
        reg[ident] = cls
    return reg


def _reject_constant(name):
    raise _Fail("not JSON: %s" % name)


def _checked_int(text):
    if len(text) > _MAX_DEC_DIGITS + 1:
        raise _Fail("a JSON number with more than %d digits" % _MAX_DEC_DIGITS)
    return int(text)


_JSON_DECODERS = {}


def _json_decoder():
    # Where int() has no digit limit (3.9, 3.10, or the limit switched off), long integer
    # literals would take quadratic time: check their length first.
    get = getattr(sys, "get_int_max_str_digits", None)
    guard = get is None or not 0 < get() <= _MAX_DEC_DIGITS
    dec = _JSON_DECODERS.get(guard)
    if dec is None:
        if guard:
            dec = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_checked_int)
        else:
            dec = json.JSONDecoder(parse_constant=_reject_constant)
        _JSON_DECODERS[guard] = dec
    return dec


def _run_decode(obj, st, root):
    try:
        return _dec(obj, 0, st)
    except _Fail as e:
        e.raise_as(DecodeError, root)
    except RecursionError:
        raise DecodeError("%s: nested too deeply for the interpreter's recursion limit" % root,
                          root, "nested too deeply") from None
    except Exception as exc:  # a bug; the contract is DecodeError only
        raise DecodeError("%s: internal error while decoding: %s: %s"
                          % (root, _tname(type(exc)), exc), root, "internal error") from exc


def decode(obj, *, types=(), max_depth=100, root="value"):
    """Decode a JSON-compatible object made by ``encode`` (or parsed from ``dumps`` text).

    ``types``: dataclasses and Enum classes to rebuild (matched by the recorded module and
    qualname; or a mapping {"module:qualname": class}); other dataclasses decode to Record and
    other enum members to their plain value. Raises DecodeError (naming the place) on anything
    malformed, and for containers nested deeper than ``max_depth``."""
    st = _DecState(max_depth, True, False, _registry(types))
    return _run_decode(obj, st, root)


def _few_brackets(text, limit):
    """At most ``limit`` "[" and "{" in text (so no nesting deeper than limit)?"""
    n = 0
    for ch in "[{":
        i = text.find(ch)  # single-character find is a memchr
        while i >= 0:
            n += 1
            if n > limit:
                return False
            i = text.find(ch, i + 1)
    return True


def loads(text, *, types=(), max_depth=100, root="value"):
    """Decode JSON text (str, or UTF-8 bytes) made by ``dumps``. Same rules as ``decode``;
    raises only DecodeError for any text."""
    reg = _registry(types)
    st = _DecState(max_depth, False, True, reg)
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("%s: text is not valid UTF-8 (%s)" % (root, exc), root,
                              "not UTF-8") from None
    elif type(text) is not str:
        raise TypeError("loads() takes str or bytes, not %s" % _tname(type(text)))
    if not text.isascii() and _rx("surrogate").search(text) is not None:
        raise DecodeError("%s: text contains a lone surrogate" % root, root,
                          "text contains a lone surrogate")
    dollar_escape = False
    if "\\" in text and "\\u" in text:
        if _rx("surrogate_escape").search(text) is not None:
            st.check = True  # \ud800-\udfff escapes: check the strings they make
        dollar_escape = "\\u0024" in text
    try:
        obj = _json_decoder().decode(text)
    except _Fail as e:
        e.raise_as(DecodeError, root)
    except RecursionError:
        raise DecodeError("%s: not valid JSON: nested too deeply to parse" % root, root,
                          "nested too deeply") from None
    except ValueError as exc:
        raise DecodeError("%s: not valid JSON: %s" % (root, exc), root, "not valid JSON") from None
    # Fast path: no key starts with "$" (so there is no tag; a "$" key with a backslash escape in
    # it counts as one, and "\u0024" was caught above) and nothing is nested deeper than
    # max_depth (too few brackets for it, or a check a level at a time): the parsed object is
    # the value.
    if (not st.check and not dollar_escape
            and ("$" not in text or _rx("dollar_key").search(text) is None)
            and (_few_brackets(text, max_depth) or _json_depth_ok(obj, max_depth))):
        return obj
    return _run_decode(obj, st, root)
