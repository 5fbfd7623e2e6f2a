"""A source database whose tables have known defects, built once per session.

`raw.candles`: two symbols, one row per day of November 2026, loaded the next morning at
06:00 UTC, except these defects: a duplicate (AAA, 2026-11-10) loaded last (so AAA's days
also go backwards once in load order), a NULL close (BBB, 2026-11-05), a negative close
(AAA, 2026-11-20), an unknown status (BBB, 2026-11-07) and a missing day (BBB, 2026-11-15).
`raw.trades` references `raw.symbols`, with one orphan symbol. `raw.fx` was last loaded
on Friday 2026-12-04 at 06:05 UTC by a weekday loader. `raw.pairs` repeats
(x, 1) once, and keys with a NULL in either column. `public."Daily.Stats"` has a
mixed-case column and a NULL in it; `raw.purge_candles()` deletes every candle (it must
never succeed from a data check).

Tests only read it (data checks run read-only), so it is shared.
"""

from __future__ import annotations

import os

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from tests.factories.registry import RegistryObjectFactory, SourceFactory
from tests.registry.conftest import dsn_for

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
