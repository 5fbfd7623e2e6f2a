"""Endpoint context: route handlers of each framework and the functions they reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from registry.codescan import RoutePatterns, ScanResult, scan_paths

from .test_codescan import scan, write_tree

FRAMEWORKS = Path(__file__).parent / "code_fixtures" / "frameworks"


def contexts(result: ScanResult) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(r.file, f"{r.schema}.{r.name}"): (r.context, r.route) for r in result.references}


@pytest.fixture(scope="module")
def frameworks() -> dict:
    return contexts(scan_paths([FRAMEWORKS]))


@pytest.mark.parametrize(
    ("file", "name", "route"),
    [
        # FastAPI: router prefix, api_route methods (first listed), add_api_route; Starlette Route()
        ("fastapi_app/main.py", "canon.orders", "GET /api/orders/{order_id}"),
        ("fastapi_app/main.py", "raw.orders", "POST /api/orders/"),
        ("fastapi_app/main.py", "public.app_users", "HEAD /ping"),
        ("fastapi_app/main.py", "mart.v_revenue_by_day", "GET /legacy"),
        ("fastapi_app/starlette_routes.py", "mart.top_products", "GET /"),
        ("fastapi_app/starlette_routes.py", "mart.session_funnel", "GET /sessions"),
        # Flask: blueprint url_prefix and methods, app.get, add_url_rule with a function and a MethodView
        ("flask_app/views.py", "mart.daily_sales", "POST /reports/sales"),
        ("flask_app/views.py", "public.feature_flags", "GET /flags"),
        ("flask_app/views.py", "mart.customer_ltv", "GET /export"),
        ("flask_app/views.py", "public.app_users", "DELETE /users"),
        # Django urls.py: function view, re_path + as_view(), DRF @api_view, APIView, router + ViewSet + @action
        ("djangoproj/shop/views.py", "canon.orders", "GET /orders/"),
        ("djangoproj/shop/views.py", "mart.daily_sales", "GET /dashboard/"),
        ("djangoproj/shop/views.py", "raw.events", "POST /upload/"),
        ("djangoproj/shop/views.py", "raw.inventory_snapshots", "GET /stock/"),
        ("djangoproj/shop/views.py", "mart.product_performance", "GET /products/bestsellers/"),
        # aiohttp: RouteTableDef, router.add_get, web.post in add_routes
        ("aio/server.py", "canon.fx_rates_daily", "GET /rates"),
        ("aio/server.py", "raw.events", "GET /events"),
        ("aio/server.py", "raw.web_sessions", "POST /sessions"),
        # Tornado RequestHandler registered in an Application; Bottle; CherryPy (no URL known)
        ("tornado_app/app.py", "canon.customers", "GET /customers/([0-9]+)"),
        ("misc/bottle_app.py", "canon.calendar", "GET /calendar"),
        ("misc/bottle_app.py", "canon.payments", "GET /payments"),
        ("misc/cherry.py", "raw.fx_rates", None),
    ],
)
def test_framework_handlers_are_endpoints_with_their_route(frameworks, file, name, route):
    assert frameworks[(file, name)] == ("endpoint", route)


def test_viewset_actions_get_list_and_detail_routes_through_a_shared_helper():
    result = scan_paths([FRAMEWORKS])
    products = [(r.line, r.kind, r.route) for r in result.references if r.name == "products"]
    # Both strings are written in the actions themselves and passed to self._query().
    assert products == [(38, "read", "GET /products/"), (41, "write", "DELETE /products/{pk}/")]


def test_functions_no_handler_reaches_are_scripts(frameworks):
    assert frameworks[("djangoproj/shop/views.py", "raw.never_wired")] == ("script", None)
    # A method of a handler class that is not an HTTP verb and is never called.
    assert frameworks[("tornado_app/app.py", "raw.customers")] == ("script", None)


def test_helper_reached_through_imports_is_endpoint(tmp_path):
    result = scan(
        tmp_path,
        {
            "api/__init__.py": "",
            "api/routes.py": """
            import services.billing
            from services import orders as order_service
            from services.stats import totals
            from .local import local_helper
            from fastapi import APIRouter

            router = APIRouter()

            @router.get("/a")
            def a():
                return order_service.fetch(), services.billing.invoices(), totals(), local_helper()
            """,
            "api/local.py": 'def local_helper(c):\n    c.execute("select * from raw.local")\n',
            "services/__init__.py": "",
            "services/orders.py": """
            def fetch():
                return _inner()

            def _inner(c):
                c.execute("select * from canon.orders")
            """,
            "services/billing.py": 'def invoices(c):\n    c.execute("select * from canon.payments")\n',
            "services/stats.py": 'def totals(c):\n    c.execute("select * from mart.daily_sales")\n',
        },
    )
    assert {(r.file, r.context, r.route, r.function) for r in result.references} == {
        ("api/local.py", "endpoint", "GET /a", "api.local:local_helper"),
        ("services/orders.py", "endpoint", "GET /a", "services.orders:_inner"),
        ("services/billing.py", "endpoint", "GET /a", "services.billing:invoices"),
        ("services/stats.py", "endpoint", "GET /a", "services.stats:totals"),
    }


def test_methods_reached_through_self_and_instances_are_endpoint(tmp_path):
    result = scan(
        tmp_path,
        {
            "repo.py": """
            class OrderRepository:
                def __init__(self, conn):
                    self.conn = conn

                def recent(self):
                    return self._run("select * from canon.orders")

                def _run(self, sql):
                    return self.conn.execute(sql)

                def unused(self):
                    return self.conn.execute("select * from raw.unused")
            """,
            "app.py": """
            from flask import Flask
            from repo import OrderRepository

            app = Flask(__name__)

            @app.route("/recent")
            def recent(conn):
                repository = OrderRepository(conn)
                return repository.recent()
            """,
        },
    )
    assert {(r.name, r.context, r.route) for r in result.references} == {
        ("orders", "endpoint", "GET /recent"),
        ("unused", "script", None),
    }


def test_shared_helper_takes_the_first_route_in_sorted_order(tmp_path):
    result = scan(
        tmp_path,
        {
            "app.py": """
            from fastapi import FastAPI
            app = FastAPI()

            def shared(c):
                c.execute("select * from mart.daily_sales")

            @app.post("/zeta")
            def zeta(c):
                shared(c)

            @app.get("/beta")
            def beta(c):
                shared(c)
            """
        },
    )
    ref = result.references[0]
    assert (ref.context, ref.route, ref.function) == ("endpoint", "GET /beta", "app:shared")


def test_module_level_sql_is_script_unless_a_reached_function_reads_the_constant(tmp_path):
    result = scan(
        tmp_path,
        {
            "queries.py": """
            DAILY: Final = "select * from mart.daily_sales"
            UNUSED = "select * from mart.unused"
            MIGRATION = "create table raw.migrated (id int)"
            """,
            "app.py": """
            from flask import Flask
            from queries import DAILY

            app = Flask(__name__)

            @app.route("/daily")
            def daily(c):
                return c.execute(DAILY)

            def cron(c):
                from queries import UNUSED
                return c.execute(UNUSED)
            """,
        },
    )
    assert {(r.name, r.context, r.route, r.function) for r in result.references} == {
        ("daily_sales", "endpoint", "GET /daily", "app:daily"),
        ("unused", "script", None, "app:cron"),  # read by a function, but no handler reaches it
        ("migrated", "script", None, ""),
    }


def test_code_path_inside_the_package_resolves_absolute_imports(tmp_path):
    # The code path is the package itself: `from shop.services …` must find services/.
    result = scan(
        tmp_path,
        {
            "services/__init__.py": "",
            "services/q.py": 'def q(c):\n    c.execute("select * from canon.orders")\n',
            "web.py": """
            from shop.services.q import q

            @app.get("/q")
            def view(c):
                return q(c)
            """,
        },
    )
    assert (result.references[0].context, result.references[0].route) == ("endpoint", "GET /q")


def test_route_patterns_are_configurable(tmp_path):
    files = {
        "svc.py": """
        @endpoints.expose_http("/internal/orders")
        def orders(c):
            c.execute("select * from canon.orders")

        @app.get("/public")
        def public(c):
            c.execute("select * from canon.customers")
        """
    }
    custom = RoutePatterns.from_dict({"decorators": {"endpoints.expose_http": "POST"}})
    result = scan_paths([write_tree(tmp_path, files)], route_patterns=custom)
    assert {(r.name, r.context, r.route) for r in result.references} == {
        ("orders", "endpoint", "POST /internal/orders"),
        ("customers", "script", None),
    }


def test_default_patterns_come_from_settings(tmp_path, settings):
    settings.OPSHEALTH_ROUTE_PATTERNS = {"decorators": {"*.get": "GET"}, "registrations": {}}
    result = scan(tmp_path, {"a.py": '@app.get("/x")\ndef x(c):\n    c.execute("select * from raw.a")\n'})
    assert result.references[0].route == "GET /x"
    settings.OPSHEALTH_ROUTE_PATTERNS = {}
    result = scan_paths([tmp_path])
    assert result.references[0].context == "script"


def test_settings_default_patterns_cover_every_framework():
    patterns = RoutePatterns.from_dict(settings.OPSHEALTH_ROUTE_PATTERNS)
    for decorator in ("router.get", "app.route", "bp.route", "blueprint.get", "routes.post", "api_view",
                      "route", "get", "cherrypy.expose", "app.api_route"):  # fmt: skip
        assert patterns.decorator_method(decorator), decorator
    for call in (
        "path",
        "re_path",
        "url",
        "app.router.add_get",
        "tornado.web.Application",
        "router.register",
    ):
        assert patterns.registration_method(call), call
    for base in (
        "View",
        "generic.ListView",
        "APIView",
        "viewsets.ModelViewSet",
        "tornado.web.RequestHandler",
    ):
        assert patterns.is_view_base(base), base
    assert patterns.is_mount("app.include_router") and patterns.is_mount("app.register_blueprint")


def test_routes_declared_inside_an_app_factory(tmp_path):
    result = scan(
        tmp_path,
        {
            "factory.py": """
            from flask import Flask

            def create_app():
                app = Flask(__name__)

                @app.route("/orders")
                def orders():
                    return app.db.execute("select * from canon.orders")

                return app
            """
        },
    )
    ref = result.references[0]
    assert (ref.context, ref.route, ref.function) == ("endpoint", "GET /orders", "factory:create_app.orders")


def test_django_include_prefixes_urls_modules_and_routers(tmp_path):
    result = scan(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/urls.py": """
            from django.urls import include, path, re_path
            from shop.api import router as api_router

            urlpatterns = [
                path("shop/", include("shop.urls")),
                re_path(r"^api/v2/", include(api_router.urls)),
            ]
            """,
            "shop/__init__.py": "",
            "shop/urls.py": """
            from django.urls import path
            from . import views

            urlpatterns = [path("orders/<int:pk>/", views.order)]
            """,
            "shop/views.py": """
            def order(request, pk):
                return run("select * from canon.orders where id = %s", pk)
            """,
            "shop/api.py": """
            from rest_framework import routers, viewsets

            router = routers.DefaultRouter()

            class Items(viewsets.ViewSet):
                def list(self, request):
                    return run("select * from canon.items")

            router.register("items", Items)
            """,
        },
    )
    assert {(r.name, r.route) for r in result.references} == {
        ("orders", "GET /shop/orders/<int:pk>/"),
        ("items", "GET /api/v2/items/"),
    }


def test_mount_prefixes_of_fastapi_routers_and_flask_blueprints(tmp_path):
    result = scan(
        tmp_path,
        {
            "api/__init__.py": "",
            "api/orders.py": """
            from fastapi import APIRouter

            router = APIRouter(prefix="/orders")

            @router.get("/{order_id}")
            def read(order_id, db):
                return db.execute("select * from canon.orders")
            """,
            "web.py": """
            from flask import Blueprint

            bp = Blueprint("reports", __name__)

            @bp.get("/sales")
            def sales(db):
                return db.execute("select * from mart.daily_sales")
            """,
            "main.py": """
            from fastapi import FastAPI
            from flask import Flask
            from api import orders
            from web import bp

            app = FastAPI()
            app.include_router(orders.router, prefix="/api/v1")
            flask_app = Flask(__name__)
            flask_app.register_blueprint(bp, url_prefix="/reports")
            """,
        },
    )
    assert {(r.name, r.route) for r in result.references} == {
        ("orders", "GET /api/v1/orders/{order_id}"),
        ("daily_sales", "GET /reports/sales"),
    }
