"""The storefront's queries; each helper gets its cursor from a decorator."""

import functools
import os

import psycopg

WAREHOUSE_DSN = os.environ.get("WAREHOUSE_DSN", "postgresql:///demo_warehouse")


def with_cursor(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with psycopg.connect(WAREHOUSE_DSN) as conn, conn.cursor() as cur:
            return fn(cur, *args, **kwargs)

    return wrapper


@with_cursor
def best_sellers(cur, limit):
    cur.execute(
        "SELECT product_id, name, revenue_eur FROM mart.product_performance ORDER BY revenue_eur DESC LIMIT %s",
        (limit,),
    )
    return cur.fetchall()


@with_cursor
def stock_levels(cur, product_id):
    cur.execute(
        "SELECT snapshot_date, on_hand FROM raw.inventory_snapshots WHERE product_id = %s ORDER BY snapshot_date",
        (product_id,),
    )
    return cur.fetchall()


@with_cursor
def recent_sessions(cur):
    cur.execute("SELECT customer_id, last_session_at FROM mart.v_active_customers ORDER BY 2 DESC LIMIT 50")
    return cur.fetchall()


@with_cursor
def purge_sessions(cur):
    cur.execute("DELETE FROM raw.web_sessions WHERE started_at < now() - interval '1 year'")
    return cur.rowcount
