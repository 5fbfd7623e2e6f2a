"""The outbox under concurrency and crashes: at least once, never twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from checks.alerts import queries
from checks.alerts.cycle import CycleReport, Judge, run_cycle
from checks.alerts.models import Notification
from checks.alerts.outbox import LEASE, deliver_due
from ledger.models import Pipeline, Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory


def failing_pipelines(n: int) -> None:
    now = timezone.now()
    pipelines = Pipeline.objects.bulk_create([Pipeline(name=f"p{i:04}") for i in range(n)])
    Run.objects.bulk_create(
        [
            Run(pipeline=p, external_run_id=f"r{p.pk}", status=Run.FAILED, started_at=now, ended_at=now)
            for p in pipelines
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_4_concurrent_dispatchers_over_1000_incidents_send_no_duplicate(receiver):
    AlertRuleFactory(kind="run_failed", channels=[ChannelFactory(target=receiver.url)])
    failing_pipelines(1000)
    with transaction.atomic():
        Judge(timezone.now(), CycleReport()).run()
    assert Notification.objects.filter(status="pending").count() == 1000

    barrier = threading.Barrier(4)
    reports, errors = [], []

    def dispatcher():
        try:
            barrier.wait(timeout=30)
            while Notification.objects.filter(status="pending").exists():
                reports.append(run_cycle())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(keys) == 1000
    assert len(set(keys)) == 1000
    assert sum(r.sent for r in reports) == 1000
    assert sum(1 for r in reports if r.sent) > 1  # the work was shared
    assert Notification.objects.filter(status="sent").count() == 1000


@pytest.mark.django_db
def test_a_crash_between_claiming_and_sending_resends_with_the_same_key(clock, receiver):
    AlertRuleFactory(kind="run_failed", channels=[ChannelFactory(target=receiver.url)])
    record_run("load_orders", Run.FAILED)
    with transaction.atomic():
        Judge(timezone.now(), CycleReport()).run()
    # A dispatcher claims the row, then dies before sending.
    (claimed,) = queries.claim(timezone.now(), timezone.now() + LEASE, 10)
    assert deliver_due() == (0, 0, 0)  # leased: nobody else takes it
    clock.shift(LEASE + timedelta(seconds=1))
    assert deliver_due() == (1, 0, 0)
    (request,) = receiver.requests
    assert request.headers["idempotency-key"] == claimed[2]
    assert Notification.objects.get().attempts == 2
