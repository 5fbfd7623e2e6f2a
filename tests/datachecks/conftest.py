"""A source database whose tables have known defects, built once per session.

`raw.candles`: two symbols, one row per day of November 2026, loaded the next morning at
06:00 UTC, except these defects: a duplicate (AAA, 2026-11-10) loaded last (so AAA's days
also go backwards once in load order), a NULL close (BBB, 2026-11-05), a negative close
(AAA, 2026-11-20), an unknown status (BBB, 2026-11-07) and a missing day (BBB, 2026-11-15).
`raw.trades` references `raw.symbols`, with one orphan symbol. `raw.fx` was last loaded
on Friday 2026-12-04 at 06:05 UTC by a weekday loader. `raw.labels` holds a quote, a
backslash and an accent. `raw.pairs` repeats
(x, 1) once, and keys with a NULL in either column. `public."Daily.Stats"` has a
mixed-case column and a NULL in it; `raw.purge_candles()` deletes every candle (it must
never succeed from a data check).

Tests only read it (data checks run read-only), so it is shared. The `defects` fixture
is the same database on each engine in turn: MariaDB (a service: its tests skip when it
is absent, unless OPSHEALTH_REQUIRE_SERVICES=1) and a DuckDB file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import psycopg
import pymysql
import pytest
from django.db import connection
from psycopg import sql

from registry.models import RegistryObject, Source
from tests.conftest import require_service
from tests.factories.registry import RegistryObjectFactory, SourceFactory
from tests.registry.conftest import MARIADB, MariaDb, dsn_for

DEFECTS_SQL = """
CREATE SCHEMA raw;
CREATE TABLE raw.candles (seq integer, symbol text, day date, close numeric(10, 2), status text,
                          loaded_at timestamptz);
INSERT INTO raw.candles
SELECT row_number() OVER (ORDER BY s, d), s, d::date, 100 + extract(day FROM d), 'ok',
       d + interval '1 day 6 hours'
FROM unnest(ARRAY['AAA', 'BBB']) AS s, generate_series(timestamptz '2026-11-01 00:00+00',
     timestamptz '2026-11-30 00:00+00', interval '1 day') AS d
WHERE NOT (s = 'BBB' AND d = '2026-11-15');
INSERT INTO raw.candles VALUES (1000, 'AAA', '2026-11-10', 110, 'ok', '2026-11-11 06:00+00');
UPDATE raw.candles SET close = NULL WHERE symbol = 'BBB' AND day = '2026-11-05';
UPDATE raw.candles SET close = -1 WHERE symbol = 'AAA' AND day = '2026-11-20';
UPDATE raw.candles SET status = 'halted' WHERE symbol = 'BBB' AND day = '2026-11-07';
CREATE TABLE raw.labels (label text);
INSERT INTO raw.labels VALUES ('ok'), ('it''s'), ('a\\b'), ('é');
CREATE TABLE raw.pairs (a text, b integer);
INSERT INTO raw.pairs VALUES ('x', 1), ('x', 1), (NULL, 2), (NULL, 2), ('y', NULL), ('y', NULL), ('y', 3);
CREATE TABLE raw.symbols (symbol text PRIMARY KEY);
INSERT INTO raw.symbols VALUES ('AAA'), ('BBB');
CREATE TABLE raw.trades (trade_id integer PRIMARY KEY, symbol text);
INSERT INTO raw.trades VALUES (1, 'AAA'), (2, 'BBB'), (3, 'ZZZ'), (4, NULL);
CREATE TABLE raw.fx (currency text, rate numeric, loaded_at timestamptz);
CREATE FUNCTION raw.purge_candles() RETURNS SETOF integer LANGUAGE sql
    AS 'DELETE FROM raw.candles RETURNING seq';
