"""Product catalog import tooling, run by the deploy pipeline.

Not the storefront's `catalog`: a top-level package that happens to share its name.
"""

from catalog.importer import import_products

__all__ = ["best_sellers", "import_products"]


def best_sellers(cur, limit):
    # The catalog team's own ranking, by SKU, for the import report.
    cur.execute("SELECT sku, name FROM canon.products ORDER BY sku LIMIT %s", (limit,))
    return cur.fetchall()
