"""Evaluation: aggregation rules, score and bands, persistence, history, ledger, locking,
and a constant number of queries whatever the size of the registry."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.evaluate import PIPELINE, evaluate, evaluate_as_job
from checks.health import CHECKS, Context
from checks.models import ERROR, OK, WARN, CheckRun, Evaluation, Violation, band_for, global_status_for
from ledger.models import Pipeline, Run, RunAsset, Watermark
from registry.models import AssetLink, CodeUsage, Dependency, RegistryObject
from tests.checks.conftest import _conninfo
from tests.factories.ledger import CheckResultFactory, PipelineFactory, RunFactory, WatermarkFactory
from tests.factories.registry import RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([("error", OK), ("warning", OK)], OK),
        ([("error", OK), ("warning", WARN)], WARN),
        ([("warning", ERROR)], WARN),  # an ERROR of a lesser severity only warns
        ([("error", WARN), ("warning", OK)], WARN),
        ([("error", ERROR), ("warning", WARN)], ERROR),
        ([], OK),
    ],
)
def test_global_status_follows_the_seed_rule(results, expected):
    assert global_status_for(results) == expected


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "healthy"),
        (99, "healthy"),
        (98.9, "degraded"),
        (95, "degraded"),
        (94.99, "critical"),
        (0, "critical"),
    ],
)
def test_bands_use_the_default_thresholds(score, band):
    assert band_for(score) == band


def test_bands_follow_the_thresholds_in_settings(settings):
    settings.OPSHEALTH_HEALTHY_THRESHOLD = 80
    settings.OPSHEALTH_DEGRADED_THRESHOLD = 50
    assert [band_for(s) for s in (80, 79, 50, 49)] == ["healthy", "degraded", "degraded", "critical"]


def _four_monitored_one_failing():
    objs = [
        RegistryObjectFactory(schema_name="raw", object_name=f"t{i}", should_monitor=True) for i in range(4)
    ]
    RegistryObjectFactory(
        schema_name="raw", object_name="ignored", should_monitor=False, is_expected=True, exists_in_db=False
    )  # fails, but is not monitored: not in the score
    RegistryObject.objects.filter(pk=objs[0].pk).update(is_expected=True, exists_in_db=False)
    return objs


def test_evaluation_persists_every_check_counts_score_band_and_violations():
    _four_monitored_one_failing()
    evaluation = evaluate()
    assert set(evaluation.results.values_list("check_key", flat=True)) == set(CHECKS)
    assert evaluation.global_status == ERROR
    assert (evaluation.monitored_count, evaluation.failing_monitored_count) == (4, 1)
    assert evaluation.health_score == 75.0 and evaluation.band == "critical"
    erroring = set(evaluation.results.filter(status=ERROR).values_list("check_key", flat=True))
    # the factory's source DSN points at no real database: unreachable, an error too
    assert erroring == {"expected_source_missing", "source_unreachable"}
    assert evaluation.error_count == 2 and evaluation.ok_count + evaluation.warn_count == len(CHECKS) - 2
    result = evaluation.results.get(check_key="expected_source_missing")
    assert (result.status, result.severity, result.offending_count) == (ERROR, "error", 2)
    assert result.drilldown_url == "/ops/health?tab=checks&check=expected_source_missing"
    assert sorted(Violation.objects.filter(check_run=result).values_list("subject", flat=True)) == [
        "raw.ignored",
        "raw.t0",
    ]


def test_evaluation_explains_what_contributes_and_what_would_turn_it_green():
    _four_monitored_one_failing()
    PipelineFactory(
        name="nightly", schedule_interval=timedelta(hours=1), created_at=timezone.now() - timedelta(days=1)
    )
    explanation = evaluate().explanation
    keys = [c["check_key"] for c in explanation["contributing"]]
    assert keys[0] == "expected_source_missing"  # errors first
    assert "pipeline_overdue" in keys
    green = {g["check_key"]: g["action"] for g in explanation["to_turn_green"]}
    assert green["expected_source_missing"] == (
        "Restore the missing objects, or clear their is_expected override: raw.ignored, raw.t0."
    )


def test_an_empty_registry_is_ok_and_healthy():
    evaluation = evaluate()
    assert (evaluation.global_status, evaluation.health_score, evaluation.band) == (OK, 100.0, "healthy")
    assert evaluation.explanation == {"contributing": [], "to_turn_green": []}


def test_an_escalated_warning_check_is_stored_with_error_severity_and_makes_global_error():
    source = SourceFactory(dsn="postgresql://nobody@127.0.0.1:1/x", is_active=False)
    gone = RegistryObjectFactory(source=source, exists_in_db=False)
    CodeUsage.objects.create(
        source=source,
        object=gone,
        raw_name="x",
        schema_name="mart",
        object_name=gone.object_name,
        code_path="app",
        file="api.py",
        line=1,
        kind="read",
        context="endpoint",
    )
    evaluation = evaluate()
    result = evaluation.results.get(check_key="used_object_missing")
    assert (result.status, result.severity) == (ERROR, "error")
    assert evaluation.global_status == ERROR


def test_history_is_kept_and_pruned_beyond_the_retention_but_never_the_latest(settings):
    settings.OPSHEALTH_HEALTH_HISTORY_DAYS = 7
    now = timezone.now()
    old = evaluate(now=now - timedelta(days=10))
    recent = evaluate(now=now - timedelta(days=1))
    assert set(Evaluation.objects.values_list("pk", flat=True)) == {recent.pk}
    assert not CheckRun.objects.filter(evaluation_id=old.pk).exists()
    # a lone evaluation older than the retention survives: it is the latest
    Evaluation.objects.all().delete()
    lone = evaluate(now=now - timedelta(days=30))
    assert Evaluation.prune(now=now) == 0 and Evaluation.latest() == lone


def test_evaluate_health_records_itself_in_the_ledger():
    out = StringIO()
    call_command("evaluate_health", stdout=out)
    assert "global OK; score 100.00% (healthy)" in out.getvalue()
    run = Run.objects.get(pipeline__name=PIPELINE)
    assert run.status == Run.SUCCESS and run.args == {"trigger": "cli"}
    assert run.ended_at >= Evaluation.latest().evaluated_at


def test_a_failing_evaluation_is_recorded_as_a_failed_run(monkeypatch):
    from checks import health

    def boom(self):
        raise ValueError("broken check")

    monkeypatch.setattr(health.PipelineRunFailed, "evaluate", lambda self, ctx: boom(self))
    with pytest.raises(ValueError, match="broken check"):
        evaluate_as_job()
    run = Run.objects.get(pipeline__name=PIPELINE)
    assert (run.status, run.error_message) == (Run.FAILED, "broken check")


def test_an_overlapping_evaluation_is_skipped_and_recorded():
    with psycopg.connect(_conninfo(connection.settings_dict["NAME"]), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", [PIPELINE])
        assert evaluate_as_job() is None
        with pytest.raises(CommandError, match="skipped"):
            call_command("evaluate_health", stdout=StringIO())
    skipped = Run.objects.filter(pipeline__name=PIPELINE)
    assert [(r.status, r.error_type) for r in skipped] == [(Run.ABORTED, "SkippedOverlap")] * 2
    assert not Evaluation.objects.exists()
    assert evaluate_as_job() is not None  # lock released with the other session


def _registry_of(n: int) -> None:
    """n objects with every kind of row the checks read, written in bulk."""
    source = SourceFactory(name=f"size{n}", dsn="postgresql://nobody@127.0.0.1:1/x", is_active=False)
    objs = RegistryObject.objects.bulk_create(
        RegistryObject(
            source=source,
            schema_name="raw" if i % 3 == 0 else "mart",
            object_name=f"o{i}",
            object_type="matview" if i % 5 == 0 else "table",
            layer="RAW" if i % 3 == 0 else "MV",
            should_monitor=i % 2 == 0,
            health_enabled=True if i % 7 == 0 else None,
            is_expected=True if i % 11 == 0 else None,
            exists_in_db=i % 11 != 0,
            criticality="critical" if i % 4 == 0 else "normal",
        )
        for i in range(n)
    )
    Dependency.objects.bulk_create(
        Dependency(source=source, upstream=objs[i], downstream=objs[i + 1]) for i in range(n - 1)
    )
    AssetLink.objects.bulk_create(
        AssetLink(normalized_key=f"{o.schema_name}.{o.object_name}", object=o) for o in objs
    )
    old = timezone.now() - timedelta(days=3)
    Watermark.objects.bulk_create(
        Watermark(
            asset_key=f"{o.schema_name}.{o.object_name}",
            normalized_key=f"{o.schema_name}.{o.object_name}",
            watermark_ts=old,
        )
        for o in objs
    )
    run = RunFactory(pipeline=PipelineFactory(name=f"p{n}", schedule_interval=timedelta(hours=1)))
    RunAsset.objects.bulk_create(
        RunAsset(
            run=run,
            asset_key=f"{o.schema_name}.{o.object_name}",
            normalized_key=f"{o.schema_name}.{o.object_name}",
            kind="matview" if o.object_type == "matview" else "table",
            status="failed" if i % 2 else "success",
            ended_at=old,
        )
        for i, o in enumerate(objs)
    )
    CodeUsage.objects.bulk_create(
        CodeUsage(
            source=source,
            object=o,
            raw_name=o.object_name,
            schema_name=o.schema_name,
            object_name=o.object_name,
            code_path="app",
            file="a.py",
            line=i,
            kind="read",
            context="endpoint" if i % 2 else "script",
        )
        for i, o in enumerate(objs)
    )
    for i in range(3):
        CheckResultFactory(asset_key=f"{objs[i].schema_name}.{objs[i].object_name}", status="fail")
    WatermarkFactory(asset_key=f"unknown.k{n}")


def _queries_per_check() -> dict[str, int]:
    ctx = Context(timezone.now())
    counts = {}
    for key, cls in CHECKS.items():
        with CaptureQueriesContext(connection) as captured:
            outcome = cls().evaluate(ctx)
        counts[key] = len(captured)
        assert outcome.status in (OK, WARN, ERROR)
    return counts


def test_each_check_runs_the_same_number_of_queries_for_10_and_500_objects():
    _registry_of(10)
    small = _queries_per_check()
    RegistryObject.objects.all().delete()
    Pipeline.objects.all().delete()
    Watermark.objects.all().delete()
    AssetLink.objects.all().delete()
    _registry_of(500)
    large = _queries_per_check()
    assert small == large
    # shared inputs are read once per evaluation: no check needs more than 3 queries
    # (its own query, plus the cached staleness / ledger-keys / code-usage / monitored reads)
    assert max(large.values()) <= 3


def test_a_whole_evaluation_runs_a_constant_number_of_queries(django_assert_max_num_queries):
    _registry_of(500)
    # 1 sources, 1 staleness, 1 ledger keys, 1 code usages, 1 monitored ids, ~12 check
    # queries, savepoint + 3 inserts (evaluation, results, violations), prune (select +
    # delete cascade); plus the per-source catalog connections, which Django does not see.
    with django_assert_max_num_queries(30):
        evaluation = evaluate()
    assert evaluation.violation_count > 500


def test_violations_worst_first_and_failing():
    e = Evaluation.objects.create(
        global_status="WARN", band="healthy", healthy_threshold=99, degraded_threshold=95
    )
    run = CheckRun.objects.create(
        evaluation=e, check_key="k", severity="error", status="ERROR", message="", drilldown_url="",
        evaluated_at=e.evaluated_at,
    )  # fmt: skip
    for level, subject in [("INFO", "a"), ("WARN", "b"), ("ERROR", "d"), ("ERROR", "c")]:
        Violation.objects.create(evaluation=e, check_run=run, check_key="k", level=level, subject=subject)

    assert [v.subject for v in e.violations.worst_first()] == ["c", "d", "b", "a"]
    assert [v.subject for v in e.violations.failing().worst_first()] == ["c", "d", "b"]
