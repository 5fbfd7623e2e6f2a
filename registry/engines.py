"""Source engines: how OpsHealth talks to one kind of monitored database.

A dict of small classes (STYLE.md, pluggable kinds): adding MySQL/MariaDB or DuckDB is
adding a class and an `ENGINES` entry. An engine knows how to connect with a short
timeout, how to test a connection, and how to read its catalog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
import psycopg.conninfo


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

        The message is the driver's error class and first line only: driver messages
        can echo the DSN, so the full text never leaves this function.
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
                message=_safe_message(exc, dsn),
            )
        return ConnectionTest(
            ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 1), server_version=version
        )


def _safe_message(exc: Exception, dsn: str) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    if dsn and dsn in text:
        text = text.replace(dsn, "<dsn>")
    # A malformed DSN can be echoed in pieces; the password must not be one of them.
    password = _password_of(dsn)
    if password:
        text = text.replace(password, "***")
    return text[:300]


def _password_of(dsn: str) -> str:
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn).get("password") or ""
    except psycopg.Error:
        return ""


class PostgresEngine(SourceEngine):
    name = "postgresql"

    def connect(self, dsn: str, *, timeout: int):
        return psycopg.connect(dsn, connect_timeout=timeout, application_name="opshealth")

    def server_version(self, conn) -> str:
        return conn.execute("SHOW server_version").fetchone()[0]


ENGINES: dict[str, SourceEngine] = {"postgresql": PostgresEngine()}


def engine_for(source) -> SourceEngine:
    return ENGINES[source.engine]
