"""`manage.py dispatch_alerts`: one cycle, and what it did."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db


def test_one_cycle_prints_its_counts(receiver, clock):
    AlertRuleFactory(kind="run_failed", channels=[ChannelFactory(target=receiver.url)])
    record_run("load_orders", Run.FAILED)
    out = io.StringIO()
    call_command("dispatch_alerts", stdout=out)
    assert out.getvalue().strip() == (
        "1 firing, 1 opened, 0 reopened, 0 resolved, 0 quiet, 1 enqueued; 1 sent, 0 to retry, 0 failed"
    )
    assert len(receiver.accepted) == 1
