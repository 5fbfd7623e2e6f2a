"""Source engines: how OpsHealth talks to one kind of monitored database.

A dict of small classes (STYLE.md, pluggable kinds): adding an engine is adding a class
and an `ENGINES` entry. An engine knows how to check and parse its DSN, connect with a
short timeout, test a connection, read its catalog for discovery (`read_catalog`) and
list what exists right now for the checks (`read_relations`). Its capability flags say
what the registry may expect of it:

* `has_materialized_views`: checks and refreshes of materialized views apply;
* `exact_dependencies`: every view edge comes from the server's own records
  (provenance `catalog`); otherwise some or all are parsed from view definitions;
* `row_estimates`: tables carry the server's estimated row count;
* `case_insensitive_columns`: column names match whatever their case (code naming
  `Revenue` uses `revenue`).

`dialect` is the sqlglot dialect of the engine's SQL: view definitions and the code scan.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb
import psycopg
import pymysql
from django.conf import settings

from common.secrets import DsnError, parse_dsn, safe_message
from registry import catalog, duckdb_catalog, mysql_catalog


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    latency_ms: float
    server_version: str = ""
    error_class: str = ""
    message: str = ""


class SourceEngine:
    name: str = ""
    label: str = ""
    dialect: str = ""
    dsn_help: str = ""
    has_materialized_views: bool = False
    exact_dependencies: bool = False
    row_estimates: bool = False
    case_insensitive_columns: bool = True

    def validate_dsn(self, dsn: str) -> str:
        """Why `dsn` is unusable, or "". Never echoes the DSN: it may hold a password."""
        raise NotImplementedError

    def connect(self, dsn: str, *, timeout: int):
        """A connection usable as a context manager (closed on exit)."""
        raise NotImplementedError

    def server_version(self, conn) -> str:
        raise NotImplementedError

    def read_catalog(self, conn, *, include_schemas, exclude_schemas, statement_timeout_ms: int, **options):
        """The CatalogSnapshot discovery writes (registry.catalog's dataclasses)."""
        raise NotImplementedError

    def read_relations(self, conn) -> dict[tuple[str, str], catalog.Relation]:
        """(schema, name) → Relation of everything a query can name now, in one statement."""
        raise NotImplementedError

    def test(self, dsn: str, *, timeout: int) -> ConnectionTest:
        """Open a connection, ask the server version, close. Never raises.

        The message is `safe_message`'s: driver messages can echo the DSN or pieces of
        it, so the raw text never leaves this function.
        """
        started = time.perf_counter()
        try:
            with self.connect(dsn, timeout=timeout) as conn:
                version = self.server_version(conn)
        except Exception as exc:
            return ConnectionTest(
                ok=False,
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
                error_class=type(exc).__name__,
                message=safe_message(exc, dsn=dsn),
            )
        return ConnectionTest(
            ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 1), server_version=version
        )


class PostgresEngine(SourceEngine):
    name = "postgresql"
    label = "PostgreSQL"
    dialect = "postgres"
    dsn_help = "postgresql://user@host:port/db or key=value pairs"
    has_materialized_views = True
    exact_dependencies = True  # pg_depend
    row_estimates = True
    case_insensitive_columns = False  # the scan folds unquoted names as PostgreSQL does

    def validate_dsn(self, dsn: str) -> str:
        try:
            params = parse_dsn(dsn)
        except DsnError as exc:
            return str(exc)
        # libpq accepts any port text here and fails only when connecting.
        if not all(port.isdigit() for port in str(params.get("port", "5432")).split(",")):
            return "The DSN's port must be a number."
        return ""

    def connect(self, dsn: str, *, timeout: int):
        # Parsed first (DsnError, a message quoting nothing): libpq's own parse errors
        # quote the fragment they choke on, and a URL with an unencoded `@` in its
        # password would be looked up as a host named after the rest of the password.
        params = {**parse_dsn(dsn), "connect_timeout": timeout, "application_name": "opshealth"}
        return psycopg.connect(**params)

    def server_version(self, conn) -> str:
        return conn.execute("SHOW server_version").fetchone()[0]

    def read_catalog(self, conn, *, include_schemas, exclude_schemas, statement_timeout_ms, exclude_oids=()):
        return catalog.read_catalog(
            conn,
            include_schemas=include_schemas,
            exclude_schemas=exclude_schemas,
            exclude_oids=exclude_oids,
            statement_timeout_ms=statement_timeout_ms,
        )

    def read_relations(self, conn):
        return catalog.read_relations(conn)


