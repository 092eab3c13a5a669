"""stockade.guards SQL: identifiers fuzzed through each database's real parser. SQLite in
process; PostgreSQL from Debian's packages (scripts/postgres, driven with psql: names are
quoted, created with CREATE TABLE, read back from the catalogue and with SELECT). MySQL has no
server here: its rules are checked as unit tests only."""
import random
import sqlite3
import subprocess

import pytest

from stockade.guards import IdentifierError, in_clause, in_list, order_by, quote_identifier, validate_identifier
from stockade.guards.sql import RESERVED

NASTY = [
    'x"; DROP TABLE keep; --', "x`; DROP TABLE keep; --", "a'b", 'a""b', "a``b", "semi;colon", "dash--dash",
    "sl/*ash*/", "new\nline", "tab\tbed", " lead", "trail ", "dot.ted", "[bracket]", "$1", "1abc", "ÄÖÜ",
    "日本語", "emoji😀", "select", "SELECT", "Table", "null", "\\", "%s", "?", ":p0", "é" * 31,
]


def ascii_lower(s):
    return "".join(c.lower() if c.isascii() else c for c in s)


def fuzz_names(n, seed, fold=False):
    """`n` names, distinct (also after ASCII case folding when `fold`: SQLite's table names
    ignore ASCII case even when quoted)."""
    rnd = random.Random(seed)
    pool = "abcXYZ019_ \"'`;-.$()[]*/\\\n\tÅé漢😀"
    names = {}
    for name in NASTY:
        names.setdefault(ascii_lower(name) if fold else name, name)
    while len(names) < n:
        name = "".join(rnd.choice(pool) for _ in range(rnd.randint(1, 20)))
        names.setdefault(ascii_lower(name) if fold else name, name)
    return sorted(names.values())


# ===== SQLite, in process =====

def test_sqlite_quoted_round_trip():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE keep (x)")
    for i, name in enumerate(fuzz_names(600, 1, fold=True)):
        q = quote_identifier(name, "sqlite")
        db.execute(f"CREATE TABLE {q} ({q} INTEGER)")
        db.execute(f"INSERT INTO {q} ({q}) VALUES (?)", (i,))
        assert db.execute(f"SELECT {q} FROM {q}").fetchall() == [(i,)], name
        assert db.execute("SELECT name FROM sqlite_master WHERE name = ?", (name,)).fetchall() == [(name,)]
        assert [r[1] for r in db.execute(f"PRAGMA table_info({q})")] == [name]
    assert db.execute("SELECT count(*) FROM keep").fetchone() == (0,)


def test_sqlite_control_naive_quoting_is_injectable():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE keep (x)")
    name = 'x" (a); DROP TABLE keep; --'
    db.executescript(f'CREATE TABLE "{name}" (y)')  # the control: the name ends the statement
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'keep'").fetchall()


def test_sqlite_double_quotes_fall_back_to_strings_backquotes_do_not():
    # Why SQLite gets backquotes: a double-quoted unknown column silently becomes a string.
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a)")
    db.execute("INSERT INTO t VALUES (1)")
    assert db.execute('SELECT "nmae" FROM t').fetchall() == [("nmae",)]
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        db.execute(f"SELECT {quote_identifier('nmae', 'sqlite')} FROM t")


def test_sqlite_validated_names_work_unquoted_and_keywords_are_refused():
    db = sqlite3.connect(":memory:")
    rnd = random.Random(2)
    accepted = 0
    for word in sorted(RESERVED["sqlite"]) + [f"{w.lower()}_x" for w in sorted(RESERVED["sqlite"])]:
        try:
            validate_identifier(word, "sqlite")
        except IdentifierError:
            assert word.upper() in RESERVED["sqlite"]
            continue
        db.execute(f"CREATE TABLE {word} ({word} INTEGER)")
        db.execute(f"SELECT {word} FROM {word}")
        accepted += 1
    assert accepted == len(RESERVED["sqlite"])  # every *_x, no keyword
    assert len(RESERVED["sqlite"]) == 147       # SQLite's documented keyword count
    for _ in range(300):
        name = "".join(rnd.choice("aZ_9$ -") for _ in range(rnd.randint(1, 12)))
        try:
            validate_identifier(name, "sqlite")
        except IdentifierError:
            continue
        db.execute(f"CREATE TABLE IF NOT EXISTS {name} ({name} INTEGER)")


