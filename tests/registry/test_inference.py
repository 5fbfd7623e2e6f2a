"""Inference from rules stored as data, propagation, provenance and review flags."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.inference import REFRESH_PIPELINE, infer, typical_interval
from registry.models import InferenceRule, RegistryObject
from tests.factories.ledger import PipelineFactory, RunAssetFactory, RunFactory
from tests.factories.registry import CodeUsageFactory, DependencyFactory, RegistryObjectFactory, SourceFactory


@pytest.fixture
def source(default_rules):
    return SourceFactory(name="wh")


@pytest.fixture
def make(source):
    def make(qualified: str, object_type: str = "table", **kw) -> RegistryObject:
        schema, name = qualified.split(".")
        return RegistryObjectFactory(
            source=source, schema_name=schema, object_name=name, object_type=object_type, **kw
        )

    return make


def _fresh(obj: RegistryObject) -> RegistryObject:
    return RegistryObject.objects.get(pk=obj.pk)


def _endpoint(obj, route="GET /orders", file="api/orders.py", line=42):
    return CodeUsageFactory(object=obj, context="endpoint", route=route, file=file, line=line)


def test_default_layer_and_role_rules(source, make):
    objs = [make("raw.orders"), make("canon.orders"), make("mart.daily", "matview"), make("mart.v", "view")]
    infer(source)
    got = [(o.layer, o.role) for o in map(_fresh, objs)]
    assert got == [("RAW", "PRIMARY"), ("CANON", "PRIMARY"), ("MV", "SECONDARY"), ("DERIVED", "SECONDARY")]
    raw = _fresh(objs[0])
    assert raw.provenance["layer"]["rule"].endswith("schema raw → RAW")
    assert raw.provenance["role"]["rule"].endswith("RAW/CANON → PRIMARY")


def test_endpoint_usage_makes_objects_important_and_matviews_critical(source, make):
    table, mv = make("mart.orders_v", "view"), make("mart.daily", "matview")
    _endpoint(table)
    _endpoint(mv, route="GET /daily", file="api/daily.py", line=7)
    CodeUsageFactory(object=mv, context="script", file="jobs/x.py", line=3)
    infer(source)
    table, mv = _fresh(table), _fresh(mv)
    assert (table.criticality, table.should_monitor, table.usage_context) == ("important", True, "endpoint")
    assert (mv.criticality, mv.usage_context) == ("critical", "both")
    assert mv.provenance["criticality"]["evidence"] == "used by endpoint `GET /daily` in `api/daily.py:7`"


def test_unused_objects_are_normal_and_not_monitored(source, make):
    obj = make("mart.lonely", "view")
    CodeUsageFactory(object=obj, context="script")
    infer(source)
    obj = _fresh(obj)
    assert (obj.criticality, obj.should_monitor, obj.usage_context) == ("normal", False, "script")


def test_criticality_propagates_upstream_transitively(source, make):
    raw, canon, view, mv = (
        make("raw.orders"),
        make("canon.orders"),
        make("mart.v", "view"),
        make("mart.daily", "matview"),
    )
    unrelated = make("raw.other")
    DependencyFactory(upstream=raw, downstream=canon)  # not a view edge in PG, but an edge all the same
    DependencyFactory(upstream=canon, downstream=view)
    DependencyFactory(upstream=view, downstream=mv)
    _endpoint(mv, route="GET /daily")
    infer(source)
    for obj in (raw, canon, view):
        obj = _fresh(obj)
        assert obj.criticality == "critical" and obj.should_monitor
        assert obj.provenance["criticality"] == {
            "value": "critical",
            "rule": "upstream propagation",
            "evidence": "upstream of critical `mart.daily`",
        }
    assert _fresh(unrelated).criticality == "normal"


def test_critical_override_seeds_propagation(source, make):
    raw, view = make("raw.orders"), make("mart.v", "view", is_critical=True)
    DependencyFactory(upstream=raw, downstream=view)
    infer(source)
    assert _fresh(raw).criticality == "critical"
    assert _fresh(view).should_monitor  # effective criticality: the override


def test_refresh_history_makes_matviews_critical_with_a_schedule(source, make):
    mv = make("mart.daily", "matview")
    pipeline = PipelineFactory(namespace="", name=REFRESH_PIPELINE)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    for hours in (0, 6, 12, 18, 30):  # intervals 6, 6, 6, 12 → median 6 h
        run = RunFactory(pipeline=pipeline, started_at=start + dt.timedelta(hours=hours))
        RunAssetFactory(run=run, asset_key="mart.daily", normalized_key="mart.daily")
    failed = RunFactory(pipeline=pipeline, started_at=start + dt.timedelta(hours=31), status="failed")
    RunAssetFactory(run=failed, asset_key="mart.daily", normalized_key="mart.daily", status="failed")
    infer(source)
    mv = _fresh(mv)
    assert mv.criticality == "critical"
    assert mv.inferred_refresh_schedule == dt.timedelta(hours=6)
    assert mv.effective_refresh_schedule == dt.timedelta(hours=6)
    assert "5 successful refreshes" in mv.provenance["criticality"]["evidence"]


def test_typical_interval_needs_two_refreshes():
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert typical_interval([t]) is None
    assert typical_interval([t, t + dt.timedelta(hours=1), t + dt.timedelta(hours=3)]) == dt.timedelta(
        hours=1.5
    )


def test_health_override_decides_should_monitor(source, make):
    on, off = make("mart.a", "view", health_enabled=True), make("mart.b", "view", health_enabled=False)
    _endpoint(off)
    infer(source)
    assert _fresh(on).should_monitor is True
    off = _fresh(off)
    assert off.should_monitor is False and off.criticality == "important"
    assert off.needs_review and "health checks disabled but inferred important" in off.review_reason


def test_contradicted_override_is_kept_and_flagged_for_review(source, make):
    obj = make("mart.legacy", "view", is_expected=False)
    for i in range(3):
        _endpoint(obj, route=f"GET /r{i}", line=i + 1)
    infer(source)
    obj = _fresh(obj)
    assert obj.is_expected is False  # kept
    assert obj.needs_review
    assert obj.review_reason.startswith("overridden as not expected but used by 3 endpoint and 0 script")


def test_review_flag_cleared_by_a_person_stays_cleared_until_evidence_changes(source, make):
    obj = make("mart.legacy", "view", is_expected=False)
    _endpoint(obj)
    infer(source)
    RegistryObject.objects.filter(pk=obj.pk).update(needs_review=False)
    infer(source)
    assert _fresh(obj).needs_review is False
    _endpoint(obj, route="POST /more", line=99)
    infer(source)
    assert _fresh(obj).needs_review is True


def test_not_critical_override_contradicted_by_propagation(source, make):
    raw = make("raw.orders", is_critical=False)
    mv = make("mart.daily", "matview")
    DependencyFactory(upstream=raw, downstream=mv)
    _endpoint(mv)
    infer(source)
    raw = _fresh(raw)
    assert raw.is_critical is False and not raw.effective_critical
    assert raw.needs_review and "upstream of critical `mart.daily`" in raw.review_reason


def test_rules_are_data(source, make):
    obj = make("staging.orders")
    infer(source)
    assert _fresh(obj).layer == "DERIVED"
    InferenceRule.objects.create(attribute="layer", value="RAW", priority=5, schema_pattern="stag.*")
    infer(source)
    assert (_fresh(obj).layer, _fresh(obj).role) == ("RAW", "PRIMARY")


def test_rules_with_values_the_registry_cannot_store_are_ignored(source, make):
    obj = make("raw.orders")
    InferenceRule.objects.create(attribute="layer", value="BRONZE-LAYER", priority=1)
    InferenceRule.objects.create(attribute="criticality", value="urgent", priority=1)
    infer(source)
    assert (_fresh(obj).layer, _fresh(obj).criticality) == ("RAW", "normal")


def test_only_changed_rows_are_written_in_constant_queries(source, make, django_assert_num_queries):
    objs = [make(f"mart.v{i}", "view") for i in range(20)]
    for obj in objs[:5]:
        _endpoint(obj)
    assert infer(source) == 20
    # evidence marks (newest refresh; newest override edit per source); rules; objects;
    # usages; refresh history; resolver rules; edges — and no write
    with django_assert_num_queries(8):
        assert infer(source) == 0
