"""Each health check fires, then clears, on registry/ledger rows or a real warehouse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.models import ERROR, INFO, OK, WARN
from ledger.models import Run
from registry.models import CodeUsage, RegistryObject
from tests.checks.conftest import link, run_check
from tests.factories.ledger import (
    CheckResultFactory,
    PipelineFactory,
    RunAssetFactory,
    RunFactory,
    WatermarkFactory,
)
from tests.factories.registry import (
    CodeUsageFactory,
    DependencyFactory,
    RegistryObjectFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def test_expected_source_missing_fires_for_a_gone_expected_object_and_clears_when_back():
    obj = RegistryObjectFactory(schema_name="raw", object_name="orders", is_expected=True, exists_in_db=False)
    RegistryObjectFactory(exists_in_db=False)  # gone but not expected: not this check's business
    outcome = run_check("expected_source_missing")
    assert outcome.status == ERROR
    assert [(i.subject, i.object_id) for i in outcome.items] == [("raw.orders", obj.pk)]
    RegistryObject.objects.filter(pk=obj.pk).update(exists_in_db=True)
    assert run_check("expected_source_missing").status == OK


def test_unregistered_used_object_fires_for_a_name_in_an_excluded_schema(source, warehouse):
    warehouse.execute("CREATE TABLE ops.job_log (id int)")
    CodeUsageFactory(
        object=None,
        source=source,
        raw_name="ops.job_log",
        schema_name="ops",
        object_name="job_log",
        context="script",
    )
    outcome = run_check("unregistered_used_object")
    assert outcome.status == WARN
    [item] = outcome.items
    assert item.subject == "ops.job_log"
    assert item.detail["used_by"] == "code" and item.detail["locations"] == ["api/orders.py:42"]


def test_unregistered_used_object_is_an_error_when_an_endpoint_uses_it_and_clears_once_registered(
    source, warehouse
):
    warehouse.execute("CREATE TABLE ops.job_log (id int)")
    CodeUsageFactory(object=None, source=source, schema_name="ops", object_name="job_log", context="endpoint")
    assert run_check("unregistered_used_object").status == ERROR
    RegistryObjectFactory(source=source, schema_name="ops", object_name="job_log")
    assert run_check("unregistered_used_object").status == OK


def test_unregistered_used_object_sees_ledger_keys_that_exist_in_a_source(source, warehouse):
    warehouse.execute("CREATE TABLE ops.etl_config (id int)")
    # the ledger's normalized form of `warehouse.ops.etl_config`
    WatermarkFactory(asset_key="warehouse.ops.etl_config", normalized_key="warehouse/ops.etl_config")
    outcome = run_check("unregistered_used_object")
    assert [(i.subject, i.detail["sources"]) for i in outcome.items] == [("warehouse/ops.etl_config", ["wh"])]
    obj = RegistryObjectFactory(source=source, schema_name="ops", object_name="etl_config")
    link(obj, "warehouse/ops.etl_config")
    assert run_check("unregistered_used_object").status == OK


def test_used_object_missing_fires_for_names_absent_from_the_catalog_and_for_gone_objects(source, warehouse):
    warehouse.execute("CREATE TABLE raw.orders (id int)")
    CodeUsageFactory(
        object=None, source=source, schema_name="mart", object_name="v_churn_forecast", context="endpoint"
    )
    gone = RegistryObjectFactory(source=source, schema_name="raw", object_name="legacy", exists_in_db=False)
    CodeUsageFactory(object=gone, context="script")
    CodeUsageFactory(object=None, source=source, schema_name="raw", object_name="orders")  # exists
    outcome = run_check("used_object_missing")
    assert outcome.status == ERROR
    assert {(i.subject, i.level) for i in outcome.items} == {
        ("mart.v_churn_forecast", ERROR),
        ("raw.legacy", WARN),
    }
    CodeUsage.objects.all().delete()
    assert run_check("used_object_missing").status == OK


def test_used_object_missing_does_not_judge_names_of_an_unreachable_source(db):
    dead = SourceFactory(name="dead", dsn="postgresql://nobody@127.0.0.1:1/nowhere")
    CodeUsageFactory(object=None, source=dead, schema_name="mart", object_name="x")
    assert run_check("used_object_missing").status == OK


def test_monitored_not_in_health_views_fires_until_something_measures_the_object():
    obj = RegistryObjectFactory(schema_name="raw", object_name="fx_rates", health_enabled=True)
    RegistryObjectFactory(health_enabled=None, should_monitor=True)  # only health_enabled counts here
    outcome = run_check("monitored_not_in_health_views")
    assert outcome.status == WARN and [i.subject for i in outcome.items] == ["raw.fx_rates"]
    link(obj)
    CheckResultFactory(asset_key="raw.fx_rates")
    assert run_check("monitored_not_in_health_views").status == OK


def test_health_view_source_unknown_lists_each_unmapped_key_with_its_origins():
    WatermarkFactory(asset_key="raw.mystery")
    RunAssetFactory(asset_key="raw.mystery")
    CheckResultFactory(asset_key="canon.unknown")
    RunAssetFactory(asset_key="exports/file.csv", kind="file")  # files are not database objects
    outcome = run_check("health_view_source_unknown")
    assert outcome.status == WARN
    assert {i.subject: i.detail["origins"] for i in outcome.items} == {
        "canon.unknown": ["check_result"],
        "raw.mystery": ["run_asset", "watermark"],
    }
    link(RegistryObjectFactory(schema_name="raw", object_name="mystery"))
    link(RegistryObjectFactory(schema_name="canon", object_name="unknown"))
    assert run_check("health_view_source_unknown").status == OK


def _raw_feeding_critical():
    source = SourceFactory()
    raw = RegistryObjectFactory(source=source, schema_name="raw", object_name="web_sessions", layer="RAW")
    view = RegistryObjectFactory(
        source=source, schema_name="mart", object_name="v_active", object_type="view"
    )
    mv = RegistryObjectFactory(
        source=source,
        schema_name="mart",
        object_name="session_funnel",
        object_type="matview",
        layer="MV",
        criticality="critical",
    )
    DependencyFactory(upstream=raw, downstream=view)
    DependencyFactory(upstream=view, downstream=mv)
    link(raw)
    return raw, mv


def test_raw_source_stale_affecting_critical_follows_dependencies_transitively():
    raw, _ = _raw_feeding_critical()
    now = timezone.now()
    WatermarkFactory(asset_key="raw.web_sessions", watermark_ts=now - 30 * HOUR)
    outcome = run_check("raw_source_stale_affecting_critical", now)
    assert outcome.status == WARN
    [item] = outcome.items
    assert item.object_id == raw.pk
    assert item.detail["affects_critical"] == ["mart.session_funnel"]
    assert item.detail["decided_by"] == "watermark" and item.detail["allowed_by"] == "default"
    # twice the allowed age: an error
    assert run_check("raw_source_stale_affecting_critical", now + 20 * HOUR).status == ERROR
    WatermarkFactory(asset_key="raw.web_sessions", scope_key="eu", watermark_ts=now)
    assert run_check("raw_source_stale_affecting_critical", now).status == OK


def test_raw_source_stale_affecting_critical_ignores_stale_raw_feeding_nothing_critical():
    _raw, mv = _raw_feeding_critical()
    RegistryObject.objects.filter(pk=mv.pk).update(is_critical=False)  # override beats inference
    WatermarkFactory(asset_key="raw.web_sessions", watermark_ts=timezone.now() - 30 * HOUR)
    assert run_check("raw_source_stale_affecting_critical").status == OK


def _matview(**kwargs):
    obj = RegistryObjectFactory(object_type="matview", layer="MV", **kwargs)
    link(obj)
    return obj


def _refresh(obj, *, status="success", at=None, error=""):
    at = at or timezone.now()
    run = RunFactory(pipeline=PipelineFactory(name="opshealth.refresh_matviews"), started_at=at)
    return RunAssetFactory(
        run=run, asset_key=obj.qualified_name, kind="matview", status=status, ended_at=at, error_message=error
    )


def test_mv_refresh_stale_fires_when_never_or_long_ago_refreshed_and_clears_after_a_refresh():
    mv = _matview(schema_name="mart", object_name="daily_sales")
    now = timezone.now()
    assert run_check("mv_refresh_stale", now).items[0].detail["reasons"] == ["no_successful_refresh"]
    _refresh(mv, at=now - 25 * HOUR)
    item = run_check("mv_refresh_stale", now).items[0]
    assert item.detail["reasons"] == ["older_than_allowed"] and item.detail["decided_by"] == "refresh"
    _refresh(mv, at=now - HOUR)
    assert run_check("mv_refresh_stale", now).status == OK


def test_mv_refresh_stale_uses_the_object_schedule_then_its_override():
    mv = _matview(schema_name="mart", object_name="hourly", inferred_refresh_schedule=HOUR)
    now = timezone.now()
    _refresh(mv, at=now - 2 * HOUR)
    item = run_check("mv_refresh_stale", now).items[0]
    assert item.detail["allowed_by"] == "inferred_refresh_schedule" and item.detail["allowed_hours"] == 1
    RegistryObject.objects.filter(pk=mv.pk).update(max_staleness=3 * HOUR)
    assert run_check("mv_refresh_stale", now).status == OK


def test_mv_refresh_stale_fires_when_an_input_watermark_is_newer_than_the_last_refresh():
    _raw, mv = _raw_feeding_critical()
    link(mv)
    now = timezone.now()
    _refresh(mv, at=now - 2 * HOUR)
    WatermarkFactory(asset_key="raw.web_sessions", watermark_ts=now - HOUR)
    item = run_check("mv_refresh_stale", now).items[0]
    assert item.detail["reasons"] == ["older_than_inputs"]
    assert item.detail["upstream"] == "raw.web_sessions"
    _refresh(mv, at=now - HOUR / 2)
    assert run_check("mv_refresh_stale", now).status == OK


def test_mv_refresh_failed_reads_the_latest_refresh_only():
    mv = _matview(schema_name="mart", object_name="customer_ltv")
    now = timezone.now()
    _refresh(mv, at=now - 2 * HOUR)
    _refresh(mv, status="failed", at=now - HOUR, error="division by zero")
    outcome = run_check("mv_refresh_failed", now)
    assert outcome.status == ERROR and outcome.items[0].detail["error"] == "division by zero"
    _refresh(mv, at=now)
    assert run_check("mv_refresh_failed", now).status == OK


def test_mv_not_populated_reads_the_live_catalog(source, warehouse):
    warehouse.execute("CREATE TABLE raw.t (id int)")
    warehouse.execute("CREATE MATERIALIZED VIEW mart.ltv AS SELECT id FROM raw.t WITH NO DATA")
    # the registry still believes it populated: the live catalog wins
    mv = RegistryObjectFactory(
        source=source, schema_name="mart", object_name="ltv", object_type="matview", is_populated=True
    )
    outcome = run_check("mv_not_populated")
    assert outcome.status == ERROR
    assert [(i.object_id, i.detail) for i in outcome.items] == [(mv.pk, {"from": "catalog"})]
    warehouse.execute("REFRESH MATERIALIZED VIEW mart.ltv")
    assert run_check("mv_not_populated").status == OK


def test_mv_not_populated_falls_back_to_the_last_discovery_when_the_source_is_unreachable(db):
    dead = SourceFactory(name="dead", dsn="postgresql://nobody@127.0.0.1:1/nowhere")
    RegistryObjectFactory(source=dead, object_type="matview", is_populated=False)
    assert run_check("mv_not_populated").items[0].detail == {"from": "last_discovery"}


def test_schema_changed_warns_on_removed_or_retyped_columns_and_only_informs_on_added():
    from registry.models import SchemaChange

    obj = RegistryObjectFactory(schema_name="canon", object_name="orders")
    SchemaChange.objects.create(object=obj, change="added", column_name="note", new_type="text")
    outcome = run_check("schema_changed")
    assert outcome.status == OK and outcome.items[0].level == INFO
    SchemaChange.objects.create(
        object=obj, change="type_changed", column_name="amount", old_type="integer", new_type="numeric"
    )
    outcome = run_check("schema_changed")
    assert outcome.status == WARN and len(outcome.items[0].detail["changes"]) == 2
    # outside the window (24 h by default) the changes no longer count
    assert run_check("schema_changed", timezone.now() + 25 * HOUR).status == OK


def test_freshness_sla_breach_uses_the_newest_signal_and_says_which_decided():
    obj = RegistryObjectFactory(
        schema_name="raw", object_name="orders", layer="RAW", should_monitor=True, max_staleness=6 * HOUR
    )
    link(obj)
    now = timezone.now()
    WatermarkFactory(asset_key="raw.orders", watermark_ts=now - 10 * HOUR)
    RunAssetFactory(asset_key="raw.orders", ended_at=now - 8 * HOUR)
    item = run_check("freshness_sla_breach", now).items[0]
    assert (item.level, item.detail["decided_by"], item.detail["allowed_by"]) == (
        "WARN",
        "run_asset",
        "max_staleness",
    )
    assert item.detail["age_hours"] == 8
    RegistryObject.objects.filter(pk=obj.pk).update(criticality="critical")
    assert run_check("freshness_sla_breach", now).status == ERROR
    WatermarkFactory(asset_key="raw.orders", scope_key="eu", watermark_ts=now - HOUR)
    assert run_check("freshness_sla_breach", now).status == OK


def test_freshness_sla_breach_ignores_unmonitored_objects():
    obj = RegistryObjectFactory(
        schema_name="raw", object_name="orders", should_monitor=True, health_enabled=False
    )
    link(obj)
    WatermarkFactory(asset_key="raw.orders", watermark_ts=timezone.now() - 48 * HOUR)
    assert run_check("freshness_sla_breach").status == OK


def test_pipeline_run_failed_looks_at_the_latest_outcome():
    pipe = PipelineFactory(name="ingest_orders")
    now = timezone.now()
    RunFactory(pipeline=pipe, status=Run.SUCCESS, started_at=now - 2 * HOUR)
    RunFactory(pipeline=pipe, status=Run.FAILED, started_at=now - HOUR)
    RunFactory(pipeline=pipe, status=Run.RUNNING, started_at=now)  # not finished: not judged
    RunFactory(pipeline=pipe, status=Run.ABORTED, started_at=now - HOUR / 4)  # no outcome: not judged
    outcome = run_check("pipeline_run_failed")
    assert outcome.status == ERROR and [i.subject for i in outcome.items] == ["ingest_orders"]
    RunFactory(pipeline=pipe, status=Run.SUCCESS, started_at=now - HOUR / 2)
    assert run_check("pipeline_run_failed").status == OK


def test_pipeline_overdue_applies_interval_cron_and_grace():
    now = timezone.now()
    every_hour = PipelineFactory(name="hourly", schedule_interval=HOUR, grace=timedelta(minutes=10))
    RunFactory(pipeline=every_hour, started_at=now - HOUR - timedelta(minutes=5))
    nightly = PipelineFactory(name="nightly", schedule_cron="0 2 * * *")
    RunFactory(pipeline=nightly, started_at=now - 50 * HOUR)
    outcome = run_check("pipeline_overdue", now)
    assert {i.subject: i.detail["state"] for i in outcome.items} == {"nightly": "missing"}
    later = run_check("pipeline_overdue", now + timedelta(minutes=10))  # past the hourly grace too
    assert {i.subject for i in later.items} == {"hourly", "nightly"}
    RunFactory(pipeline=nightly, started_at=now)
    assert run_check("pipeline_overdue", now).status == OK


def test_pipeline_overdue_reports_a_run_past_its_max_duration():
    now = timezone.now()
    pipe = PipelineFactory(name="slow", max_duration=HOUR)
    RunFactory(pipeline=pipe, status=Run.RUNNING, started_at=now - 2 * HOUR)
    assert run_check("pipeline_overdue", now).items[0].detail["state"] == "running_too_long"
    assert run_check("pipeline_overdue", now - 90 * timedelta(minutes=1)).status == OK


def test_data_check_failed_reads_the_latest_error_severity_result_per_asset_and_check():
    obj = RegistryObjectFactory(schema_name="raw", object_name="orders")
    link(obj)
    now = timezone.now()
    CheckResultFactory(check_name="not_null(id)", status="pass", checked_at=now - HOUR)
    CheckResultFactory(
        check_name="not_null(id)", status="fail", checked_at=now, message="3 nulls", metrics={"nulls": 3}
    )
    CheckResultFactory(check_name="row_count", status="fail", severity="warn", checked_at=now)
    outcome = run_check("data_check_failed")
    assert outcome.status == ERROR
    assert [(i.subject, i.object_id, i.detail["message"], i.detail["metrics"]) for i in outcome.items] == [
        ("raw.orders: not_null(id)", obj.pk, "3 nulls", {"nulls": 3})
    ]
    CheckResultFactory(check_name="not_null(id)", status="pass", checked_at=now + HOUR)
    assert run_check("data_check_failed").status == OK


def test_source_unreachable_fires_for_a_dead_source_and_warns_on_a_failed_discovery(source):
    from registry.models import Source

    dead = SourceFactory(name="dead", dsn="postgresql://nobody:hunter2@127.0.0.1:1/nowhere")
    outcome = run_check("source_unreachable")
    assert outcome.status == ERROR
    [item] = outcome.items
    assert item.subject == "dead" and item.detail["error_class"] == "OperationalError"
    assert "hunter2" not in str(item.detail)
    Source._default_manager.filter(pk=dead.pk).update(is_active=False)
    Source._default_manager.filter(pk=source.pk).update(
        last_discovery_status="failed", last_discovery_error="boom"
    )
    outcome = run_check("source_unreachable")
    assert (outcome.status, outcome.items[0].detail) == (WARN, {"last_discovery_error": "boom"})
    Source._default_manager.filter(pk=source.pk).update(last_discovery_status="ok")
    assert run_check("source_unreachable").status == OK
