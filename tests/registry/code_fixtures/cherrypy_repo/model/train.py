"""Training data for the churn model (a folder named like the web app's module)."""

import psycopg


def customer_orders(conn):
    return conn.execute("SELECT customer_id, count(*) FROM canon.orders GROUP BY customer_id").fetchall()


def order_detail(conn):
    return conn.execute("SELECT * FROM mart.v_orders_enriched").fetchall()


if __name__ == "__main__":
    with psycopg.connect("postgresql:///shop") as conn:
        customer_orders(conn)
        order_detail(conn)
