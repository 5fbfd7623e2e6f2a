"""Order queries used by the storefront API.

Example (kept here for people reading the module, never executed):

    SELECT * FROM canon.orders WHERE order_id = 42;
"""

from services.db import cursor, fetch_all

ORDER_DETAIL_SQL = """
    SELECT o.order_id, o.order_ts, o.status, c.email
      FROM mart.v_orders_enriched o
      JOIN canon.customers c ON c.customer_id = o.customer_id
     WHERE o.order_id = %(order_id)s
"""


def get_order(order_id):
    rows = fetch_all(ORDER_DETAIL_SQL, {"order_id": order_id})
    return rows[0] if rows else None


def list_recent_orders(days, limit=100):
    # Revenue per order comes from the enriched view; the old table
    # select * from canon.orders_legacy is gone since the 2025 migration.
    return fetch_all(
        "select order_id, revenue_eur "
        "from mart.v_order_revenue "
        "where order_date > current_date - %s "
        "order by order_date desc limit %s",
        (days, limit),
    )


def record_payment(order_id, amount, method):
    with cursor() as cur:
        cur.execute(
            """INSERT INTO raw.payments(order_id, amount, method, paid_at)
               VALUES (%s, %s, %s, now())
               RETURNING payment_id""",
            (order_id, amount, method),
        )
        payment_id = cur.fetchone()[0]
        cur.execute("UPDATE raw.orders SET status = 'paid' WHERE order_id = %s", (order_id,))
        return payment_id
