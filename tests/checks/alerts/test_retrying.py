"""Alerting and the control loop: a failure being retried pages only once the retries
are exhausted, and nothing is retried while an upstream object has an open incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident
from checks.models import Action
from checks.retry import Failure, plan
from ledger.models import Run
from tests.checks.alerts.conftest import record_evaluation, record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory
from tests.factories.registry import DependencyFactory, RegistryObjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def matview():
    return RegistryObjectFactory(schema_name="mart", object_name="daily_sales", object_type="matview")


def test_a_failure_being_retried_pages_only_when_the_retries_are_exhausted(clock, receiver, matview):
    AlertRuleFactory(kind="check_status", channels=[ChannelFactory(target=receiver.url)])
    retry = Action.objects.create(
        kind="refresh",
        target=Action.object_target(matview),
        object=matview,
        via=Action.CONTROL_LOOP,
        requested_by_name="control loop",
        attempt=2,
        not_before=timezone.now() + timedelta(minutes=10),
    )
    record_evaluation([("mv_refresh_failed", "ERROR", matview)])
    run_cycle()
    assert Incident.objects.get().quiet_reason == "retrying"
    assert receiver.requests == []
    retry.state, retry.finished_at = Action.FAILED, timezone.now()  # the last attempt failed too
    retry.save()
    clock.shift(timedelta(minutes=10))
    run_cycle()
    assert [r.body["kind"] for r in receiver.accepted] == ["firing"]


def test_nothing_is_retried_while_an_upstream_object_has_an_open_incident(clock, matview):
    raw = RegistryObjectFactory(source=matview.source, schema_name="raw", object_name="orders")
    view = RegistryObjectFactory(source=matview.source, object_name="v_orders", object_type="view")
    DependencyFactory(upstream=raw, downstream=view)
    DependencyFactory(upstream=view, downstream=matview)
    AlertRuleFactory(kind="check_status")
    record_evaluation([("freshness_sla_breach", "ERROR", raw)])
    run_cycle()
    failed = record_run("opshealth.refresh_matviews", Run.FAILED)
    failure = Failure("refresh", matview, failed, 1, "57014", "canceling statement due to statement timeout")
    assert plan(failure) is None
    assert not Action.objects.exists()
    Incident.objects.get().resolve(by="alice")
    assert plan(failure) is not None
