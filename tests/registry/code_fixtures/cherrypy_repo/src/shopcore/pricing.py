from db import connect


def current_prices():
    with connect() as conn:
        return conn.execute("SELECT product_id, unit_price_eur FROM canon.products").fetchall()
