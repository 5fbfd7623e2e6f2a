"""How the data-check runner talks to each engine: one read-only transaction per table,
a statement timeout, one statement at a time, and what the driver's errors mean.

A session wraps an open connection of the source's engine (registry.engines):

- `transaction()`: the table's read-only transaction, statement timeout set;
- `execute(query)`: one statement (never several: the check author's `where` filter or
  custom SQL cannot smuggle a second one in), returning a cursor; when it fails, the
  transaction is still usable for the next statement;
- `errors`: what a statement may raise (a result `error`, the run goes on);
  `whole_table(exc)`: whether every check of the table would fail the same way (no
  retry check by check); `closed`: whether the connection is gone.

Adding an engine is adding a session class and a `SESSIONS` entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import psycopg
import pymysql
from django.conf import settings
from psycopg import errors as pg_errors
from psycopg import sql

from checks.datachecks.dialects import DIALECTS, Dialect
from checks.datachecks.kinds import GapDays
from common.secrets import safe_message
from registry.engines import interrupt_after
from registry.mysql_catalog import is_mariadb, set_session_limits


def _timeout_ms() -> int:
    return int(settings.OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS)


class Session:
    dialect: Dialect
    errors: tuple[type[Exception], ...] = ()

    def __init__(self, conn):
        self.conn = conn

    def transaction(self):
        raise NotImplementedError

    def execute(self, query: sql.Composable):
        raise NotImplementedError

    def whole_table(self, exc: Exception) -> bool:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def render(self, query: sql.Composable) -> str:
        return self.dialect.render(query, self.conn)

    def message(self, exc: Exception) -> str:
        """What an error says, safe to store and show."""
        return safe_message(exc, limit=500)


class PostgresSession(Session):
    """Every statement is prepared (`prepare=True`): PostgreSQL refuses several commands
    in a prepared statement, so a filter cannot smuggle a `COMMIT` and a write after it."""

    dialect = DIALECTS["postgresql"]
    errors = (psycopg.Error,)
    _WHOLE_TABLE = (pg_errors.UndefinedTable, pg_errors.QueryCanceled, pg_errors.InsufficientPrivilege)

    def __init__(self, conn):
        super().__init__(conn)
        conn.autocommit = True  # each table in a transaction of its own

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION READ ONLY")
            self.conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(_timeout_ms())))
            # gap_days and freshness read dates in UTC, whatever the server's default.
            self.conn.execute("SET LOCAL TimeZone = 'UTC'")
            if settings.OPSHEALTH_DATA_CHECK_WORK_MEM_MB:
                # The sorts of unique and monotonic checks in memory rather than on disk.
                work_mem = sql.Literal(f"{int(settings.OPSHEALTH_DATA_CHECK_WORK_MEM_MB)}MB")
                self.conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(work_mem))
            yield

    def execute(self, query):
        cursor = self.conn.cursor()
        with self.conn.transaction():  # a savepoint: a failed statement aborts only itself
            cursor.execute(query, prepare=True)
        return cursor

    def whole_table(self, exc):
        return isinstance(exc, self._WHOLE_TABLE)

    @property
    def closed(self):
        return self.conn.closed


class MysqlSession(Session):
    """MariaDB and MySQL through PyMySQL, which sends one statement per query (the client
    never asks for CLIENT.MULTI_STATEMENTS: the server refuses a `;` and what follows as
    a syntax error). A failed statement is rolled back alone and the transaction goes on:
    no savepoints needed."""

    dialect = DIALECTS["mysql"]
    errors = (pymysql.MySQLError,)
    # ER_TABLEACCESS_DENIED_ERROR, ER_NO_SUCH_TABLE, MariaDB's ER_STATEMENT_TIMEOUT, MySQL's
    # ER_QUERY_TIMEOUT.
    _WHOLE_TABLE = {1142, 1146, 1969, 3024}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # Session settings, set with each table's transaction as PostgreSQL's LOCAL ones
        # are. The handshake's version says which server it is (MariaDB's names itself).
        version = self.conn.get_server_info()
        with self.conn.cursor() as cur:
            # A read-only session, and the statement timeout: MariaDB's max_statement_time,
            # MySQL's MAX_EXECUTION_TIME (SELECTs only: every data-check statement is one).
            set_session_limits(cur, version, _timeout_ms())
            cur.execute("SET time_zone = '+00:00'")  # dates of TIMESTAMP columns in UTC
            depth = "max_recursive_iterations" if is_mariadb(version) else "cte_max_recursion_depth"
            cur.execute(f"SET SESSION {depth} = %s", [GapDays.MAX_WINDOW + 1])  # gap_days' calendar
            cur.execute("START TRANSACTION READ ONLY")
        try:
            yield
        finally:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")

    def execute(self, query):
        cursor = self.conn.cursor()
        cursor.execute(self.render(query))
        return cursor

    def whole_table(self, exc):
        return bool(exc.args) and exc.args[0] in self._WHOLE_TABLE

    def message(self, exc):
        # PyMySQL's error is a (code, text) pair: its str() is the tuple's.
        if len(exc.args) == 2:
            return safe_message(f"{exc.args[1]} (error {exc.args[0]})", limit=500)
        return super().message(exc)

    @property
    def closed(self):
        return not self.conn.open


class DuckdbSession(Session):
    """A DuckDB file, opened read-only (registry.engines.DuckdbEngine). No explicit
    transaction: DuckDB has no savepoints, and one failed statement would abort the rest
    of the table's transaction. Each statement sees the same data all the same: while a
    read-only connection holds the file, no process can open it to write."""

    dialect = DIALECTS["duckdb"]
    errors = (duckdb.Error,)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("SET TimeZone = 'UTC'")  # gap_days and freshness read dates in UTC
        yield

    def execute(self, query):
        text = self.render(query)
        # DuckDB runs every statement of a text: allow one.
        if len(self.conn.extract_statements(text)) != 1:
            raise duckdb.ParserException(
                "one statement only: a where filter or custom SQL cannot add another"
            )
        try:
            with interrupt_after(self.conn, _timeout_ms()):
                return self.conn.execute(text)
        except duckdb.InterruptException:
            raise duckdb.InterruptException(
                f"canceling statement due to statement timeout ({_timeout_ms()} ms)"
            ) from None

    def whole_table(self, exc):
        return isinstance(exc, duckdb.InterruptException)

    @property
    def closed(self):
        return False  # an in-process database: no connection to lose


SESSIONS: dict[str, type[Session]] = {
    session.dialect.engine: session for session in (PostgresSession, MysqlSession, DuckdbSession)
}
