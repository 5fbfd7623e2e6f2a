"""Copy new products from raw into canon (`python -m catalog.importer`)."""

import os

import psycopg


def import_products(cur):
    cur.execute(
        "INSERT INTO canon.products (product_id, sku, name, category, unit_price_eur) "
        "SELECT product_id, sku, name, category, unit_price FROM raw.products "
        "ON CONFLICT (product_id) DO NOTHING"
    )


if __name__ == "__main__":
    with psycopg.connect(os.environ["WAREHOUSE_DSN"]) as conn, conn.cursor() as cur:
        import_products(cur)
