"""The catalog module alone, against a real warehouse."""

from __future__ import annotations

import psycopg
import pytest

from registry import catalog


@pytest.fixture
def snapshot(shared_warehouse):
    with psycopg.connect(shared_warehouse.dsn) as conn:
        return catalog.read_catalog(conn, exclude_schemas=["ops"])


def _by_name(snapshot):
    return {(o.schema, o.name): o for o in snapshot.objects}


def test_every_object_type_is_read(snapshot):
    types = {(o.schema, o.name): o.object_type for o in snapshot.objects}
    assert types == {
        ("canon", "customers"): "table",
        ("canon", "order_lines"): "table",
        ("canon", "orders"): "table",
        ("mart", "customer_ltv"): "matview",
        ("mart", "daily_sales"): "matview",
        ("mart", "v_events"): "view",
        ("mart", "v_orders"): "view",
        ("mart", "v_revenue"): "view",
        ("mart", "v_top"): "view",
        ("public", "Daily.Stats"): "table",
        ("raw", "CamelCaseImport"): "table",
        ("raw", "customers"): "table",
        ("raw", "events"): "partitioned_table",
        ("raw", "events_2026_10"): "table",
        ("raw", "events_2026_11"): "table",
        ("raw", "orders"): "table",
        ("raw", "remote_rates"): "foreign_table",
    }


def test_partitions_name_their_parent(snapshot):
    objs = _by_name(snapshot)
    part = objs[("raw", "events_2026_10")]
    assert (part.is_partition, part.parent_schema, part.parent_name) == (True, "raw", "events")
    assert not objs[("raw", "events")].is_partition


def test_matview_populated_flag_and_unique_index(snapshot):
    objs = _by_name(snapshot)
    assert (objs[("mart", "daily_sales")].is_populated, objs[("mart", "daily_sales")].has_unique_index) == (
        True,
        True,
    )
    assert (objs[("mart", "customer_ltv")].is_populated, objs[("mart", "customer_ltv")].has_unique_index) == (
        False,
        False,
    )
    assert objs[("raw", "orders")].is_populated is None


def test_stats_owner_and_comment(warehouse):
    warehouse.execute("ANALYZE canon.orders")
    warehouse.execute("VACUUM canon.customers")
    with psycopg.connect(warehouse.dsn) as conn:
        objs = _by_name(catalog.read_catalog(conn))
    orders = objs[("canon", "orders")]
    assert orders.estimated_rows == 2 and orders.last_analyze_at is not None
    assert orders.size_bytes > 0 and orders.owner
    assert objs[("canon", "customers")].last_vacuum_at is not None
    assert objs[("raw", "customers")].comment == "Customers as loaded from the CRM"
    # Never analyzed: unknown, not zero; views have no size.
    assert objs[("raw", "customers")].estimated_rows is None
    assert objs[("mart", "v_orders")].size_bytes is None


def test_columns_types_nullability_and_keys(snapshot):
    objs = _by_name(snapshot)
    cols = {c.name: c for c in snapshot.columns[objs[("raw", "orders")].oid]}
    assert [c.name for c in snapshot.columns[objs[("raw", "orders")].oid]] == [
        "order_id",
        "customer_id",
        "amount",
        "created_at",
    ]
    assert cols["amount"].data_type == "numeric(12,2)"
    assert cols["order_id"].is_primary_key and not cols["order_id"].is_nullable
    assert cols["customer_id"].fk_target == "raw.customers.customer_id"
    assert not cols["created_at"].is_nullable and cols["amount"].is_nullable
    lines = {c.name: c for c in snapshot.columns[objs[("canon", "order_lines")].oid]}
    assert lines["order_id"].is_primary_key and lines["line_no"].is_primary_key
    assert lines["order_id"].fk_target == "canon.orders.order_id" and not lines["line_no"].fk_target


def test_dependencies_are_exact_and_views_read_the_partitioned_parent(snapshot):
    names = {o.oid: f"{o.schema}.{o.name}" for o in snapshot.objects}
    edges = {(names[d.upstream_oid], names[d.downstream_oid]) for d in snapshot.dependencies}
    assert edges == {
        ("canon.orders", "mart.v_orders"),
        ("canon.customers", "mart.v_orders"),
        ("mart.v_orders", "mart.v_revenue"),
        ("mart.v_revenue", "mart.v_top"),
        ("raw.events", "mart.v_events"),
        ("mart.v_revenue", "mart.daily_sales"),
        ("canon.orders", "mart.customer_ltv"),
    }


def test_include_and_exclude_schemas(shared_warehouse):
    with psycopg.connect(shared_warehouse.dsn) as conn:
        only_mart = catalog.read_catalog(conn, include_schemas=["mart"])
        no_raw = catalog.read_catalog(conn, exclude_schemas=["raw", "ops"])
        everything = catalog.read_catalog(conn)
    assert {o.schema for o in only_mart.objects} == {"mart"}
    # Edges to objects outside the discovered set are not reported.
    assert len(only_mart.dependencies) == 3
    assert {o.schema for o in no_raw.objects} == {"canon", "mart", "public"}
    assert {o.schema for o in everything.objects} == {"raw", "canon", "mart", "ops", "public"}


def test_search_path_expands_user_and_drops_missing_schemas(warehouse):
    warehouse.execute("CREATE SCHEMA postgres")
    with psycopg.connect(warehouse.dsn) as conn:
        conn.execute("SET search_path = '$user', nowhere, mart, public")
        with conn.cursor() as cur:
            path = catalog.read_search_path(cur)
    user = psycopg.conninfo.conninfo_to_dict(warehouse.dsn).get("user", "postgres")
    assert path == ([user] if user == "postgres" else []) + ["mart", "public"]


def test_statement_timeout_bounds_catalog_queries(shared_warehouse):
    with (
        psycopg.connect(shared_warehouse.dsn) as conn,
        pytest.raises(psycopg.errors.QueryCanceled),
        conn.transaction(),
        conn.cursor() as cur,
    ):
        catalog.set_statement_timeout(cur, 50)
        cur.execute("SELECT pg_sleep(1)")
