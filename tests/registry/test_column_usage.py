"""Column-level usage: the columns each statement names per table (qualified against the
catalog; aliases, CTEs, SELECT *), stored per code usage; `used_column_missing`;
`schema_changed` naming the usages a change breaks; the object's API and admin page."""

from __future__ import annotations

import pytest

from checks.models import ERROR, OK, WARN
from registry.codescan.sql import ColumnCatalog, find_references
from registry.discovery import discover
from registry.models import CodeUsage, RegistryObject
from tests.checks.conftest import run_check

CATALOG = ColumnCatalog(
    {
        ("mart", "daily_sales"): frozenset({"sales_day", "orders", "revenue_eur"}),
        ("canon", "fx_rates_daily"): frozenset({"rate_date", "currency", "rate"}),
        ("raw", "orders"): frozenset({"order_id", "customer_id", "amount"}),
        ("raw", "customers"): frozenset({"customer_id", "name"}),
    },
    ("public",),
)


def columns(sql: str, catalog: ColumnCatalog | None = CATALOG) -> dict[str, tuple[str, ...]]:
    return {".".join(r.parts): r.columns for r in find_references(sql, catalog=catalog)}


def test_a_single_table_statement_gives_every_column_to_that_table():
    sql = "SELECT sales_day, revenue, orders FROM mart.daily_sales WHERE sales_day > %s ORDER BY sales_day"
    assert columns(sql.replace("%s", "zzhole0x")) == {"mart.daily_sales": ("orders", "revenue", "sales_day")}


def test_aliases_and_the_catalog_tell_which_table_a_column_belongs_to():
    sql = "SELECT o.amount, name, total FROM raw.orders AS o JOIN raw.customers c ON c.customer_id = o.customer_id"
    # `name` only customers has; `total` nobody has: it is nobody's, not everybody's.
    assert columns(sql) == {
        "raw.orders": ("amount", "customer_id"),
        "raw.customers": ("customer_id", "name"),
    }
    assert columns(sql, catalog=None)["raw.customers"] == ("customer_id",)


def test_ctes_and_subqueries_pass_columns_through_to_their_table():
    sql = """
        WITH rates AS (SELECT rate_date, rate FROM canon.fx_rates_daily WHERE currency = 'EUR')
        SELECT s.sales_day, s.revenue * rates.rate AS revenue
        FROM (SELECT * FROM mart.daily_sales) s JOIN rates ON rates.rate_date = s.sales_day
        ORDER BY revenue
    """
    assert columns(sql) == {
        "canon.fx_rates_daily": ("currency", "rate", "rate_date"),
        "mart.daily_sales": ("*", "revenue", "sales_day"),
    }


def test_star_and_writes_name_their_columns():
    assert columns("SELECT * FROM raw.orders") == {"raw.orders": ("*",)}
    assert columns("INSERT INTO raw.orders (order_id, amount) SELECT customer_id, 1 FROM raw.customers") == {
        "raw.orders": ("amount", "order_id"),
        "raw.customers": ("customer_id",),
    }
    assert columns("UPDATE raw.orders SET amount = 0 WHERE customer_id = 3") == {
        "raw.orders": ("amount", "customer_id")
    }


APP = {
    "api.py": """
from fastapi import FastAPI

app = FastAPI()


@app.get("/revenue")
def revenue(cur):
    cur.execute("SELECT name, revenue_total FROM mart.v_revenue")
    return cur.fetchall()
""",
    "jobs.py": """
def report(cur):
    cur.execute("SELECT o.order_id, o.amount, o.discount FROM canon.orders o")
""",
}


@pytest.fixture
def app(tmp_path):
    for name, text in APP.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.fixture
def scanned(wh_source, app):
    wh_source.code_paths = [str(app)]
    discover(wh_source)
    return wh_source


def test_discovery_stores_the_columns_of_each_usage(scanned):
    usages = {
        u.object.qualified_name: u.columns
        for u in CodeUsage.objects.filter(source=scanned, object__isnull=False)
    }
    assert usages == {
        "mart.v_revenue": ["name", "revenue_total"],
        "canon.orders": ["amount", "discount", "order_id"],
    }


def test_used_column_missing_names_location_column_and_the_real_columns(scanned):
    outcome = run_check("used_column_missing")
    assert outcome.status == ERROR
    items = {i.subject: i for i in outcome.items}
    assert {s: i.level for s, i in items.items()} == {
        "mart.v_revenue.revenue_total": ERROR,  # an endpoint uses it
        "canon.orders.discount": WARN,  # a script does
    }
    detail = items["mart.v_revenue.revenue_total"].detail
    assert detail["location"] == "api.py:9" and detail["route"] == "GET /revenue"
    assert detail["column"] == "revenue_total" and detail["columns"] == ["name", "revenue"]
    assert items["canon.orders.discount"].detail["columns"] == ["order_id", "customer_id", "amount"]


def test_used_column_missing_clears_when_the_column_exists(scanned, warehouse):
    warehouse.execute("ALTER TABLE canon.orders ADD COLUMN discount numeric")
    warehouse.execute(
        "CREATE OR REPLACE VIEW mart.v_revenue AS SELECT name, sum(amount) AS revenue, 0 AS revenue_total FROM mart.v_orders GROUP BY name"
    )
    discover(scanned)
    assert run_check("used_column_missing").status == OK


def test_schema_changed_names_the_usages_a_removed_column_breaks(scanned, warehouse):
    warehouse.execute("ALTER TABLE canon.orders DROP COLUMN amount CASCADE")
    discover(scanned)
    item = next(i for i in run_check("schema_changed").items if i.subject == "canon.orders")
    assert item.level == WARN
    [removed] = [c for c in item.detail["changes"] if c["column"] == "amount"]
    assert removed["change"] == "removed" and removed["breaks"] == ["jobs.py:3"]
    assert item.detail["breaks"] == [
        {"column": "amount", "location": "jobs.py:3", "context": "script", "route": None}
    ]
    assert "canon.orders.amount" in {i.subject for i in run_check("used_column_missing").items}


def test_the_object_page_and_api_show_which_code_uses_which_column(scanned, admin_client):
    obj = RegistryObject.objects.get(source=scanned, schema_name="canon", object_name="orders")
    uses = obj.column_usages()
    assert [(u.column, u.exists, [x.location for x in u.usages]) for u in uses] == [
        ("order_id", True, ["jobs.py:3"]),
        ("amount", True, ["jobs.py:3"]),
        ("discount", False, ["jobs.py:3"]),
    ]
    body = admin_client.get(f"/api/v1/ops/source-registry/{obj.pk}").json()
    assert [(c["column"], c["exists"], c["usages"][0]["line"]) for c in body["column_usages"]] == [
        ("order_id", True, 3),
        ("amount", True, 3),
        ("discount", False, 3),
    ]
    assert body["usages"][0]["columns"] == ["amount", "discount", "order_id"]
    page = admin_client.get(f"/admin/registry/registryobject/{obj.pk}/change/").content.decode()
    assert "Columns used by code" in page and "no: missing" in page and "jobs.py:3" in page
