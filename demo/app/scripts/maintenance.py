#!/usr/bin/env python
"""Monthly maintenance: next month's events partition, housekeeping of old sessions."""

import datetime as dt

import psycopg

from services.db import WAREHOUSE_DSN


def create_next_partition(conn, today):
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    suffix = first.strftime("%Y_%m")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw.events_{suffix} PARTITION OF raw.events "
        "FOR VALUES FROM ('{first}') TO ('{following}')".format(suffix=suffix, first=first, following=following)
    )


def purge_sessions(conn, keep_days):
    conn.execute("DELETE FROM raw.web_sessions WHERE started_at < now() - %s * interval '1 day'", (keep_days,))
    conn.execute("ANALYZE raw.web_sessions")


def import_camel_case(conn):
    # The vendor feed lands in a table created by their tool, with a mixed-case name.
    conn.execute('TRUNCATE raw."CamelCaseImport"')
    conn.execute('insert into raw."CamelCaseImport" select * from raw.remote_rates')


def rebuild_calendar(conn, table="canon.calendar"):
    conn.execute("DELETE FROM %s WHERE day < now() - interval '10 years'" % table)


if __name__ == "__main__":
    with psycopg.connect(WAREHOUSE_DSN) as conn:
        create_next_partition(conn, dt.date.today())
        purge_sessions(conn, keep_days=400)
