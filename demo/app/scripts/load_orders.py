#!/usr/bin/env python
"""Nightly load of the shop's order export into raw.*, then the canon upsert.

Run by cron at 02:00: `python scripts/load_orders.py /data/exports/orders.csv`.
"""

import sys
import time

import psycopg

from services.db import WAREHOUSE_DSN


def copy_orders(conn, path):
    with conn.cursor() as cur, open(path, "rb") as export:
        with cur.copy("COPY raw.orders (order_id, customer_id, ordered_at, status) FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
            while chunk := export.read(1 << 16):
                copy.write(chunk)


def load_items(conn, items):
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO raw.order_items(order_id,product_id,quantity,unit_price)"
            "VALUES (%s,%s,%s,%s) "
            "ON CONFLICT (order_id, product_id) DO UPDATE SET quantity = excluded.quantity",
            items,
        )


def upsert_canon(conn):
    conn.execute(
        """
        insert into canon.orders (order_id, customer_id, order_date, order_ts, status, currency)
        select order_id, customer_id, order_ts::date, order_ts, status, currency
          from raw.orders
         where loaded_at > now() - interval '1 day'
        on conflict (order_id) do update
           set status = excluded.status
        """
    )
    conn.execute(
        """
        INSERT INTO canon.order_lines (order_id, product_id, quantity, amount_eur)
        SELECT i.order_id, i.product_id, i.quantity, i.quantity * i.unit_price
          FROM raw.order_items i
          JOIN canon.products p
            ON p.product_id = i.product_id
        ON CONFLICT DO NOTHING
        """
    )


def log_job(conn, started, status):
    # Job bookkeeping lives in the ops schema, which OpsHealth does not discover.
    conn.execute(
        "insert into ops.job_log (job_name, started_at, finished_at, status) values (%s, to_timestamp(%s), now(), %s)",
        ("load_orders", started, status),
    )


def main(path):
    started = time.time()
    with psycopg.connect(WAREHOUSE_DSN) as conn:
        copy_orders(conn, path)
        upsert_canon(conn)
        log_job(conn, started, "success")


if __name__ == "__main__":
    main(sys.argv[1])