# ===== PostgreSQL, the real server =====

def psql(url, sql):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url],
                         input=sql, capture_output=True, text=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def pg():
    from serve_util import postgres_url

    return postgres_url()


def test_postgres_quoted_round_trip(pg):
    names = [n for n in fuzz_names(500, 3) if len(n.encode()) <= 63]
    script = ["BEGIN;", "CREATE SCHEMA fz;", "CREATE TABLE keep (x int);"]
    for i, name in enumerate(names):
        q = "fz." + quote_identifier(name, "postgresql")
        c = quote_identifier(name, "postgresql")
        script += [f"CREATE TABLE {q} ({c} int);", f"INSERT INTO {q} ({c}) VALUES ({i});",
                   f"SELECT 'row', {c} FROM {q};"]
    script += ["SELECT 'cat', encode(convert_to(c.relname::text, 'UTF8'), 'hex'), "
               "encode(convert_to(a.attname::text, 'UTF8'), 'hex') FROM pg_class c "
               "JOIN pg_namespace s ON s.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
               "AND a.attnum = 1 WHERE s.nspname = 'fz' AND c.relkind = 'r';",
               "SELECT 'keep', count(*) FROM keep;", "COMMIT;"]
    out = psql(pg, "\n".join(script))
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [line for line in lines if line.startswith("row|")] == [f"row|{i}" for i in range(len(names))]
    cat = sorted(tuple(bytes.fromhex(h).decode() for h in line.split("|")[1:])
                 for line in lines if line.startswith("cat|"))
    assert cat == sorted((n, n) for n in names)
    assert "keep|0" in lines


def test_postgres_length_limit(pg):
    # The control: PostgreSQL truncates a 64-byte name, so two different names become one table.
    a, b = "t" * 63 + "1", "t" * 63 + "2"
    out = psql(pg, f'CREATE TABLE "{a}" (x int); CREATE TABLE "{b}" (x int);')
    assert out.returncode != 0 and "already exists" in out.stderr
    psql(pg, f'DROP TABLE "{a}";')
    for name in (a, "é" * 32):  # 64 bytes either way
        with pytest.raises(IdentifierError, match="63"):
            quote_identifier(name, "postgresql")
    exact = "é" * 31 + "x"  # 63 bytes: kept whole
    out = psql(pg, f"CREATE TABLE {quote_identifier(exact)} (x int); "
                   f"SELECT relname FROM pg_class WHERE relname = '{exact}';")
    assert out.returncode == 0 and out.stdout.strip() == exact, out.stderr


def test_postgres_keywords_covered_and_validated_names_work_unquoted(pg):
    out = psql(pg, "SELECT upper(word) FROM pg_get_keywords() WHERE catcode <> 'U';")
    assert out.returncode == 0, out.stderr
    server = set(out.stdout.split())
    assert len(server) > 100 and server <= RESERVED["postgresql"], server - RESERVED["postgresql"]
    out = psql(pg, "SELECT upper(word) FROM pg_get_keywords() WHERE catcode = 'U';")
    unreserved = sorted(set(out.stdout.split()))
    script = ["BEGIN;", "CREATE SCHEMA fv;"]
    for word in unreserved + [w.lower() + "_x" for w in sorted(server)]:
        if word.upper() in RESERVED["postgresql"]:
            continue
        validate_identifier(word, "postgresql")
        script.append(f"CREATE TABLE fv.{word} ({word} int); SELECT {word} FROM fv.{word};")
    for word in sorted(server):
        with pytest.raises(IdentifierError, match="reserved"):
            validate_identifier(word.lower(), "postgresql")
    # the control: a reserved word unquoted is a syntax error
    bad = psql(pg, "CREATE TABLE fv_select (select int);")
    assert bad.returncode != 0 and "syntax error" in bad.stderr
    out = psql(pg, "\n".join(script + ["COMMIT;"]))
    assert out.returncode == 0, out.stderr[-2000:]


# ===== MySQL: rules only (no server on this machine) =====

