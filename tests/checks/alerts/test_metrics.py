"""`/metrics` of alerting: open incidents by severity, notification failures by channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks.alerts.cycle import run_cycle
from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db


def test_open_incidents_and_channel_failures_are_exposed(read_client, receiver, clock):
    receiver.codes = [500, 404]
    hook = ChannelFactory(name="ops-hook", target=receiver.url)
    AlertRuleFactory(kind="run_failed", severity="critical", channels=[hook])
    record_run("load_orders", Run.FAILED)
    run_cycle()
    clock.shift(timedelta(minutes=1))
    run_cycle()
    text = read_client.get("/metrics").content.decode()
    assert 'opshealth_incidents_open{severity="critical"} 1.0' in text
    assert 'opshealth_incidents_open{severity="warning"} 0.0' in text
    assert 'opshealth_notification_failures_total{channel="ops-hook"} 2.0' in text
    assert 'opshealth_channel_broken{channel="ops-hook"} 1.0' in text