@dataclass(frozen=True)
class MysqlDsn:
    host: str
    port: int
    user: str
    password: str
    database: str
    unix_socket: str


class MysqlEngine(SourceEngine):
    """MariaDB and MySQL, through PyMySQL."""

    name = "mysql"
    label = "MySQL / MariaDB"
    dialect = "mysql"
    dsn_help = "mysql://user:password@host:3306/database"
    # MySQL 8.0.13+ records view usage; MariaDB does not: edges say which they are.
    exact_dependencies = False
    row_estimates = True

    def parse_dsn(self, dsn: str) -> MysqlDsn:
        url = urlsplit(dsn)
        if url.scheme not in ("mysql", "mariadb") or not (url.hostname or "unix_socket=" in url.query):
            raise ValueError(f"Not a valid DSN: use {self.dsn_help}, or env:VARIABLE.")
        try:
            port = url.port or 3306
        except ValueError:
            raise ValueError("The DSN's port must be a number.") from None
        query = parse_qs(url.query)
        return MysqlDsn(
            host=url.hostname or "localhost",
            port=port,
            user=unquote(url.username or ""),
            password=unquote(url.password or ""),
            database=unquote(url.path.lstrip("/")),
            unix_socket=(query.get("unix_socket") or [""])[0],
        )

    def validate_dsn(self, dsn: str) -> str:
        try:
            self.parse_dsn(dsn)
        except ValueError as exc:
            return str(exc)
        return ""

    def connect(self, dsn: str, *, timeout: int):
        params = self.parse_dsn(dsn)
        return pymysql.connect(
            host=params.host,
            port=params.port,
            user=params.user,
            password=params.password,
            database=params.database or None,
            unix_socket=params.unix_socket or None,
            connect_timeout=timeout,
            charset="utf8mb4",
            program_name="opshealth",
        )

    def server_version(self, conn) -> str:
        with conn.cursor() as cur:
            return mysql_catalog.read_server_version(cur)

    def read_catalog(self, conn, *, include_schemas, exclude_schemas, statement_timeout_ms, **options):
        return mysql_catalog.read_catalog(
            conn,
            include_schemas=include_schemas,
            exclude_schemas=exclude_schemas,
            statement_timeout_ms=statement_timeout_ms,
        )

    def read_relations(self, conn):
        return mysql_catalog.read_relations(conn)


class DuckdbEngine(SourceEngine):
    """A DuckDB database file, opened read-only (a relative path is taken from the
    project directory, like code paths)."""

    name = "duckdb"
    label = "DuckDB"
    dialect = "duckdb"
    dsn_help = "/path/to/file.duckdb"
    row_estimates = True

    def path(self, dsn: str) -> Path:
        path = Path(dsn.removeprefix("duckdb://"))
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path

    def validate_dsn(self, dsn: str) -> str:
        if "\x00" in dsn or dsn.strip() != dsn or dsn.startswith(("postgresql:", "postgres:", "mysql:")):
            return f"Not a DuckDB file path: use {self.dsn_help}, or env:VARIABLE."
        return ""

    def connect(self, dsn: str, *, timeout: int):
        path = self.path(dsn)
        # read_only never creates a missing file: a wrong path fails here, clearly.
        if not path.is_file():
            raise FileNotFoundError(f"no DuckDB file at {path}")
        # No external access: SQL run on the source (a data check's custom SQL or where
        # filter) cannot read the OpsHealth host's files (read_csv('/etc/…')), attach
        # another database or load an extension; it cannot be turned back on by a SET.
        return duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})

    def server_version(self, conn) -> str:
        return duckdb_catalog.read_server_version(conn)

    def read_catalog(self, conn, *, include_schemas, exclude_schemas, statement_timeout_ms, **options):
        with interrupt_after(conn, statement_timeout_ms):
            return duckdb_catalog.read_catalog(
                conn, include_schemas=include_schemas, exclude_schemas=exclude_schemas
            )

    def read_relations(self, conn):
        return duckdb_catalog.read_relations(conn)


@contextmanager
def interrupt_after(conn, timeout_ms: int):
    """DuckDB has no statement timeout: interrupt the connection's query when the time
    is up (the query then raises duckdb.InterruptException)."""
    timer = threading.Timer(timeout_ms / 1000, conn.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


ENGINES: dict[str, SourceEngine] = {
    engine.name: engine for engine in (PostgresEngine(), MysqlEngine(), DuckdbEngine())
}


def engine_for(source) -> SourceEngine:
    return ENGINES[source.engine]
