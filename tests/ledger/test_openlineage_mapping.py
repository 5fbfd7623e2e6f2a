"""The OpenLineage mapping and event log, without HTTP (the live-server tests cover the client)."""

import pytest

from ledger import openlineage
from ledger.models import CheckResult, LineageEvent, Run, RunAsset

pytestmark = pytest.mark.django_db


def payload(**kw):
    body = {
        "eventType": "COMPLETE",
        "eventTime": "2026-03-01T14:00:00+02:00",
        "run": {"runId": "0b4a3b1e-9c57-4c43-9a3e-2a1f3f0e6c11"},
        "job": {"namespace": "dbt", "name": "build_mart"},
        "producer": "https://example.com/p",
    }
    return {**body, **kw}


def test_event_time_offsets_are_honoured():
    openlineage.accept([openlineage.validate(payload())])
    run = Run.objects.get()
    assert run.ended_at.isoformat() == "2026-03-01T12:00:00+00:00"


def test_missing_event_type_changes_no_state():
    openlineage.accept([openlineage.validate(payload(eventType="START", eventTime="2026-03-01T11:00:00Z"))])
    body = payload()
    del body["eventType"]
    openlineage.accept([openlineage.validate(body)])
    assert Run.objects.get().status == Run.STARTED
    assert LineageEvent.objects.count() == 2


def test_data_quality_metrics_become_an_info_result():
    metrics = {"rowCount": 10, "columnMetrics": {"id": {"nullCount": 0}}}
    ds = {
        "namespace": "postgresql://wh",
        "name": "shop.raw.orders",
        "inputFacets": {"dataQualityMetrics": metrics},
        "facets": {"dataQualityMetrics": metrics},
    }
    openlineage.accept([openlineage.validate(payload(inputs=[ds]))])
    result = CheckResult.objects.get()
    assert (result.check_name, result.severity, result.status) == ("dataQualityMetrics", "info", "pass")
    assert result.metrics == metrics
    assert result.normalized_key == "postgresql://wh:5432/shop/raw.orders"


def test_test_facet_goes_on_the_job_when_outputs_are_ambiguous():
    outputs = [{"namespace": "postgres://wh:5432", "name": f"shop.mart.t{i}"} for i in range(2)]
    tests = {
        "tests": [
            {"name": "no_orphans", "status": "fail", "severity": "warn", "expected": "0", "actual": "3"}
        ]
    }
    openlineage.accept(
        [openlineage.validate(payload(outputs=outputs, run={"runId": "r-1", "facets": {"test": tests}}))]
    )
    result = CheckResult.objects.get()
    assert (result.asset_key, result.status, result.severity) == ("job:build_mart", "fail", "warn")
    assert result.metrics == {"expected": "0", "actual": "3"}
    assert RunAsset.objects.filter(status="success").count() == 2


def test_same_event_twice_in_one_batch_is_stored_once():
    results = openlineage.accept([openlineage.validate(payload()), openlineage.validate(payload())])
    assert [r.status for r in results] == ["created", "duplicate"]
    assert LineageEvent.objects.count() == 1


def test_validation_lists_dataset_fields():
    with pytest.raises(openlineage.SpecViolation) as exc:
        openlineage.validate(payload(outputs=[{"namespace": "x"}], inputs="nope"))
    assert set(exc.value.errors) == {"outputs[0].name", "inputs"}


def test_values_too_long_for_the_ledger_are_spec_violations():
    long = payload(
        run={"runId": "r" * 201, "facets": {"parent": {"run": {}, "job": {"namespace": "a", "name": "b"}}}},
        outputs=[{"namespace": "postgres://" + "h" * 250, "name": "s." + "t" * 400}],
        job={"namespace": "dbt", "name": "j" * 301},
    )
    with pytest.raises(openlineage.SpecViolation) as exc:
        openlineage.validate(long)
    assert set(exc.value.errors) == {
        "run.runId",
        "run.facets.parent.run.runId",
        "outputs[0].name",
        "job.name",
    }


def test_oversized_statistics_are_kept_unknown():
    out = {
        "namespace": "postgres://wh",
        "name": "s.t",
        "outputFacets": {"outputStatistics": {"rowCount": 2**64}},
    }
    openlineage.accept([openlineage.validate(payload(outputs=[out]))])
    assert RunAsset.objects.get().rows_inserted is None


def test_malformed_optional_facets_are_ignored_not_fatal():
    ds = {
        "namespace": "postgres://wh",
        "name": "s.t",
        "facets": {"dataQualityAssertions": {"assertions": 5}},
        "inputFacets": {"dataQualityAssertions": "x", "dataQualityMetrics": []},
    }
    run = {"runId": "r-2", "facets": {"test": {"tests": {"a": 1}}, "errorMessage": "boom", "nominalTime": 3}}
    openlineage.accept([openlineage.validate(payload(inputs=[ds], run=run))])
    assert Run.objects.get().status == Run.SUCCESS
    assert not CheckResult.objects.exists()
