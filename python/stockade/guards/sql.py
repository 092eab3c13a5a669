"""SQL identifiers, ``IN`` lists and ``ORDER BY`` for SQLite, PostgreSQL and MySQL.

Values go in as bind parameters, always; these helpers are for the parts of a statement that
cannot be parameters: table and column names, the number of placeholders, the sort column and
direction. An identifier either passes :func:`validate_identifier` (safe *unquoted*: ASCII
letters, digits and ``_``, not a keyword of the dialect) or is quoted by
:func:`quote_identifier`; a name the database would truncate or cannot store is refused, never
adjusted.

Quoting, per dialect:

* PostgreSQL: ``"name"`` with ``"`` doubled. At most 63 *bytes* (NAMEDATALEN - 1): the server
  silently truncates longer names, so two different long names could meet as one.
* MySQL: ```name``` with ````` doubled (works whatever ``sql_mode``; double quotes would be a
  string under the default mode). At most 64 characters, Basic Multilingual Plane only, no
  trailing space (the server refuses those).
* SQLite: ```name``` too. SQLite reads a double-quoted word that names no column as a *string
  literal* (its "DQS" compatibility rule: ``SELECT "nmae" FROM t`` returns the text ``nmae`` on
  every row instead of failing); a backquoted one is always an identifier and a typo fails.
  SQLite has no length limit; we refuse more than 1024 characters.

All refuse NUL (the C APIs would cut the name there) and the empty name.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

DIALECTS = ("sqlite", "postgresql", "mysql")
_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "sqlite3": "sqlite", "mariadb": "mysql"}


class IdentifierError(ValueError):
    """An identifier, direction or list was refused; the message says which rule."""


# Keywords that cannot stand unquoted as a table or column name. PostgreSQL: every keyword that
# is not "unreserved" (pg_get_keywords() catcode R, T or C) in PostgreSQL 15-17; the tests check
# the running server's list is covered. SQLite: its whole keyword list (147 words): most
# can be used as names by its fallback rules, but which ones depends on the position, so none
# are trusted. MySQL 8.0/8.4: the words its manual marks (R).
RESERVED: Dict[str, frozenset] = {
    "postgresql": frozenset(
        """
        ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC AUTHORIZATION BETWEEN BIGINT BINARY BIT
        BOOLEAN BOTH CASE CAST CHAR CHARACTER CHECK COALESCE COLLATE COLLATION COLUMN CONCURRENTLY
        CONSTRAINT CREATE CROSS CURRENT_CATALOG CURRENT_DATE CURRENT_ROLE CURRENT_SCHEMA
        CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEC DECIMAL DEFAULT DEFERRABLE DESC DISTINCT DO
        ELSE END EXCEPT EXISTS EXTRACT FALSE FETCH FLOAT FOR FOREIGN FREEZE FROM FULL GRANT GREATEST
        GROUP GROUPING HAVING ILIKE IN INITIALLY INNER INOUT INT INTEGER INTERSECT INTERVAL INTO IS
        ISNULL JOIN JSON JSON_ARRAY JSON_ARRAYAGG JSON_EXISTS JSON_OBJECT JSON_OBJECTAGG JSON_QUERY
        JSON_SCALAR JSON_SERIALIZE JSON_TABLE JSON_VALUE LATERAL LEADING LEAST LEFT LIKE LIMIT
        LOCALTIME LOCALTIMESTAMP MERGE_ACTION NATIONAL NATURAL NCHAR NONE NORMALIZE NOT NOTNULL
        NULL NULLIF NUMERIC OFFSET ON ONLY OR ORDER OUT OUTER OVERLAPS OVERLAY PLACING POSITION
        PRECISION PRIMARY REAL REFERENCES RETURNING RIGHT ROW SELECT SESSION_USER SETOF SIMILAR
        SMALLINT SOME SUBSTRING SYMMETRIC SYSTEM_USER TABLE TABLESAMPLE THEN TIME TIMESTAMP TO
        TRAILING TREAT TRIM TRUE UNION UNIQUE USER USING VALUES VARCHAR VARIADIC VERBOSE WHEN WHERE
        WINDOW WITH XMLATTRIBUTES XMLCONCAT XMLELEMENT XMLEXISTS XMLFOREST XMLNAMESPACES XMLPARSE
        XMLPI XMLROOT XMLSERIALIZE XMLTABLE
        """.split()
    ),
    "sqlite": frozenset(
        """
        ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN
        BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS
        CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED
        DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS
        EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING
        IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL
        JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL NULLS
        OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE
        RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT
        ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER
        UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
        """.split()
    ),
    "mysql": frozenset(
        """
        ACCESSIBLE ADD ALL ALTER ANALYZE AND AS ASC ASENSITIVE BEFORE BETWEEN BIGINT BINARY BLOB
        BOTH BY CALL CASCADE CASE CHANGE CHAR CHARACTER CHECK COLLATE COLUMN CONDITION CONSTRAINT
        CONTINUE CONVERT CREATE CROSS CUBE CUME_DIST CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP
        CURRENT_USER CURSOR DATABASE DATABASES DAY_HOUR DAY_MICROSECOND DAY_MINUTE DAY_SECOND DEC
        DECIMAL DECLARE DEFAULT DELAYED DELETE DENSE_RANK DESC DESCRIBE DETERMINISTIC DISTINCT
        DISTINCTROW DIV DOUBLE DROP DUAL EACH ELSE ELSEIF EMPTY ENCLOSED ESCAPED EXCEPT EXISTS EXIT
        EXPLAIN FALSE FETCH FIRST_VALUE FLOAT FLOAT4 FLOAT8 FOR FORCE FOREIGN FROM FULLTEXT FUNCTION
        GENERATED GET GRANT GROUP GROUPING GROUPS HAVING HIGH_PRIORITY HOUR_MICROSECOND HOUR_MINUTE
        HOUR_SECOND IF IGNORE IN INDEX INFILE INNER INOUT INSENSITIVE INSERT INT INT1 INT2 INT3 INT4
        INT8 INTEGER INTERSECT INTERVAL INTO IO_AFTER_GTIDS IO_BEFORE_GTIDS IS ITERATE JOIN
        JSON_TABLE KEY KEYS KILL LAG LAST_VALUE LATERAL LEAD LEADING LEAVE LEFT LIKE LIMIT LINEAR
        LINES LOAD LOCALTIME LOCALTIMESTAMP LOCK LONG LONGBLOB LONGTEXT LOOP LOW_PRIORITY MANUAL
        MASTER_BIND MASTER_SSL_VERIFY_SERVER_CERT MATCH MAXVALUE MEDIUMBLOB MEDIUMINT MEDIUMTEXT
        MIDDLEINT MINUTE_MICROSECOND MINUTE_SECOND MOD MODIFIES NATURAL NOT NO_WRITE_TO_BINLOG
        NTH_VALUE NTILE NULL NUMERIC OF ON OPTIMIZE OPTIMIZER_COSTS OPTION OPTIONALLY OR ORDER OUT
        OUTER OUTFILE OVER PARALLEL PARTITION PERCENT_RANK PRECISION PRIMARY PROCEDURE PURGE
        QUALIFY RANGE RANK READ READS READ_WRITE REAL RECURSIVE REFERENCES REGEXP RELEASE RENAME
        REPEAT REPLACE REQUIRE RESIGNAL RESTRICT RETURN REVOKE RIGHT RLIKE ROW ROWS ROW_NUMBER
        SCHEMA SCHEMAS SECOND_MICROSECOND SELECT SENSITIVE SEPARATOR SET SHOW SIGNAL SMALLINT
        SPATIAL SPECIFIC SQL SQLEXCEPTION SQLSTATE SQLWARNING SQL_BIG_RESULT SQL_CALC_FOUND_ROWS
        SQL_SMALL_RESULT SSL STARTING STORED STRAIGHT_JOIN SYSTEM TABLE TABLESAMPLE TERMINATED THEN
        TINYBLOB TINYINT TINYTEXT TO TRAILING TRIGGER TRUE UNDO UNION UNIQUE UNLOCK UNSIGNED UPDATE
        USAGE USE USING UTC_DATE UTC_TIME UTC_TIMESTAMP VALUES VARBINARY VARCHAR VARCHARACTER
        VARYING VIRTUAL WHEN WHERE WHILE WINDOW WITH WRITE XOR YEAR_MONTH ZEROFILL
        """.split()
    ),
}

_QUOTE = {"postgresql": '"', "mysql": "`", "sqlite": "`"}
_SQLITE_MAX = 1024


def dialect_of(dialect: str) -> str:
    d = dialect.lower()
    d = _ALIASES.get(d, d)
    if d not in DIALECTS:
        raise IdentifierError(f"unknown SQL dialect {dialect!r} (one of {', '.join(DIALECTS)})")
    return d


def _check_storable(name: Any, d: str) -> str:
    if not isinstance(name, str):
        raise IdentifierError(f"an identifier is a str, not {type(name).__name__}")
    if not name:
        raise IdentifierError("empty identifier")
    if "\x00" in name:
        raise IdentifierError("NUL in identifier")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise IdentifierError("identifier is not valid Unicode (lone surrogate)") from None
    if d == "postgresql" and len(encoded) > 63:
        raise IdentifierError(f"identifier is {len(encoded)} bytes; PostgreSQL keeps 63 and truncates the rest")
    if d == "mysql":
        if len(name) > 64:
            raise IdentifierError(f"identifier is {len(name)} characters; MySQL allows 64")
        if any(ord(c) > 0xFFFF for c in name):
            raise IdentifierError("MySQL identifiers are limited to the Basic Multilingual Plane")
        if name.endswith(" "):
            raise IdentifierError("MySQL identifiers cannot end with a space")
    if d == "sqlite" and len(name) > _SQLITE_MAX:
        raise IdentifierError(f"identifier is {len(name)} characters; refused above {_SQLITE_MAX}")
    return name


def _plain(name: str) -> bool:
    return name.isascii() and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)


def validate_identifier(name: str, dialect: str = "postgresql") -> str:
    """``name`` if it is safe to write *unquoted* in ``dialect``: ASCII letters, digits and
    ``_``, not starting with a digit, not a keyword, within the length limit. Otherwise
    :class:`IdentifierError`. (PostgreSQL folds unquoted names to lower case, so ``Users``
    names the table ``users``.)"""
    d = dialect_of(dialect)
    _check_storable(name, d)
    if not _plain(name):
        raise IdentifierError(f"{name!r} is not a plain identifier (ASCII letters, digits, _; quote it instead)")
    if name.upper() in RESERVED[d]:
        raise IdentifierError(f"{name!r} is a reserved word in {d}")
    return name


def quote_identifier(name: str, dialect: str = "postgresql") -> str:
    """``name`` as a quoted identifier of ``dialect`` that the server reads back as exactly
    ``name`` (any characters but NUL; see the module's docstring for each dialect's limits)."""
    d = dialect_of(dialect)
    _check_storable(name, d)
    q = _QUOTE[d]
    return q + name.replace(q, q + q) + q


def quote_qualified(parts: Sequence[str], dialect: str = "postgresql") -> str:
    """``schema.table`` (or ``table.column``, ...), each part quoted on its own: a dot inside one
    part stays part of that name."""
    if not parts:
        raise IdentifierError("empty qualified name")
    return ".".join(quote_identifier(p, dialect) for p in parts)


PARAMSTYLES = ("qmark", "numeric", "named", "format", "pyformat", "dollar")


def in_list(
    values: Iterable[Any],
    paramstyle: str = "qmark",
    *,
    start: int = 1,
    prefix: str = "p",
    max_params: int = 32766,
) -> Tuple[str, Union[List[Any], Dict[str, Any]]]:
    """The parenthesised placeholder list for ``column IN (...)`` and its parameters, in the
    driver's ``paramstyle`` (PEP 249's five, plus ``dollar`` for asyncpg's ``$1``). ``numeric``
    and ``dollar`` count from ``start``; ``named`` and ``pyformat`` name them ``prefix0``, ...

    An empty list is refused: ``IN ()`` is a syntax error in PostgreSQL and MySQL, ``IN (NULL)``
    makes ``NOT IN`` false for every row, and an empty subquery has a type in PostgreSQL that
    must match the column's. :func:`in_clause` writes the whole predicate and handles it.
    ``max_params`` (SQLite's default limit) refuses lists the server would refuse with a less
    clear error.
    """
    vals = list(values)
    if paramstyle not in PARAMSTYLES:
        raise IdentifierError(f"unknown paramstyle {paramstyle!r} (one of {', '.join(PARAMSTYLES)})")
    if len(vals) > max_params:
        raise IdentifierError(f"{len(vals)} values in one IN list; the limit is {max_params}")
    named = paramstyle in ("named", "pyformat")
    if not vals:
        raise IdentifierError("empty IN list (use in_clause, which writes 1 = 0 or 1 = 1 for it)")
    if named and not (prefix.isidentifier() and prefix.isascii()):
        raise IdentifierError(f"parameter prefix {prefix!r} is not an identifier")
    marks = {
        "qmark": lambda i: "?",
        "format": lambda i: "%s",
        "numeric": lambda i: f":{start + i}",
        "dollar": lambda i: f"${start + i}",
        "named": lambda i: f":{prefix}{i}",
        "pyformat": lambda i: f"%({prefix}{i})s",
    }[paramstyle]
    sql = "(" + ", ".join(marks(i) for i in range(len(vals))) + ")"
    if named:
        return sql, {f"{prefix}{i}": v for i, v in enumerate(vals)}
    return sql, vals


def in_clause(
    column: str,
    values: Iterable[Any],
    paramstyle: str = "qmark",
    *,
    negate: bool = False,
    dialect: str = "postgresql",
    **kw: Any,
) -> Tuple[str, Union[List[Any], Dict[str, Any]]]:
    """``<column> IN (...)`` (``NOT IN`` with ``negate``) and its parameters; ``column`` is a
    (possibly dotted) identifier, quoted here. With no values the predicate is the constant
    ``1 = 0`` (``1 = 1`` negated), which is what ``IN`` of nothing means. Other keywords go to
    :func:`in_list`."""
    vals = list(values)
    if not vals:
        named = paramstyle in ("named", "pyformat")
        return ("1 = 1" if negate else "1 = 0"), ({} if named else [])
    placeholders, params = in_list(vals, paramstyle, **kw)
    col = quote_qualified(column.split("."), dialect)
    return f"{col} {'NOT IN' if negate else 'IN'} {placeholders}", params


def order_by(
    column: str,
    direction: str = "asc",
    *,
    allowed: Union[Mapping[str, str], Iterable[str]],
    dialect: str = "postgresql",
    nulls: Union[str, None] = None,
) -> str:
    """``ORDER BY <column> <ASC|DESC>`` from request values, checked against an allow-list.

    ``allowed`` maps the names a client may send to the columns they sort by (``{"age":
    "users.birth_year"}``: dotted columns are quoted part by part), or is a collection of column
    names allowed as they are. ``direction`` is ``asc`` or ``desc`` (any case); ``nulls``
    optionally ``first`` or ``last`` (not in MySQL, which has no such clause). Anything else is
    an :class:`IdentifierError`, never passed through.
    """
    table = dict(allowed) if isinstance(allowed, Mapping) else {c: c for c in allowed}
    if not isinstance(column, str) or column not in table:
        raise IdentifierError(f"cannot sort by {column!r} (allowed: {', '.join(sorted(table))})")
    if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise IdentifierError(f"sort direction must be asc or desc, not {direction!r}")
    d = dialect_of(dialect)
    sql = f"ORDER BY {quote_qualified(table[column].split('.'), d)} {direction.upper()}"
    if nulls is not None:
        if d == "mysql" or not isinstance(nulls, str) or nulls.lower() not in ("first", "last"):
            raise IdentifierError(f"NULLS {nulls!r} is not available here")
        sql += f" NULLS {nulls.upper()}"
    return sql
