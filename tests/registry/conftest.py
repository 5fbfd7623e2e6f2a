"""Real warehouses for discovery tests: scratch databases on the test server, built and
mutated through their own autocommit connections, dropped after the test."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
import pymysql
import pytest
from django.apps import apps
from django.db import connection
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.conftest import require_service
from tests.factories.registry import SourceFactory

_counter = itertools.count()

# The standard test warehouse: every object type, a partitioned table, view chains,
# populated and unpopulated matviews, quoted mixed-case and dotted names, an excluded
# schema. Kept under 50 rows per table so autovacuum never re-analyzes it mid-test.
WAREHOUSE_SQL = """
CREATE SCHEMA raw; CREATE SCHEMA canon; CREATE SCHEMA mart; CREATE SCHEMA ops;
CREATE TABLE raw.customers (customer_id int PRIMARY KEY, name text NOT NULL);
COMMENT ON TABLE raw.customers IS 'Customers as loaded from the CRM';
CREATE TABLE raw.orders (
    order_id bigint PRIMARY KEY,
    customer_id int REFERENCES raw.customers,
    amount numeric(12,2),
    created_at timestamptz NOT NULL
);
CREATE TABLE raw.events (event_id bigint, event_time timestamptz NOT NULL, payload jsonb)
    PARTITION BY RANGE (event_time);
