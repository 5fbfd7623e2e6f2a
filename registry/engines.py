"""Source engines: how OpsHealth talks to one kind of monitored database.

A dict of small classes (STYLE.md, pluggable kinds): adding MySQL/MariaDB or DuckDB is
adding a class and an `ENGINES` entry. An engine knows how to connect with a short
timeout, how to test a connection, and how to read its catalog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from common.secrets import parse_dsn, safe_message


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    latency_ms: float
    server_version: str = ""
    error_class: str = ""
    message: str = ""


class SourceEngine:
    name: str = ""

    def connect(self, dsn: str, *, timeout: int):
        raise NotImplementedError

    def server_version(self, conn) -> str:
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

    def connect(self, dsn: str, *, timeout: int):
        # Parsed first (DsnError, a message quoting nothing): libpq's own parse errors
        # quote the fragment they choke on, and a URL with an unencoded `@` in its
        # password would be looked up as a host named after the rest of the password.
        params = {**parse_dsn(dsn), "connect_timeout": timeout, "application_name": "opshealth"}
        return psycopg.connect(**params)

    def server_version(self, conn) -> str:
        return conn.execute("SHOW server_version").fetchone()[0]


ENGINES: dict[str, SourceEngine] = {"postgresql": PostgresEngine()}


def engine_for(source) -> SourceEngine:
    return ENGINES[source.engine]
