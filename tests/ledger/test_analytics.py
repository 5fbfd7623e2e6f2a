"""Failure rates, runs per day, MTTR and the flaky ranking: SQL aggregates over runs."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from ledger import analytics
from ledger.analytics import FlakyCriteria
from ledger.models import Run
from tests.factories.ledger import ClientFactory, PipelineFactory, RunFactory

from .conftest import T0

SINCE = T0 - timedelta(days=1)
CRITERIA = FlakyCriteria(min_sample=6, flip_rate=0.3, min_retry_successes=2, broken_streak=3)


@pytest.fixture
def pipelines(db):
    acme, globex = ClientFactory(name="acme"), ClientFactory(name="globex")
    return {
        "steady": PipelineFactory(namespace="", name="steady", client=acme),
        "flappy": PipelineFactory(namespace="", name="flappy", client=acme),
        "down": PipelineFactory(namespace="", name="down", client=globex),
        "new": PipelineFactory(namespace="", name="new"),
    }


@pytest.fixture
def history(pipelines, make_runs):
    make_runs(pipelines["steady"], "SSSSSSSSFS")
    make_runs(pipelines["flappy"], "SFSFSSFSFS")
    make_runs(pipelines["down"], "SSSSSSSFFFF")
    make_runs(pipelines["new"], "FS")
    return pipelines


def by_label(rows):
    return {r.label: r for r in rows}


def test_failure_rate_by_pipeline(history):
    rates = by_label(analytics.failure_rates(SINCE, "pipeline"))
    assert rates["steady"].runs == 10 and rates["steady"].failed == 1
    assert rates["steady"].failure_rate == 0.1
    assert rates["flappy"].failure_rate == 0.4
    assert rates["down"].failure_rate == round(4 / 11, 4)
    # Worst first.
    assert analytics.failure_rates(SINCE, "pipeline")[0].label == "new"


def test_failure_rate_by_client_and_overall(history, make_runs, pipelines):
    make_runs(pipelines["steady"], "A", start=T0 + timedelta(days=1))
    rates = by_label(analytics.failure_rates(SINCE, "client"))
    assert rates["acme"].runs == 21 and rates["acme"].failed == 5 and rates["acme"].aborted == 1
    # Aborted runs are neither success nor failure.
    assert rates["acme"].failure_rate == round(5 / 20, 4)
    assert rates["(no client)"].failed == 1
    (overall,) = analytics.failure_rates(SINCE, "overall")
    assert (overall.runs, overall.failed, overall.success) == (34, 10, 23)


def test_failure_rate_ignores_runs_before_the_window_and_running_runs(pipelines, make_runs):
    make_runs(pipelines["steady"], "FFF", start=SINCE - timedelta(days=3))
    make_runs(pipelines["steady"], "SR")
    (overall,) = analytics.failure_rates(SINCE, "overall")
    assert (overall.runs, overall.failed) == (1, 0)


def test_failure_rate_overall_without_runs(db):
    (overall,) = analytics.failure_rates(SINCE, "overall")
    assert overall.runs == 0 and overall.failure_rate is None


def test_runs_per_day_counts_statuses_and_fills_empty_days(pipelines, make_runs):
    make_runs(pipelines["steady"], "SSF", start=T0 + timedelta(hours=1))
    make_runs(pipelines["flappy"], "FR", start=T0 + timedelta(days=2, hours=1))
    days = analytics.runs_per_day(T0, T0 + timedelta(days=2, hours=23))
    assert [d.day.isoformat() for d in days] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert (days[0].total, days[0].counts["success"], days[0].counts["failed"]) == (3, 2, 1)
    assert days[1].total == 0 and days[1].counts["failed"] == 0
    assert days[2].counts["running"] == 1


def test_runs_per_day_uses_the_given_time_zone(pipelines):
    # 23:30 UTC on Nov 1 is Nov 2 in Tokyo.
    RunFactory(pipeline=pipelines["steady"], started_at=datetime(2026, 11, 1, 23, 30, tzinfo=UTC))
    utc_days = analytics.runs_per_day(T0, T0 + timedelta(days=1, hours=12))
    tokyo_days = analytics.runs_per_day(T0, T0 + timedelta(days=1, hours=12), tz="Asia/Tokyo")
    assert {d.day.isoformat(): d.total for d in utc_days}["2026-11-01"] == 1
    assert {d.day.isoformat(): d.total for d in tokyo_days}["2026-11-02"] == 1


def test_runs_per_day_is_planned_with_the_number_of_days(pipelines, make_runs):
    """PostgreSQL knows from ledger 0008's statistics how many UTC days the runs span (14):
    it hashes them into the days instead of guessing a group per run and sorting them all."""
    make_runs(pipelines["steady"], "S" * 336)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Run._meta.db_table}")
    plan = json.loads(
        analytics.day_counts(T0, T0 + timedelta(days=14), ZoneInfo("UTC")).explain(format="json")
    )
    assert plan[0]["Plan"]["Plan Rows"] <= 31


def test_mean_time_to_recovery(pipelines, make_runs):
    # Hourly runs of 5 minutes: F at 01:00 (ends 01:05), recovered by S ending 02:05 → 3600 s.
    make_runs(pipelines["steady"], "SFSS")
    # Two failures in a row are one incident: from the first (ends 01:05) to S ending 03:05.
    make_runs(pipelines["flappy"], "SFFS")
    # Still failing: an incident, not recovered.
    make_runs(pipelines["down"], "SF")
    overall, per_pipeline = analytics.mean_time_to_recovery(SINCE)
    rows = {r.pipeline: r for r in per_pipeline}
    assert rows["steady"].mttr_seconds == 3600
    assert rows["flappy"].mttr_seconds == 7200
    assert (rows["down"].incidents, rows["down"].recovered, rows["down"].mttr_seconds) == (1, 0, None)
    assert (overall.incidents, overall.recovered, overall.mttr_seconds) == (3, 2, 5400)


def test_mean_time_to_recovery_without_failures(pipelines, make_runs):
    make_runs(pipelines["steady"], "SS")
    overall, per_pipeline = analytics.mean_time_to_recovery(SINCE)
    assert per_pipeline == [] and overall.incidents == 0 and overall.mttr_seconds is None


def test_flaky_ranking_classifies_with_evidence(history):
    ranking = analytics.flaky_ranking(SINCE, CRITERIA)
    rows = {r.pipeline: r for r in ranking}
    flappy = rows["flappy"]
    assert flappy.classification == analytics.FLAKY
    assert (flappy.sample_size, flappy.failures, flappy.flips) == (10, 4, 8)
    assert flappy.flip_rate == round(8 / 9, 4)
    assert flappy.client == "acme"
    # Failing steadily is broken, not flaky, even with flips in its history.
    assert rows["down"].classification == analytics.BROKEN
    assert rows["down"].failure_streak == 4
    assert rows["steady"].classification == analytics.HEALTHY
    assert rows["steady"].flip_rate == round(2 / 9, 4)
    # Below the minimum sample nothing is called flaky.
    assert rows["new"].classification == analytics.INSUFFICIENT
    assert rows["new"].flip_rate == 1.0
    # Most flaky first among pipelines with enough runs; small samples last.
    assert [r.pipeline for r in ranking] == ["flappy", "steady", "down", "new"]


def test_retry_then_success_on_the_same_logical_run_is_flaky(pipelines, make_runs):
    # Daily runs that each fail once and pass on retry (same nominal time), the flips
    # between logical runs being rare: the retries are the evidence.
    p = pipelines["steady"]
    for day in range(4):
        nominal = T0 + timedelta(days=day)
        make_runs(
            p, "FS", start=nominal + timedelta(hours=1), every=timedelta(minutes=10), nominal_time=nominal
        )
    make_runs(p, "SS", start=T0 + timedelta(days=5))
    criteria = FlakyCriteria(min_sample=6, flip_rate=0.9, min_retry_successes=2, broken_streak=3)
    (row,) = analytics.flaky_ranking(SINCE, criteria)
    assert row.retry_successes == 4
    assert row.classification == analytics.FLAKY


def test_retry_groups_by_parent_run_and_partition(pipelines, make_runs):
    p = pipelines["steady"]
    parent = RunFactory(pipeline=pipelines["new"], started_at=T0)
    make_runs(p, "FS", parent_run=parent)
    make_runs(p, "FFS", start=T0 + timedelta(days=1), args={"partition_key": "2026-11-02"})
    # A success before a failure is not a retry that passed.
    make_runs(p, "SF", start=T0 + timedelta(days=2), args={"partition_key": "2026-11-03"})
    (row,) = [r for r in analytics.flaky_ranking(SINCE, CRITERIA) if r.pipeline == "steady"]
    assert row.retry_successes == 2


def test_flaky_ranking_is_one_query(history, django_assert_num_queries):
    with django_assert_num_queries(1):  # the FLAKY_SQL statement
        analytics.flaky_ranking(SINCE, CRITERIA)
    with django_assert_num_queries(1):  # the MTTR_SQL statement
        analytics.mean_time_to_recovery(SINCE)
