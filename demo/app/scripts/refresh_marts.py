#!/usr/bin/env python
"""Refresh the mart materialized views after the nightly load (cron, 03:00)."""

import psycopg

from services.db import WAREHOUSE_DSN

# Views with a unique index can be refreshed without blocking readers.
CONCURRENT = ["daily_sales", "session_funnel"]


def refresh_all(conn):
    for view in CONCURRENT:
        conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY mart.{view}")
    # product_performance has no unique index: a plain refresh takes an exclusive lock.
    conn.execute("REFRESH MATERIALIZED VIEW mart.product_performance")
    conn.execute("""
        refresh materialized view
            mart.customer_ltv
    """)


if __name__ == "__main__":
    with psycopg.connect(WAREHOUSE_DSN, autocommit=True) as conn:
        refresh_all(conn)
