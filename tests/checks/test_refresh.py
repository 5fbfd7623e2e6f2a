"""refresh_matviews on a real warehouse: order, CONCURRENTLY, failures, ledger, locking."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import psycopg
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from checks.refresh import PIPELINE, refresh_matviews, refresh_order
from ledger.models import Run, RunAsset
from registry.models import AssetLink
from tests.checks.conftest import _conninfo, run_check
from tests.factories.registry import DependencyFactory, RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(source, warehouse):
    """raw.t → mart.a (unique index) → mart.v (view) → mart.b (no unique index),
    mart.c (WITH NO DATA, unique index), mart.bad (raises while raw.flag has rows)."""
    warehouse.execute("""
        CREATE TABLE raw.t (id int PRIMARY KEY);
        INSERT INTO raw.t VALUES (1), (2);
        CREATE TABLE raw.flag (x int);
        CREATE FUNCTION raw.boom() RETURNS int LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM raw.flag) THEN RAISE EXCEPTION 'upstream broken'; END IF;
            RETURN 1;
        END $$;
        CREATE MATERIALIZED VIEW mart.a AS SELECT id FROM raw.t;
        CREATE UNIQUE INDEX ON mart.a (id);
        CREATE VIEW mart.v AS SELECT id FROM mart.a;
        CREATE MATERIALIZED VIEW mart.b AS SELECT id FROM mart.v;
        CREATE MATERIALIZED VIEW mart.c AS SELECT id FROM raw.t WITH NO DATA;
        CREATE UNIQUE INDEX ON mart.c (id);
        CREATE MATERIALIZED VIEW mart.bad AS SELECT raw.boom() AS x;
        INSERT INTO raw.flag VALUES (1);
    """)
    objs = {
        name: RegistryObjectFactory(source=source, schema_name=schema, object_name=name, object_type=kind)
        for schema, name, kind in [
            ("raw", "t", "table"),
            ("mart", "b", "matview"),  # created first: the order must come from the edges
            ("mart", "v", "view"),
            ("mart", "a", "matview"),
            ("mart", "c", "matview"),
            ("mart", "bad", "matview"),
        ]
    }
    DependencyFactory(upstream=objs["t"], downstream=objs["a"])
    DependencyFactory(upstream=objs["a"], downstream=objs["v"])
    DependencyFactory(upstream=objs["v"], downstream=objs["b"])
    DependencyFactory(upstream=objs["t"], downstream=objs["c"])
    return objs


def _refreshes():
    return list(RunAsset.objects.filter(run__pipeline__name=PIPELINE).order_by("id"))


def test_refresh_order_is_upstream_first_through_views():
    a, v, b = (RegistryObjectFactory(object_type=k) for k in ("matview", "view", "matview"))
    ordered = refresh_order([b, a], [(a.pk, v.pk), (v.pk, b.pk)])
    assert ordered == [a, b]


def test_refresh_matviews_refreshes_in_order_concurrently_where_possible_and_carries_on(chain, warehouse):
    out = StringIO()
    with pytest.raises(CommandError, match=r"1 of 4 refreshes failed \(mart.bad\)"):
        call_command("refresh_matviews", stdout=out)
    assets = {a.asset_key: a for a in _refreshes()}
    order = [a.asset_key for a in _refreshes()]
    assert order.index("mart.a") < order.index("mart.b")
    assert assets["mart.a"].extra["concurrently"] is True
    assert assets["mart.b"].extra["concurrently"] is False  # no unique index
    assert assets["mart.c"].extra["concurrently"] is False  # not populated yet
    assert assets["mart.bad"].status == "failed" and "upstream broken" in assets["mart.bad"].error_message
    assert {k for k, a in assets.items() if a.status == "success"} == {"mart.a", "mart.b", "mart.c"}
    assert all(a.duration_ms is not None and a.kind == "matview" for a in assets.values())
    populated = warehouse.execute("SELECT relispopulated FROM pg_class WHERE relname = 'c'").fetchone()[0]
    assert populated is True
    run = Run.objects.get(pipeline__name=PIPELINE)
    assert run.status == Run.FAILED and "mart.bad" in run.error_message
    assert "mart.bad (plain" in out.getvalue() and "FAILED: upstream broken" in out.getvalue()
    # the refreshes are linked to the registry: the checks see them
    assert AssetLink.objects.get(normalized_key="mart.bad").object == chain["bad"]
    assert [i.subject for i in run_check("mv_refresh_failed").items] == ["mart.bad"]


def test_a_fixed_view_clears_mv_refresh_failed_and_the_run_succeeds(chain, warehouse):
    with pytest.raises(CommandError):
        call_command("refresh_matviews", stdout=StringIO())
    warehouse.execute("DELETE FROM raw.flag")
    call_command("refresh_matviews", "--only", "mart.bad", stdout=StringIO())
    assert run_check("mv_refresh_failed").status == "OK"
    latest = Run.objects.filter(pipeline__name=PIPELINE).order_by("-id").first()
    assert latest.status == Run.SUCCESS and [a.asset_key for a in latest.assets.all()] == ["mart.bad"]


def test_only_and_source_are_validated(chain):
    with pytest.raises(CommandError, match=r"not materialized views of the registry: mart\.v"):
        call_command("refresh_matviews", "--only", "mart.v")
    with pytest.raises(CommandError, match="unknown or inactive source 'nope'"):
        call_command("refresh_matviews", "--source", "nope")
    call_command(
        "refresh_matviews", "--source", "wh", "--only", "mart.a", "--only", "mart.b", stdout=StringIO()
    )
    assert [a.asset_key for a in _refreshes()] == ["mart.a", "mart.b"]


def test_an_unreachable_source_does_not_stop_the_others(chain):
    dead = SourceFactory(name="dead", dsn="postgresql://nobody@127.0.0.1:1/x")
    RegistryObjectFactory(source=dead, object_type="matview")
    err = StringIO()
    with pytest.raises(CommandError, match="unreachable sources: dead"):
        call_command("refresh_matviews", stdout=StringIO(), stderr=err)
    assert "dead: cannot connect (OperationalError)" in err.getvalue()
    assert len(_refreshes()) == 4


def test_an_overlapping_refresh_is_skipped_and_recorded(chain):
    with psycopg.connect(_conninfo(connection.settings_dict["NAME"]), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", [PIPELINE])
        with pytest.raises(CommandError, match="skipped"):
            call_command("refresh_matviews")
    run = Run.objects.get(pipeline__name=PIPELINE)
    assert (run.status, run.error_type) == (Run.ABORTED, "SkippedOverlap")
    assert _refreshes() == []


def test_due_refreshes_only_the_views_whose_schedule_runs_out_before_the_next_tick(chain, warehouse):
    warehouse.execute("DELETE FROM raw.flag")
    start = timezone.now()
    chain["a"].refresh_schedule = timedelta(hours=6)
    chain["a"].save()
    with time_machine.travel(start, tick=False):
        call_command("refresh_matviews", stdout=StringIO())  # all four, never refreshed before
    with time_machine.travel(start + timedelta(hours=5, minutes=30), tick=False):
        # mart.a: 6 h schedule runs out within the hour; the others have the default 24 h
        refresh_matviews(due=True, trigger="schedule")
    latest = Run.objects.filter(pipeline__name=PIPELINE).order_by("-id").first()
    assert [a.asset_key for a in latest.assets.all()] == ["mart.a"]
    assert latest.triggered_by == "scheduler"
    with time_machine.travel(start + timedelta(hours=6), tick=False):
        nothing = refresh_matviews(due=True)
    assert nothing.results == [] and str(nothing) == "0 of 0 materialized views refreshed"
