"""The scheduled job `opshealth.data_checks`: each check runs when its cron says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checks.datachecks.models import PIPELINE, DataCheck
from checks.datachecks.runner import run_due
from ledger.models import CheckResult, Run
from opshealth import schedules
from tests.factories.checks import DataCheckFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_new_check_is_due_at_once_then_at_its_next_cron_time(candles):
    hourly = DataCheckFactory(object=candles, name="hourly")
    daily = DataCheckFactory(object=candles, name="daily", schedule="30 6 * * *")
    DataCheckFactory(object=candles, name="off", enabled=False)
    first = run_due(NOW, trigger="schedule")
    assert {r.check.name for r in first.results} == {"hourly", "daily"}
    assert str(first) == "2 data check(s) on 1 object(s): 2 pass"
    assert run_due(NOW + timedelta(minutes=30), trigger="schedule").results == []
    assert [r.check.name for r in run_due(NOW + timedelta(hours=1), trigger="schedule").results] == ["hourly"]
    hourly.refresh_from_db(), daily.refresh_from_db()
    assert hourly.next_run_at == NOW + timedelta(hours=2)
    assert daily.next_run_at == datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    runs = Run.objects.filter(pipeline__name=PIPELINE, triggered_by="scheduler")
    assert runs.count() == 3  # nothing due is recorded too: the job ran
    assert CheckResult.objects.filter(check_name="defects/hourly").count() == 2


def test_checks_of_inactive_sources_are_not_run(candles):
    DataCheckFactory(object=candles)
    candles.source.is_active = False
    candles.source.save()
    with time_machine.travel(NOW, tick=False):
        assert run_due().results == []


def test_the_scheduled_job_runs_the_due_checks(candles):
    DataCheckFactory(object=candles, name="hourly")
    assert schedules.run("opshealth.data_checks") == "1 data check(s) on 1 object(s): 1 pass"
    assert Run.objects.get(pipeline__name=PIPELINE).triggered_by == "scheduler"


def test_a_run_s_queries_on_opshealth_s_database_do_not_grow_with_its_checks(registry_object):
    """Set-based: the due checks, their row_count history, the ledger run and its results,
    and every check's link to its result cost the same few queries for 1 check or 9."""

    def queries_of_a_run(objects: list[str], at: datetime) -> int:
        for name in objects:
            for kind, params in [
                ("row_count", {"change_pct": 20}),
                ("not_null", {"column": "symbol"}),
                ("custom_sql", {"sql": "SELECT 1 WHERE false"}),
            ]:
                DataCheckFactory(
                    object=registry_object(name), name=f"{name}_{kind}", kind=kind, params=params
                )
        with CaptureQueriesContext(connection) as queries:
            report = run_due(at, trigger="schedule")
        assert len(report.results) == 3 * len(objects)
        return len(queries)

    run_due(NOW - timedelta(hours=1), trigger="schedule")  # the job's pipeline, created once
    one = queries_of_a_run(["trades"], NOW)
    DataCheck.objects.all().delete()
    assert queries_of_a_run(["trades", "symbols", "candles"], NOW + timedelta(hours=1)) == one