CREATE TABLE public."Daily.Stats" ("Day" date, n integer);
INSERT INTO public."Daily.Stats" VALUES ('2026-11-30', 1), (NULL, 2);
INSERT INTO raw.fx VALUES ('USD', 1.1, '2026-12-03 06:04+00'), ('USD', 1.2, '2026-12-04 06:05+00');
"""


def _admin_dsn() -> str:
    return dsn_for(connection.settings_dict["NAME"])


@pytest.fixture(scope="session")
def defects_db(django_db_setup, django_db_blocker):
    name = f"test_datachecks_{os.getpid()}"
    with django_db_blocker.unblock():
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        dsn = dsn_for(name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(DEFECTS_SQL)
        yield dsn
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def defects_source(db, defects_db):
    return SourceFactory(name="defects", dsn=defects_db)


@pytest.fixture
def candles(defects_source):
    return RegistryObjectFactory(source=defects_source, schema_name="raw", object_name="candles")


@pytest.fixture
def registry_object(defects_source):
    """The registry object of a table of the defects database, by name."""

    made = {}

    def make(name: str):
        if name not in made:
            made[name] = RegistryObjectFactory(source=defects_source, schema_name="raw", object_name=name)
        return made[name]

    return make


# --- the same defects on every engine -------------------------------------------------


def candle_rows() -> list[tuple]:
    """raw.candles' rows as DEFECTS_SQL leaves them, in its insertion order (physical
    order where no UPDATE moved a row: DuckDB's rowid)."""
    rows = []
    for symbol in ("AAA", "BBB"):
        for d in range(1, 31):
            day = date(2026, 11, d)
            if (symbol, d) == ("BBB", 15):
                continue
            close = {("BBB", 5): None, ("AAA", 20): -1}.get((symbol, d), 100 + d)
            status = "halted" if (symbol, d) == ("BBB", 7) else "ok"
            loaded_at = datetime.combine(day, time(6), UTC) + timedelta(days=1)
            rows.append((len(rows) + 1, symbol, day, close, status, loaded_at))
    rows.append((1000, "AAA", date(2026, 11, 10), 110, "ok", datetime(2026, 11, 11, 6, tzinfo=UTC)))
    return rows


OTHER_ROWS = {
    "labels": [("ok",), ("it's",), ("a\\b",), ("é",)],
    "pairs": [("x", 1), ("x", 1), (None, 2), (None, 2), ("y", None), ("y", None), ("y", 3)],
    "symbols": [("AAA",), ("BBB",)],
    "trades": [(1, "AAA"), (2, "BBB"), (3, "ZZZ"), (4, None)],
    "fx": [
        ("USD", 1.1, datetime(2026, 12, 3, 6, 4, tzinfo=UTC)),
        ("USD", 1.2, datetime(2026, 12, 4, 6, 5, tzinfo=UTC)),
    ],
}
DAILY_STATS_ROWS = [(date(2026, 11, 30), 1), (None, 2)]

MARIADB_DDL = """
CREATE TABLE {raw}.candles (seq integer, symbol varchar(10), day date, close decimal(10, 2),
                            status varchar(20), loaded_at timestamp NULL);
CREATE TABLE {raw}.labels (label varchar(10));
CREATE TABLE {raw}.pairs (a varchar(10), b integer);
CREATE TABLE {raw}.symbols (symbol varchar(10) PRIMARY KEY);
CREATE TABLE {raw}.trades (trade_id integer PRIMARY KEY, symbol varchar(10));
CREATE TABLE {raw}.fx (currency varchar(3), rate decimal(10, 4), loaded_at timestamp NULL);
CREATE FUNCTION {raw}.purge_candles() RETURNS integer MODIFIES SQL DATA
    BEGIN DELETE FROM {raw}.candles; RETURN 1; END;
CREATE TABLE {public}.`Daily.Stats` (`Day` date, n integer)
"""

