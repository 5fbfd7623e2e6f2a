"""A cycle is a constant number of statements whatever the number of rules and subjects."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.alerts.cycle import CycleReport, Judge
from checks.alerts.outbox import deliver_due
from ledger.models import Pipeline, Run
from tests.checks.alerts.conftest import record_evaluation
from tests.factories.alerts import AlertRuleFactory, ChannelFactory
from tests.factories.registry import DependencyFactory, RegistryObjectFactory

pytestmark = pytest.mark.django_db


def platform(n: int, receiver) -> None:
    """n failing pipelines, n objects in a chain failing a check, 4 rules per n/10."""
    now = timezone.now()
    pipelines = Pipeline.objects.bulk_create([Pipeline(name=f"p{i}") for i in range(n)])
    Run.objects.bulk_create(
        [
            Run(pipeline=p, external_run_id="r", status=Run.FAILED, started_at=now, ended_at=now)
            for p in pipelines
        ]
    )
    objects = [RegistryObjectFactory() for _ in range(n)]
    for up, down in itertools.pairwise(objects):
        DependencyFactory(upstream=up, downstream=down)
    record_evaluation([("freshness_sla_breach", "ERROR", o) for o in objects])
    channel = ChannelFactory(target=receiver.url)
    for i in range(n // 10):
        AlertRuleFactory(kind="run_failed", scope_pipeline=f"p{i}", channels=[channel])
        AlertRuleFactory(kind="consecutive_failures", params={"n": 1}, channels=[channel])
        AlertRuleFactory(kind="check_status", channels=[channel])
        AlertRuleFactory(kind="global_status", channels=[channel])


def judging(now) -> int:
    with CaptureQueriesContext(connection) as queries:
        Judge(now, CycleReport()).run()
    return len(queries)


@pytest.mark.parametrize("n", [10, 100])
def test_judging_costs_the_same_statements_for_10_and_100_subjects(receiver, n):
    platform(n, receiver)
    first, steady = judging(timezone.now()), judging(timezone.now() + timedelta(minutes=1))
    later = timezone.now() + timedelta(minutes=2)
    Run.objects.update(status=Run.SUCCESS)
    record_evaluation([], status="OK")
    resolving = judging(later)
    # First: rules, their channels; the pipeline, check and global conditions (3);
    # incidents to judge; insert the new incidents; subject states read and upserted;
    # suppression (the registry's edges; unreachable sources, when some incident on an
    # object hangs under no upstream one); silences; windows; the control loop's pending retries; update
    # incidents; insert notifications; insert events. Steady: no inserts or upserts, a touch of the incidents still firing.
    # Resolving: an update of their state before the suppression, no touch.
    assert (first, steady, resolving) == (17, 14, 16)


def test_delivering_a_batch_costs_five_statements(receiver):
    platform(10, receiver)
    Judge(timezone.now(), CycleReport()).run()
    with CaptureQueriesContext(connection) as queries:
        sent, _, _ = deliver_due()
    assert sent > 10
    # claim; savepoint, update notifications, insert deliveries, release
    assert len(queries) == 5
