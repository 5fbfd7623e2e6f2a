"""Connections to the warehouse."""

import os
from contextlib import contextmanager

import psycopg

WAREHOUSE_DSN = os.environ.get("WAREHOUSE_DSN", "postgresql:///demo_warehouse")


@contextmanager
def cursor():
    with psycopg.connect(WAREHOUSE_DSN) as conn, conn.cursor() as cur:
        yield cur


def fetch_all(sql, params=()):
    with cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()
