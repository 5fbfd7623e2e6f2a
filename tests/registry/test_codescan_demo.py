"""The demo code repository (demo/app): every reference pinned, and the traps absent.

demo/README.md describes the repository; the warehouse objects it names are those of
`manage.py demo_warehouse`. A change to demo/app changes this list on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from registry.codescan import ScanResult, scan_paths

DEMO_APP = Path(settings.BASE_DIR) / "demo" / "app"

# (file, line, raw name, kind, context, route)
EXPECTED = [
    ("api/fastapi_orders.py", 58, "mart.v_active_customers", "read", "endpoint", "GET /customers/active"),
    ("catalog/__init__.py", 13, "canon.products", "read", "script", None),
    ("catalog/importer.py", 10, "canon.products", "write", "script", None),
    ("catalog/importer.py", 11, "raw.products", "read", "script", None),
    ("django_site/views.py", 19, "canon.customers", "read", "endpoint", "GET /customers/<int:customer_id>/"),
    (
        "django_site/views.py",
        30,
        "public.feature_flags",
        "write",
        "endpoint",
        "POST /flags/<str:name>/toggle/",
    ),
    ("django_site/views.py", 38, "public.audit_trail", "write", "endpoint", "POST /flags/<str:name>/toggle/"),
    ("django_site/views.py", 44, "public.app_users", "read", "endpoint", "GET /users/"),
    ("django_site/views.py", 55, "raw.inventory_snapshots", "read", "endpoint", "GET /inventory/"),
    ("django_site/views.py", 63, "raw.inventory_snapshots", "read", "endpoint", "GET /inventory/{pk}/"),
    (
        "django_site/views.py",
        71,
        "mart.customer_ltv",
        "read",
        "endpoint",
        "GET /inventory/{pk}/lifetime-value/",
    ),
    ("scripts/fx_sync.py", 9, "raw.fx_rates", "write", "script", None),
    ("scripts/fx_sync.py", 10, "raw.remote_rates", "read", "script", None),
    ("scripts/fx_sync.py", 16, "canon.fx_rates_daily", "write", "script", None),
    ("scripts/fx_sync.py", 18, "raw.fx_rates", "read", "script", None),
    ("scripts/fx_sync.py", 27, "canon.fx_rates_daily", "read", "script", None),
    ("scripts/load_orders.py", 17, "raw.orders", "write", "script", None),
    ("scripts/load_orders.py", 25, "raw.order_items", "write", "script", None),
    ("scripts/load_orders.py", 35, "canon.orders", "write", "script", None),
    ("scripts/load_orders.py", 37, "raw.orders", "read", "script", None),
    ("scripts/load_orders.py", 45, "canon.order_lines", "write", "script", None),
    ("scripts/load_orders.py", 47, "raw.order_items", "read", "script", None),
    ("scripts/load_orders.py", 48, "canon.products", "read", "script", None),
    ("scripts/load_orders.py", 58, "ops.job_log", "write", "script", None),
    ("scripts/maintenance.py", 16, "raw.events", "ddl", "script", None),
    ("scripts/maintenance.py", 16, "raw.events_{suffix}", "ddl", "script", None),
    ("scripts/maintenance.py", 22, "raw.web_sessions", "write", "script", None),
    ("scripts/maintenance.py", 28, 'raw."CamelCaseImport"', "write", "script", None),
    ("scripts/maintenance.py", 29, 'raw."CamelCaseImport"', "write", "script", None),
    ("scripts/maintenance.py", 29, "raw.remote_rates", "read", "script", None),
    ("scripts/maintenance.py", 33, "{table}", "write", "script", None),
    ("scripts/refresh_marts.py", 14, "mart.{view}", "refresh", "script", None),
    ("scripts/refresh_marts.py", 16, "mart.product_performance", "refresh", "script", None),
    ("scripts/refresh_marts.py", 19, "mart.customer_ltv", "refresh", "script", None),
    ("services/orders.py", 12, "mart.v_orders_enriched", "read", "endpoint", "GET /orders/{order_id}"),
    ("services/orders.py", 13, "canon.customers", "read", "endpoint", "GET /orders/{order_id}"),
    ("services/orders.py", 28, "mart.v_order_revenue", "read", "endpoint", "GET /orders/"),
    ("services/orders.py", 38, "raw.payments", "write", "endpoint", "POST /orders/{order_id}/payments"),
    ("services/orders.py", 44, "raw.orders", "write", "endpoint", "POST /orders/{order_id}/payments"),
    ("services/revenue.py", 10, "mart.daily_sales", "read", "endpoint", "GET /revenue/daily"),
    ("services/revenue.py", 25, "mart.v_churn_forecast", "read", "endpoint", "GET /revenue/churn"),
    ("services/revenue.py", 31, "canon.fx_rates_daily", "read", "script", None),
    ("services/revenue.py", 34, "mart.v_revenue_by_day", "read", "script", None),
    ("sql/canon_build.sql", 6, "customers", "write", "script", None),
    ("sql/canon_build.sql", 8, "raw.customers", "read", "script", None),
    ("sql/canon_build.sql", 18, "raw.products", "read", "script", None),
    ("sql/canon_build.sql", 21, "products", "write", "script", None),
    ("sql/canon_build.sql", 23, "raw.products", "read", "script", None),
    ("sql/canon_build.sql", 27, "payments", "write", "script", None),
    ("sql/canon_build.sql", 28, "raw.payments", "read", "script", None),
    ("sql/canon_build.sql", 32, "app_users", "write", "script", None),
    ("sql/functions.sql", 7, "mart.v_order_revenue", "read", "script", None),
    ("sql/functions.sql", 8, "canon.orders", "read", "script", None),
    ("sql/functions.sql", 20, "public.audit_trail", "write", "script", None),
    ("sql/functions.sql", 22, "public.app_users", "read", "script", None),
    ("sql/mart_refresh.sql", 3, "mart.daily_sales", "refresh", "script", None),
    ("sql/mart_refresh.sql", 4, "mart.session_funnel", "refresh", "script", None),
    ("sql/mart_refresh.sql", 5, "mart.product_performance", "refresh", "script", None),
    ("sql/mart_refresh.sql", 8, "ops.job_log", "write", "script", None),
    # CherryPy handlers (no URL known) reach storefront/catalog.py, imported from the
    # script's own directory although a top-level catalog/ package has the same name.
    ("storefront/catalog.py", 23, "mart.product_performance", "read", "endpoint", None),
    ("storefront/catalog.py", 32, "raw.inventory_snapshots", "read", "endpoint", None),
    ("storefront/catalog.py", 40, "mart.v_active_customers", "read", "endpoint", None),
    ("storefront/catalog.py", 46, "raw.web_sessions", "write", "script", None),
    ("web/flask_reports.py", 17, "mart.top_products", "read", "endpoint", "GET /reports/products"),
    ("web/flask_reports.py", 18, "mart.product_performance", "read", "endpoint", "GET /reports/products"),
    ("web/flask_reports.py", 28, "mart.{name}", "read", "endpoint", "GET /reports/by-name/<name>"),
    ("web/flask_reports.py", 39, "mart.session_funnel", "read", "endpoint", "GET /reports/sessions"),
    ("web/flask_reports.py", 46, 'public."Daily.Stats"', "read", "endpoint", "GET /reports/daily-stats"),
]


@pytest.fixture(scope="module")
def demo() -> ScanResult:
    return scan_paths([DEMO_APP])


def test_every_reference_of_the_demo_repository(demo):
    found = [(r.file, r.line, r.raw_name, r.kind, r.context, r.route) for r in demo.references]
    assert found == EXPECTED


def test_demo_repository_scans_without_errors(demo):
    assert demo.errors == []
    assert demo.files_scanned == len(list(DEMO_APP.rglob("*.py"))) + len(list(DEMO_APP.rglob("*.sql")))


# SQL-looking text the scan must ignore: (file, line) → why.
TRAPS = {
    ("services/orders.py", 5): "SELECT in the module docstring",
    ("services/orders.py", 25): "SELECT in a comment",
    ("sql/canon_build.sql", 14): "INSERT in a block comment",
    ("sql/mart_refresh.sql", 2): "REFRESH in a -- comment",
    ("services/revenue.py", 20): "mart.fn_top_customers() is a function in FROM",
    ("api/fastapi_orders.py", 66): "SELECT in a handler's docstring",
}


@pytest.mark.parametrize(("place", "why"), TRAPS.items())
def test_traps_are_not_reported(demo, place, why):
    assert place not in {(r.file, r.line) for r in demo.references}, why


def test_ignored_names_appear_nowhere(demo):
    ignored = {"orders_legacy", "products_v1", "fn_top_customers", "top_products"}
    assert not [r for r in demo.references if r.name in ignored and r.file != "web/flask_reports.py"]


def test_quoted_and_templated_names_of_the_demo(demo):
    by_raw = {r.raw_name: r for r in demo.references}
    assert (by_raw['public."Daily.Stats"'].schema, by_raw['public."Daily.Stats"'].name) == (
        "public",
        "Daily.Stats",
    )
    assert by_raw['raw."CamelCaseImport"'].name == "CamelCaseImport"
    for templated in ("mart.{name}", "mart.{view}", "raw.events_{suffix}", "{table}"):
        assert (by_raw[templated].resolvable, by_raw[templated].name) == (False, None), templated


def test_sql_files_carry_their_search_path(demo):
    canon_build = [
        (r.line, r.schema, r.search_path) for r in demo.references if r.file == "sql/canon_build.sql"
    ]
    assert canon_build[0] == (6, None, ("canon", "public"))
    assert canon_build[-1] == (32, None, ("public",))


def test_endpoint_helpers_name_their_function(demo):
    payments = next(
        r for r in demo.references if r.raw_name == "raw.payments" and r.file == "services/orders.py"
    )
    assert payments.function == "services.orders:record_payment"
    assert payments.route == "POST /orders/{order_id}/payments"


def test_the_storefront_import_is_resolved_as_python_runs_the_script(demo):
    by_place = {(r.file, r.line): r for r in demo.references}
    best = by_place[("storefront/catalog.py", 23)]
    assert best.function == "storefront.catalog:best_sellers"
    assert best.evidence == (
        "import catalog in storefront/server.py: storefront/catalog.py (nearest on sys.path), "
        "not catalog/__init__.py"
    )
    assert by_place[("catalog/__init__.py", 13)].evidence == ""


def test_the_demo_columns_name_the_deliberate_bug(demo):
    by_place = {(r.file, r.line): r for r in demo.references}
    assert by_place[("services/revenue.py", 10)].columns == ("orders", "revenue", "sales_day")
    assert by_place[("storefront/catalog.py", 32)].columns == ("on_hand", "product_id", "snapshot_date")
