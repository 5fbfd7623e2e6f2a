"""All SQL of the web application."""

import functools

from db import connect

ORDER_DETAIL = """
    SELECT o.order_id, o.status, c.email
      FROM canon.orders o JOIN canon.customers c ON c.customer_id = o.customer_id
     WHERE o.order_id = %s
"""


def transaction(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with connect() as conn, conn.cursor() as cur:
            cur.execute("SET LOCAL search_path TO canon, public")
            return fn(cur, *args, **kwargs)

    return wrapper


def query(sql):
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            with connect() as conn, conn.cursor() as cur:
                cur.execute(sql, args)
                return fn(cur.fetchall())

        return wrapper

    return decorate


@transaction
def order_detail(cur, order_id):
    cur.execute(ORDER_DETAIL, (order_id,))
    lines = _lines(cur, order_id)
    return cur.fetchone(), lines


def _lines(cur, order_id):
    cur.execute("SELECT line_no, product_id, quantity FROM canon.order_lines WHERE order_id = %s", (order_id,))
    return cur.fetchall()


@query("SELECT order_id, order_date, status FROM canon.orders WHERE customer_id = %s ORDER BY order_date")
def customer_orders(rows):
    return rows


@transaction
def record_payment(cur, order_id, amount):
    cur.execute(
        "INSERT INTO canon.payments (order_id, amount_eur, method, paid_at) VALUES (%s, %s, 'card', now())",
        (order_id, amount),
    )
    cur.execute("UPDATE canon.orders SET status = 'paid' WHERE order_id = %s", (order_id,))


class ProductRepository:
    def featured(self):
        return self._run("SELECT product_id, name FROM canon.products ORDER BY product_id LIMIT 10")

    @transaction
    def _run(cur, self, sql):
        cur.execute(sql)
        return cur.fetchall()


@transaction
def cleanup(cur):
    cur.execute("DELETE FROM raw.web_sessions WHERE started_at < now() - interval '1 year'")
