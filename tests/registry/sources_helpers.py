"""Helpers shared by the source tests (API, admin, command)."""

from __future__ import annotations

import socket

from django.db import connection
from psycopg.conninfo import make_conninfo

from registry.models import Source

PASSWORD = "s3cr3t-Pa55word"
# Nothing listens on port 1 of the loopback: the connection is refused at once.
UNREACHABLE_DSN = f"postgresql://warehouse:{PASSWORD}@127.0.0.1:1/warehouse"


def make_source(**fields) -> Source:
    fields.setdefault("name", "warehouse")
    fields.setdefault("dsn", UNREACHABLE_DSN)
    # _default_manager: Source.objects may be shadowed by a reverse relation.
    return Source._default_manager.create(**fields)


def server_dsn() -> str:
    """The DSN of the server the test suite runs on (reachable, no password)."""
    s = connection.settings_dict
    params = {"host": s["HOST"], "port": str(s["PORT"]), "user": s["USER"], "dbname": s["NAME"]}
    return make_conninfo(**{k: v for k, v in params.items() if v})


def postgresql_15_listening() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0