CREATE TABLE raw.events_2026_10 PARTITION OF raw.events FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE raw.events_2026_11 PARTITION OF raw.events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE raw."CamelCaseImport" (id int);
CREATE TABLE public."Daily.Stats" (day date PRIMARY KEY, n int);
CREATE TABLE canon.customers (customer_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE canon.orders (
    order_id bigint PRIMARY KEY,
    customer_id int REFERENCES canon.customers,
    amount numeric(12,2)
);
CREATE TABLE canon.order_lines (
    order_id bigint, line_no int, qty int,
    PRIMARY KEY (order_id, line_no),
    FOREIGN KEY (order_id) REFERENCES canon.orders
);
INSERT INTO canon.customers VALUES (1, 'ada'), (2, 'bob');
INSERT INTO canon.orders VALUES (10, 1, 5.00), (11, 2, 7.50);
CREATE VIEW mart.v_orders AS
    SELECT o.order_id, o.amount, c.name FROM canon.orders o JOIN canon.customers c USING (customer_id);
CREATE VIEW mart.v_revenue AS SELECT name, sum(amount) AS revenue FROM mart.v_orders GROUP BY name;
CREATE VIEW mart.v_top AS SELECT * FROM mart.v_revenue ORDER BY revenue DESC LIMIT 10;
CREATE VIEW mart.v_events AS SELECT count(*) AS n FROM raw.events;
CREATE MATERIALIZED VIEW mart.daily_sales AS SELECT name, revenue FROM mart.v_revenue;
CREATE UNIQUE INDEX daily_sales_name ON mart.daily_sales (name);
CREATE MATERIALIZED VIEW mart.customer_ltv AS
    SELECT customer_id, count(*) AS n FROM canon.orders GROUP BY 1 WITH NO DATA;
CREATE TABLE ops.job_log (id int);
CREATE FOREIGN DATA WRAPPER test_fdw;
CREATE SERVER test_remote FOREIGN DATA WRAPPER test_fdw;
CREATE FOREIGN TABLE raw.remote_rates (currency text, rate numeric) SERVER test_remote;
"""


def dsn_for(dbname: str) -> str:
    s = connection.settings_dict
    params = {"host": s["HOST"], "port": s["PORT"], "user": s["USER"], "password": s["PASSWORD"]}
    return make_conninfo(dbname=dbname, **{k: v for k, v in params.items() if v})


def run_sql(dsn: str, statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statements)


@dataclass
class Warehouse:
    dbname: str
    dsn: str

    def execute(self, statements: str) -> None:
        run_sql(self.dsn, statements)


def _create_database(name: str, template: str | None = None) -> Warehouse:
    admin = dsn_for(connection.settings_dict["NAME"])
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(create)
    return Warehouse(name, dsn_for(name))


def _drop_databases(names: list[str]) -> None:
    with psycopg.connect(dsn_for(connection.settings_dict["NAME"]), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def _warehouse_template(django_db_setup, django_db_blocker):
    """The standard warehouse, built once: read-only tests share it, the others get a
    copy (CREATE DATABASE … TEMPLATE is much cheaper than running the DDL again)."""
    with django_db_blocker.unblock():
        wh = _create_database(f"test_wh_{os.getpid()}_template")
        wh.execute(WAREHOUSE_SQL)
        yield wh
        _drop_databases([wh.dbname])


@pytest.fixture
def make_warehouse(db, _warehouse_template):
    """Create scratch databases (name → Warehouse); dropped at teardown. With no
    statements, a copy of the standard warehouse."""
    created: list[str] = []

    def make(statements: str | None = None) -> Warehouse:
        name = f"test_wh_{os.getpid()}_{next(_counter)}"
        wh = _create_database(name, template=None if statements else _warehouse_template.dbname)
        created.append(name)
        if statements:
            wh.execute(statements)
        return wh

    yield make
    _drop_databases(created)


@pytest.fixture
def default_rules(db):
    """The default inference rules of migration 0003, present even after a
    transactional test elsewhere flushed the tables."""
    from importlib import import_module

    migration = import_module("registry.migrations.0003_default_inference_rules")
    migration.add_defaults(apps, None)


@pytest.fixture
def warehouse(make_warehouse, default_rules):
    """A private copy of the standard warehouse, free to alter."""
    return make_warehouse()


@pytest.fixture
def wh_source(warehouse):
    return SourceFactory(name="wh", dsn=warehouse.dsn, exclude_schemas=["ops"])


@pytest.fixture
def shared_warehouse(_warehouse_template, default_rules):
    """The standard warehouse, shared: for tests that never alter it."""
    return _warehouse_template


@pytest.fixture
def ro_source(shared_warehouse):
    return SourceFactory(name="wh", dsn=shared_warehouse.dsn, exclude_schemas=["ops"])


@dataclass(frozen=True)
class Ref:
    """A code reference with the fields of registry.codescan.CodeReference."""

    raw_name: str
    file: str = "api/orders.py"
    line: int = 1
    kind: str = "read"
    context: str = "script"
    route: str | None = None
    function: str = ""
    schema: str | None = None
    name: str | None = None
    resolvable: bool = True
    search_path: tuple[str, ...] | None = None
    code_path: str = "app"
    columns: tuple[str, ...] = ()
    evidence: str = ""


@dataclass
class Scan:
    references: list
    errors: list
    files_scanned: int = 0


def scanner_of(refs: list[Ref]):
    """A scanner returning these references (stands for registry.codescan.scan_paths)."""

    def scan(paths: list[Path], **options) -> Scan:
        return Scan(references=list(refs), errors=[], files_scanned=len(refs))

    return scan


# --- other engines --------------------------------------------------------------------

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}


@dataclass
class MariaDb:
    """This machine's MariaDB, shared by everybody: each database made here has a name
    unique to this process and is dropped after the test."""

    conn: pymysql.connections.Connection
    created: list[str]

    def database(self, suffix: str = "") -> str:
        name = f"test_oh_{os.getpid()}_{next(_counter)}{suffix}"
        self.execute(f"CREATE DATABASE `{name}`")
        self.created.append(name)
        return name

    def execute(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def dsn(self, database: str = "") -> str:
        return f"mysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}/{database}"


@pytest.fixture
def mariadb():
    try:
        conn = pymysql.connect(**MARIADB, autocommit=True, connect_timeout=3)
    except pymysql.err.OperationalError as exc:
        require_service("MariaDB", str(exc))
    server = MariaDb(conn, [])
    yield server
    server.execute(*(f"DROP DATABASE IF EXISTS `{name}`" for name in server.created))
    conn.close()


@pytest.fixture
def duckdb_file(tmp_path):
    """make(statements) → the path of a new DuckDB file holding them (closed again)."""

    def make(statements: str, name: str = "warehouse.duckdb") -> Path:
        path = tmp_path / name
        with duckdb.connect(str(path)) as conn:
            conn.execute(statements)
        return path

    return make
