"""The job table and `manage.py setup_schedules`: by name, idempotent, overridable, in step
with the jobs' ledger pipelines; the task `opshealth.schedules.run`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import psycopg
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django_q.models import Schedule

from checks.models import Evaluation
from ledger.models import Pipeline, Run
from opshealth import schedules
from tests.checks.conftest import _conninfo
from tests.factories.ledger import RunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 10, 2, tzinfo=UTC)


def setup(*args) -> str:
    out = StringIO()
    call_command("setup_schedules", *args, stdout=out)
    return out.getvalue()


@time_machine.travel(NOW, tick=False)
def test_setup_creates_one_schedule_per_job_by_name():
    out = setup()
    rows = {s.name: s for s in Schedule.objects.all()}
    assert set(rows) == set(schedules.JOBS)
    evaluate = rows["opshealth.evaluate_health"]
    assert (evaluate.func, evaluate.args, evaluate.schedule_type, evaluate.cron, evaluate.repeats) == (
        "opshealth.schedules.run",
        "'opshealth.evaluate_health'",
        Schedule.CRON,
        "*/5 * * * *",
        -1,
    )
    assert evaluate.next_run == datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    assert "created   opshealth.discover 15 3 * * *" in out
    assert f"{len(schedules.JOBS)} schedule(s) changed" in out


def test_a_second_run_changes_nothing_and_says_so():
    setup()
    before = list(Schedule.objects.order_by("name").values())
    out = setup()
    assert list(Schedule.objects.order_by("name").values()) == before
    assert "schedules already up to date; nothing changed" in out
    assert "created" not in out and "updated" not in out


def test_an_environment_override_updates_the_cadence_and_the_next_run(monkeypatch):
    with time_machine.travel(NOW, tick=False):
        setup()
    monkeypatch.setenv("OPSHEALTH_SCHEDULE_EVALUATE_HEALTH", "* * * * *")
    with time_machine.travel(NOW, tick=False):
        out = setup()
    s = Schedule.objects.get(name="opshealth.evaluate_health")
    assert (s.cron, s.next_run) == ("* * * * *", datetime(2026, 12, 1, 10, 3, tzinfo=UTC))
    assert "updated   opshealth.evaluate_health cron → * * * * *" in out
    assert "1 schedule(s) changed" in out
    assert Pipeline.objects.get(name="opshealth.evaluate_health").schedule_cron == "* * * * *"


def test_off_removes_the_schedule_and_the_expected_schedule(monkeypatch):
    setup()
    monkeypatch.setenv("OPSHEALTH_SCHEDULE_DISCOVER", "off")
    out = setup()
    assert not Schedule.objects.filter(name="opshealth.discover").exists()
    assert "removed   opshealth.discover (OPSHEALTH_SCHEDULE_DISCOVER=off)" in out
    assert Pipeline.objects.get(name="opshealth.discover").schedule_cron == ""
    assert "off       opshealth.discover" in setup()


def test_a_bad_override_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OPSHEALTH_SCHEDULE_PRUNE", "every day")
    with pytest.raises(CommandError, match="OPSHEALTH_SCHEDULE_PRUNE='every day' is not a cron expression"):
        setup()
    assert not Schedule.objects.exists()


def test_schedules_no_longer_in_the_table_are_removed_and_others_kept():
    Schedule.objects.create(name="opshealth.retired_job", func="opshealth.schedules.run", args="'x'")
    Schedule.objects.create(name="team.backup", func="team.backup")
    out = setup()
    assert "removed   opshealth.retired_job (no longer in the table)" in out
    assert set(Schedule.objects.values_list("name", flat=True)) == {*schedules.JOBS, "team.backup"}


def test_a_schedule_edited_by_hand_is_put_back():
    setup()
    Schedule.objects.filter(name="opshealth.prune").update(func="somewhere.else", repeats=0)
    out = setup()
    s = Schedule.objects.get(name="opshealth.prune")
    assert (s.func, s.repeats) == ("opshealth.schedules.run", -1)
    assert "updated   opshealth.prune func → 30 4 * * *" in out


def test_the_jobs_pipelines_expect_the_tables_schedule_and_grace():
    setup()
    for job in schedules.JOBS.values():
        p = Pipeline.objects.get(namespace="", name=job.name)
        assert (p.schedule_cron, p.grace, p.schedule_timezone) == (job.cron, job.grace, "UTC")


@time_machine.travel(NOW, tick=False)
def test_list_prints_each_job_with_its_next_run(monkeypatch):
    assert "not set up (run setup_schedules)" in setup("--list")
    setup()
    monkeypatch.setenv("OPSHEALTH_SCHEDULE_PRUNE", "off")
    lines = setup("--list").splitlines()
    assert len(lines) == len(schedules.JOBS)
    evaluate = next(line for line in lines if line.startswith("opshealth.evaluate_health"))
    assert "*/5 * * * *" in evaluate and "next 2026-12-01 10:05 UTC" in evaluate
    assert "off (OPSHEALTH_SCHEDULE_PRUNE)" in next(
        line for line in lines if line.startswith("opshealth.prune")
    )


def test_the_task_runs_the_jobs_function_recorded_as_a_scheduler_run():
    result = schedules.run("opshealth.evaluate_health")
    evaluation = Evaluation.latest()
    assert result == str(evaluation)
    assert evaluation.trigger == "schedule"
    run = Run.objects.get(pipeline__name="opshealth.evaluate_health")
    assert (run.status, run.triggered_by) == (Run.SUCCESS, "scheduler")


def test_a_tick_that_finds_the_job_running_is_skipped_and_recorded():
    with psycopg.connect(_conninfo(connection.settings_dict["NAME"]), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", ["opshealth.prune"])
        assert schedules.run("opshealth.prune").startswith("skipped")
    run = Run.objects.get(pipeline__name="opshealth.prune")
    assert (run.status, run.error_type, run.triggered_by) == (Run.ABORTED, "SkippedOverlap", "scheduler")


def test_a_schedule_naming_an_unknown_job_does_nothing():
    assert schedules.run("opshealth.retired_job") is None
    assert not Run.objects.exists()


def test_the_prune_job_prunes_the_ledger_and_the_evaluation_history(settings):
    settings.OPSHEALTH_LEDGER_RETENTION_DAYS = 90
    old = RunFactory(started_at=NOW - timedelta(days=200))
    RunFactory(pipeline=old.pipeline, started_at=NOW - timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        schedules.run("opshealth.evaluate_health")
    with time_machine.travel(NOW - timedelta(days=100), tick=False):
        schedules.run("opshealth.evaluate_health")  # its own pruning keeps the newer one
    with time_machine.travel(NOW, tick=False):
        result = schedules.run("opshealth.prune")
    # the 200-day-old run and the 100-day-old evaluation run; the 100-day-old evaluation
    assert "'runs': 2" in result and "'evaluations': 1" in result
    assert not Run.objects.filter(pk=old.pk).exists()
    assert Evaluation.objects.count() == 1
    assert Run.objects.get(pipeline__name="opshealth.prune").status == Run.SUCCESS
