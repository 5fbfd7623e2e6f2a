"""`manage.py dispatch_alerts`: one cycle, and what it did."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db


def test_one_cycle_prints_its_counts(receiver):
    AlertRuleFactory(kind="run_failed", channels=[ChannelFactory(target=receiver.url)])
    record_run("load_orders", Run.FAILED)
    out = io.StringIO()
    call_command("dispatch_alerts", stdout=out)
    assert out.getvalue().strip() == (
        "1 firing, 1 opened, 0 reopened, 0 resolved, 0 quiet, 1 enqueued; 1 sent, 0 to retry, 0 failed"
    )
    assert len(receiver.accepted) == 1


def test_the_scheduled_job_runs_a_cycle_recorded_in_the_ledger(receiver):
    from opshealth import schedules

    AlertRuleFactory(kind="run_failed", channels=[ChannelFactory(target=receiver.url)])
    record_run("load_orders", Run.FAILED)
    summary = schedules.run("opshealth.dispatch_alerts")
    assert summary.startswith("1 firing, 1 opened")
    (run,) = Run.objects.filter(pipeline__name="opshealth.dispatch_alerts")
    assert (run.status, run.triggered_by) == ("success", "scheduler")
    assert len(receiver.accepted) == 1