DUCKDB_DDL = """
CREATE SCHEMA raw;
CREATE TABLE raw.candles (seq integer, symbol text, day date, close numeric(10, 2), status text,
                          loaded_at timestamptz);
CREATE TABLE raw.labels (label text);
CREATE TABLE raw.pairs (a text, b integer);
CREATE TABLE raw.symbols (symbol text PRIMARY KEY);
CREATE TABLE raw.trades (trade_id integer PRIMARY KEY, symbol text);
CREATE TABLE raw.fx (currency text, rate numeric, loaded_at timestamptz);
CREATE SCHEMA public;
CREATE TABLE public."Daily.Stats" ("Day" date, n integer);
"""


@dataclass(frozen=True)
class DefectsDb:
    """The defects database of one engine: `raw` and `public` are the names of its
    schemas (MariaDB's are databases, named per process on a shared server)."""

    engine: str
    dsn: str
    raw: str = "raw"
    public: str = "public"


@pytest.fixture(scope="session")
def defects_mariadb():
    try:
        conn = pymysql.connect(
            **MARIADB, autocommit=True, connect_timeout=3, init_command="SET time_zone = '+00:00'"
        )
    except pymysql.err.OperationalError as exc:
        require_service("MariaDB", str(exc))
    server = MariaDb(conn, [])
    raw, public = server.database("_raw"), server.database("_public")
    server.execute(*(s.format(raw=raw, public=public) for s in MARIADB_DDL.split(";\n")))
    with conn.cursor() as cur:
        inserts = [(f"{raw}.candles", candle_rows()), (f"{public}.`Daily.Stats`", DAILY_STATS_ROWS)]
        inserts += [(f"{raw}.{table}", rows) for table, rows in OTHER_ROWS.items()]
        for table, rows in inserts:
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", [_naive_utc(r) for r in rows])
    yield DefectsDb("mysql", server.dsn(raw), raw, public)
    server.execute(*(f"DROP DATABASE IF EXISTS `{name}`" for name in server.created))
    conn.close()


def _naive_utc(row: tuple) -> tuple:
    """PyMySQL sends datetimes without their zone: in UTC, the session's."""
    return tuple(v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v for v in row)


@pytest.fixture(scope="session")
def defects_duckdb(tmp_path_factory):
    path = tmp_path_factory.mktemp("defects") / "defects.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(DUCKDB_DDL)
        inserts = [("raw.candles", candle_rows()), ('public."Daily.Stats"', DAILY_STATS_ROWS)]
        inserts += [(f"raw.{table}", rows) for table, rows in OTHER_ROWS.items()]
        for table, rows in inserts:
            marks = ", ".join(["?"] * len(rows[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    return DefectsDb("duckdb", str(path))


@dataclass
class Defects:
    """The defects database of one engine as a registry source, and its objects."""

    db: DefectsDb
    source: Source
    made: dict = field(default_factory=dict)

    @property
    def engine(self) -> str:
        return self.db.engine

    def object(self, name: str, schema: str | None = None) -> RegistryObject:
        schema = schema or self.db.raw
        if (schema, name) not in self.made:
            self.made[schema, name] = RegistryObjectFactory(
                source=self.source, schema_name=schema, object_name=name
            )
        return self.made[schema, name]

    def sql(self, text: str) -> str:
        """`text` with `{raw}` naming the engine's raw schema."""
        return text.format(raw=self.db.raw)


ENGINES = ["postgresql", pytest.param("mysql", marks=pytest.mark.services), "duckdb"]


@pytest.fixture(params=ENGINES)
def defects(request, db) -> Defects:
    """The defects database on each engine, in turn."""
    if request.param == "postgresql":
        defects_db = DefectsDb("postgresql", request.getfixturevalue("defects_db"))
    else:
        defects_db = request.getfixturevalue(f"defects_{'mariadb' if request.param == 'mysql' else 'duckdb'}")
    source = SourceFactory(name="defects", engine=defects_db.engine, dsn=defects_db.dsn)
    return Defects(defects_db, source)
