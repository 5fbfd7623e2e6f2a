"""Task bodies that the real-process cluster tests enqueue."""

from django.db import connection

from ledger.logger import RunLogger


def sleep_in_a_run(seconds: float) -> None:
    """A long query inside a ledger run: what a stopping cluster must interrupt."""
    with RunLogger("test.sleeper", triggered_by="scheduler"), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