def test_mysql_quoting_rules():
    assert quote_identifier("a`b", "mysql") == "`a``b`"
    assert quote_identifier('a"b', "mysql") == '`a"b`'
    assert quote_identifier("x" * 64, "mysql") == "`" + "x" * 64 + "`"
    for bad, why in [("x" * 65, "64"), ("trail ", "space"), ("emoji😀", "Basic Multilingual"), ("a\x00", "NUL"), ("", "empty")]:
        with pytest.raises(IdentifierError, match=why):
            quote_identifier(bad, "mysql")
    assert quote_identifier("é" * 64, "mysql")  # characters, not bytes
    for word in ("select", "Interval", "KEY", "qualify"):
        with pytest.raises(IdentifierError, match="reserved"):
            validate_identifier(word, "mysql")
    assert validate_identifier("user_id", "mysql") == "user_id"


def test_identifier_refusals_everywhere():
    for d in ("sqlite", "postgresql", "mysql"):
        for bad in ("", "a\x00b", "\ud800"):
            with pytest.raises(IdentifierError):
                quote_identifier(bad, d)
        for bad in ("1abc", "a-b", "a b", "dot.ted", "ÄÖ", 'q"', "a$"):
            with pytest.raises(IdentifierError, match="plain"):
                validate_identifier(bad, d)
    with pytest.raises(IdentifierError, match="dialect"):
        quote_identifier("x", "oracle")
    assert quote_identifier("x", "postgres") == '"x"'


# ===== IN lists and ORDER BY =====

def test_in_list_in_sqlite():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (v)")
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    for vals in ([], [3], [1, 5, 7], ["3); DROP TABLE t; --"]):
        pred, params = in_clause("t.v", vals, dialect="sqlite")
        got = [r[0] for r in db.execute(f"SELECT v FROM t WHERE {pred} ORDER BY v", params)]
        assert got == sorted(v for v in vals if isinstance(v, int))
        pred, params = in_clause("v", vals, negate=True, dialect="sqlite")
        got = [r[0] for r in db.execute(f"SELECT v FROM t WHERE {pred} ORDER BY v", params)]
        assert got == [i for i in range(10) if i not in vals]
    frag, params = in_list([1, 2], "named", prefix="ids")
    assert db.execute(f"SELECT count(*) FROM t WHERE v IN {frag}", params).fetchone() == (2,)
    assert in_list([1, 2], "dollar", start=3) == ("($3, $4)", [1, 2])
    assert in_list([1], "pyformat") == ("(%(p0)s)", {"p0": 1})
    assert in_list([1, 2], "format") == ("(%s, %s)", [1, 2])
    for bad in ([], range(40000)):
        with pytest.raises(IdentifierError):
            in_list(bad)
    with pytest.raises(IdentifierError):
        in_list([1], "named", prefix="x; --")


def test_in_clause_in_postgres(pg):
    # PostgreSQL types an empty subquery's NULL as text: `int IN (SELECT NULL WHERE false)` is
    # an error there, hence the constant predicates.
    script = ["CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(0, 9);"]
    for vals in ([], [3, 5]):
        for negate in (False, True):
            pred, params = in_clause("v", vals, negate=negate)
            lit = pred.replace("?", "{}").format(*params)
            script.append(f"SELECT 'r', {len(vals)}, {int(negate)}, count(*) FROM t WHERE {lit};")
    out = psql(pg, "\n".join(script))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["r|0|0|0", "r|0|1|10", "r|2|0|2", "r|2|1|8"]


def test_order_by():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (name, birth_year)")
    db.executemany("INSERT INTO users VALUES (?, ?)", [("a", 1990), ("b", 1980), ("c", 2000)])
    allowed = {"name": "name", "age": "users.birth_year"}
    sql = order_by("age", "DESC", allowed=allowed, dialect="sqlite")
    assert sql == "ORDER BY `users`.`birth_year` DESC"
    assert [r[0] for r in db.execute(f"SELECT name FROM users {sql}")] == ["c", "a", "b"]
    for col, direction in [("birth_year", "asc"), ("name; DROP TABLE users", "asc"), ("name", "asc; --"),
                           ("name", "sideways"), (None, "asc")]:
        with pytest.raises(IdentifierError):
            order_by(col, direction, allowed=allowed)
    assert order_by("name", allowed=["name"], nulls="last") == 'ORDER BY "name" ASC NULLS LAST'
    with pytest.raises(IdentifierError):
        order_by("name", allowed=["name"], dialect="mysql", nulls="last")
