"""Discovery's CSV artifacts, the real code scan, the ledger record, and a second
PostgreSQL version."""

from __future__ import annotations

import csv
import json
import os
import textwrap

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.models import Run, RunAsset
from registry.discovery import CSV_HEADERS, discover
from registry.models import CodeUsage, RegistryObject
from tests.conftest import require_service
from tests.factories.registry import SourceFactory
from tests.registry.conftest import WAREHOUSE_SQL, Ref, scanner_of


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_csv_headers_are_exactly_the_issues(ro_source, tmp_path):
    discover(ro_source, csv_dir=tmp_path)
    headers = {name: _read(tmp_path / name)[0] for name in CSV_HEADERS}
    assert headers["discovery_objects.csv"][:10] == [
        "source", "schema_name", "object_name", "object_type", "is_partition", "partition_of",
        "estimated_rows", "size_mb", "last_analyze", "is_populated",
    ]  # fmt: skip
    assert headers["discovery_dependencies.csv"] == [
        "source", "upstream_schema", "upstream_name", "upstream_type",
        "downstream_schema", "downstream_name", "downstream_type", "dependency_type", "provenance",
    ]  # fmt: skip
    assert headers["discovery_usage_backend.csv"][:7] == [
        "source", "schema_name", "object_name", "object_type", "usage_context", "usage_locations", "discovered_at",
    ]  # fmt: skip
    assert headers["discovery_unresolved.csv"][:1] == ["source"]


def test_csv_rows_describe_the_warehouse_in_a_stable_order(ro_source, tmp_path):
    ro_source.code_paths = [str(tmp_path)]
    refs = [
        Ref("mart.daily_sales", file="api/sales.py", line=12, context="endpoint", route="GET /sales"),
        Ref("daily_sales", file="jobs/refresh.py", line=3, kind="refresh", search_path=("mart",)),
        Ref("mart.v_churn_forecast", file="api/churn.py", line=8),
    ]
    discover(ro_source, csv_dir=tmp_path, scanner=scanner_of(refs))
    objects = _read(tmp_path / "discovery_objects.csv")[1:]
    assert len(objects) == 17 and objects == sorted(objects, key=lambda r: (r[1], r[2]))
    by_name = {(r[1], r[2]): r for r in objects}
    assert by_name[("raw", "events_2026_10")][3:6] == ["table", "true", "raw.events"]
    assert by_name[("raw", "events")][3:6] == ["partitioned_table", "false", ""]
    assert by_name[("mart", "customer_ltv")][9] == "false"
    assert by_name[("mart", "daily_sales")][9] == "true"
    assert by_name[("raw", "orders")][9] == ""
    deps = _read(tmp_path / "discovery_dependencies.csv")[1:]
    assert ["wh", "mart", "v_revenue", "view", "mart", "daily_sales", "matview", "normal", "catalog"] in deps
    assert deps == sorted(deps) and len(deps) == 7
    (usage,) = _read(tmp_path / "discovery_usage_backend.csv")[1:]
    assert usage[:5] == ["wh", "mart", "daily_sales", "matview", "both"]
    assert json.loads(usage[5]) == [
        {"file": "api/sales.py", "line": 12, "kind": "read", "context": "endpoint", "route": "GET /sales"},
        {"file": "jobs/refresh.py", "line": 3, "kind": "refresh", "context": "script", "route": None},
    ]
    (unresolved,) = _read(tmp_path / "discovery_unresolved.csv")[1:]
    assert unresolved[:4] == ["wh", "mart.v_churn_forecast", "mart", "v_churn_forecast"]
    first = {name: (tmp_path / name).read_text() for name in CSV_HEADERS}
    discover(ro_source, csv_dir=tmp_path, scanner=scanner_of(refs))
    assert {name: (tmp_path / name).read_text() for name in CSV_HEADERS} == first


def test_discovery_with_the_real_code_scan(ro_source, tmp_path):
    app = tmp_path / "app"
    (app / "api").mkdir(parents=True)
    (app / "api" / "orders.py").write_text(
        textwrap.dedent(
            """
            from fastapi import APIRouter

            router = APIRouter()


            @router.get("/revenue")
            def revenue(conn):
                return conn.execute(
                    "SELECT name, revenue "
                    "FROM mart.v_revenue"
                ).fetchall()


            def load(conn, rows):
                # SELECT * FROM raw.not_this_one
                conn.executemany("INSERT INTO raw.orders(order_id) VALUES (%s)", rows)
            """
        )
    )
    (app / "refresh.sql").write_text("SET search_path = mart;\nREFRESH MATERIALIZED VIEW daily_sales;\n")
    ro_source.code_paths = [str(app)]
    result = discover(ro_source)
    got = {
        (u.object.qualified_name if u.object else u.raw_name, u.file, u.line, u.kind, u.context, u.route)
        for u in CodeUsage.objects.filter(source=ro_source)
    }
    assert got == {
        ("mart.v_revenue", "api/orders.py", 11, "read", "endpoint", "GET /revenue"),
        ("raw.orders", "api/orders.py", 17, "write", "script", ""),
        ("mart.daily_sales", "refresh.sql", 2, "refresh", "script", ""),
    }
    assert result.unresolved == 0
    revenue = RegistryObject.objects.get(source=ro_source, schema_name="mart", object_name="v_revenue")
    assert (revenue.usage_context, revenue.criticality) == ("endpoint", "important")


def test_discover_command_records_runs_in_the_ledger(ro_source, tmp_path):
    call_command("discover", "--source", "wh", "--no-code-scan", "--csv-dir", str(tmp_path))
    run = Run.objects.get(pipeline__name="opshealth.discover")
    assert run.status == "success"
    asset = RunAsset.objects.get(run=run)
    assert asset.normalized_key == "opshealth://registry/wh"
    assert (asset.rows_inserted, asset.rows_updated, asset.rows_deleted) == (17, 0, 0)
    assert asset.extra["found"] == 17 and asset.extra["edges"] == 7
    assert (tmp_path / "discovery_objects.csv").exists()

    SourceFactory(name="down", dsn="postgresql://u:pw@127.0.0.1:1/x")
    with pytest.raises(CommandError):
        call_command("discover", "--source", "down")
    failed = Run.objects.get(pipeline__name="opshealth.discover", status="failed")
    assert "failed during catalog read" in failed.error_message and "pw@" not in failed.error_message


def test_dry_run_command_records_nothing(ro_source, capsys):
    call_command("discover", "--source", "wh", "--dry-run", "--no-code-scan")
    assert "(dry run: nothing written)" in capsys.readouterr().out
    assert not Run.objects.exists() and not RegistryObject.objects.exists()


PG15_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@pytest.mark.services
def test_discovery_on_postgresql_15(default_rules):
    try:
        admin = psycopg.connect(PG15_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        require_service("postgresql15", str(exc).splitlines()[0])
    # PostgreSQL 15 is shared by every checkout on this machine: a name of this process's own.
    name = f"opshealth_test_discovery_pg15_{os.getpid()}"
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
        try:
            dsn = PG15_DSN.replace("dbname=postgres", f"dbname={name}")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(WAREHOUSE_SQL)
                version = conn.execute("SHOW server_version_num").fetchone()[0]
            source = SourceFactory(name="pg15", dsn=dsn, exclude_schemas=["ops"])
            result = discover(source)
            source.refresh_from_db()
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    assert version.startswith("15")
    assert source.server_version.startswith("15")
    assert (result.found, result.edges) == (17, 7)
    part = RegistryObject.objects.get(source=source, object_name="events_2026_11")
    assert part.partition_of.object_name == "events"
