"""Build the demo warehouse in its own database on OpsHealth's PostgreSQL server.

The server is the one Django's default database lives on (the embedded one, or
DATABASE_URL's); tests may pass another server's parameters. The build is idempotent:
a version marker in `ops.etl_config` says the warehouse is already there, and the whole
script runs in one transaction, so an interrupted build leaves nothing half made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.db import connection
from psycopg import sql
from psycopg.conninfo import make_conninfo

DEFAULT_DATABASE = "demo_warehouse"
# Bump when warehouse.sql changes: an older warehouse is then rebuilt on the next run.
VERSION = "2"
SQL_FILE = Path(__file__).with_name("warehouse.sql")
# Objects of the schemas the script creates, dropped before a rebuild. `public` itself
# is kept (it belongs to the database), only our tables in it go.
OWN_SCHEMAS = ("raw", "canon", "mart", "ops")
OWN_PUBLIC_TABLES = ("app_users", "feature_flags", "Daily.Stats", "audit_trail")


@dataclass(frozen=True)
class BuildResult:
    database: str
    dsn: str
    created_database: bool
    built: bool
    # Why raw.remote_rates is absent, or "" when it was created.
    foreign_table_skipped: str


def server_params() -> dict[str, str]:
    """Connection parameters of OpsHealth's own server, as Django connects to it.

    Django merges the libpq parameters of `OPTIONS` (where `DATABASE_URL`'s query
    string puts them: `?host=/socket/dir&port=5433`, the Unix-socket and Cloud SQL
    form) with HOST, PORT, USER and PASSWORD; what is not a libpq keyword (the cursor
    factory, prepare threshold…) is left out. `dbname` is OpsHealth's database: it
    exists and we may connect to it, which a managed server does not promise for its
    `postgres` database; CREATE DATABASE runs from there.
    """
    params = connection.get_connection_params()
    params.pop("client_encoding", None)
    keywords = {d.keyword.decode() for d in psycopg.pq.Conninfo.get_defaults()}
    return {key: str(value) for key, value in params.items() if key in keywords and value not in (None, "")}


def demo_dsn(database: str = DEFAULT_DATABASE, params: dict[str, str] | None = None) -> str:
    """The DSN of the demo warehouse on the current server (what `source add` needs)."""
    return make_conninfo(**{**(server_params() if params is None else params), "dbname": database})


def build(
    database: str = DEFAULT_DATABASE, *, reset: bool = False, params: dict[str, str] | None = None
) -> BuildResult:
    """Create (or, with `reset`, drop and re-create) the demo warehouse database."""
    params = server_params() if params is None else params
    if database == params.get("dbname"):
        # --reset would drop OpsHealth's own data.
        raise ValueError(f"the demo warehouse needs a database of its own, not {database!r}")
    created = _ensure_database(database, params, reset=reset)
    dsn = demo_dsn(database, params)
    # Autocommit, so that `transaction()` below is the real transaction and ANALYZE
    # (after it) runs outside one.
    with psycopg.connect(dsn, autocommit=True) as conn:
        if _built_version(conn) == VERSION:
            return BuildResult(database, dsn, created, built=False, foreign_table_skipped="")
        with conn.transaction():
            _drop_own_objects(conn)
            conn.execute(SQL_FILE.read_text())
            skipped = _create_foreign_table(conn, database, params)
            conn.execute(
                "INSERT INTO ops.etl_config (key, value) VALUES ('demo_warehouse_version', %s)", [VERSION]
            )
        # ANALYZE after the commit, so estimated rows (pg_class.reltuples) are real
        # numbers for discovery, not -1.
        conn.execute("ANALYZE")
    return BuildResult(database, dsn, created, built=True, foreign_table_skipped=skipped)


def _ensure_database(database: str, params: dict[str, str], *, reset: bool) -> bool:
    # CREATE/DROP DATABASE cannot run in a transaction: a separate autocommit
    # connection to the database the parameters name (not the demo one).
    with psycopg.connect(make_conninfo(**params), autocommit=True) as conn:
        name = sql.Identifier(database)
        if reset:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        return True


def _built_version(conn: psycopg.Connection) -> str | None:
    if conn.execute("SELECT to_regclass('ops.etl_config')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT value FROM ops.etl_config WHERE key = 'demo_warehouse_version'").fetchone()
    return row[0] if row else None


def _drop_own_objects(conn: psycopg.Connection) -> None:
    for schema in OWN_SCHEMAS:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    for table in OWN_PUBLIC_TABLES:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier("public", table)))
    conn.execute("DROP SERVER IF EXISTS demo_loopback CASCADE")


def _create_foreign_table(conn: psycopg.Connection, database: str, params: dict[str, str]) -> str:
    """raw.remote_rates through postgres_fdw, looping back to raw.fx_rates.

    Returns why it was skipped, or "". Creating the extension needs a superuser (or a
    trusted extension) and the package installed on the server; the demo works without.
    The user mapping names the user only: no password is written into the catalog.
    """
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgres_fdw'").fetchone()
    if not available:
        return "postgres_fdw is not available on this server"
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
            options = {**{k: params[k] for k in ("host", "port") if k in params}, "dbname": database}
            conn.execute(
                sql.SQL("CREATE SERVER demo_loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({})").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in options.items()
                    )
                )
            )
            user = params.get("user") or conn.info.user
            conn.execute(
                sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER demo_loopback OPTIONS (user {})").format(
                    sql.Literal(user)
                )
            )
            conn.execute(
                """
                CREATE FOREIGN TABLE raw.remote_rates (
                    rate_date date NOT NULL,
                    currency char(3) NOT NULL,
                    rate_to_eur numeric(12, 6) NOT NULL
                ) SERVER demo_loopback OPTIONS (schema_name 'raw', table_name 'fx_rates')
                """
            )
            conn.execute(
                "COMMENT ON FOREIGN TABLE raw.remote_rates IS 'FX rates read from a partner database'"
            )
    except psycopg.errors.InsufficientPrivilege:
        return "not allowed to create the postgres_fdw extension (needs a superuser)"
    return ""
