"""Quiet when it should be: silences, maintenance windows, acknowledgements, snoozes.
Incidents are still recorded (and shown with the reason); they are not notified."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident, MaintenanceWindow, Silence
from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(receiver):
    return AlertRuleFactory(
        name="loads",
        kind="run_failed",
        repeat_interval=timedelta(hours=1),
        channels=[ChannelFactory(target=receiver.url)],
    )


def kinds(receiver) -> list[str]:
    return [r.body["kind"] for r in receiver.accepted]


def test_a_silence_ending_while_firing_sends_one_notice(clock, receiver, rule):
    Silence.objects.create(
        scope_pipeline="load_orders", ends_at=timezone.now() + timedelta(minutes=30), comment="deploy"
    )
    record_run("load_orders", Run.FAILED)
    run_cycle()
    incident = Incident.objects.get()
    assert (incident.state, incident.quiet_reason) == ("open", "silence")
    assert kinds(receiver) == []
    for _ in range(40):
        clock.shift(timedelta(minutes=1))
        run_cycle()
    assert kinds(receiver) == ["silence_expired"]


def test_a_silence_covers_only_its_scope(clock, receiver, rule):
    Silence.objects.create(scope_pipeline="other", ends_at=timezone.now() + timedelta(hours=1), comment="x")
    record_run("load_orders", Run.FAILED)
    run_cycle()
    assert kinds(receiver) == ["firing"]


def test_a_silenced_incident_that_recovers_sends_nothing(clock, receiver, rule):
    Silence.objects.create(ends_at=timezone.now() + timedelta(hours=1), comment="all")
    pipeline = record_run("load_orders", Run.FAILED).pipeline
    run_cycle()
    clock.shift(timedelta(minutes=5))
    record_run(pipeline, Run.SUCCESS)
    for _ in range(90):
        run_cycle()
        clock.shift(timedelta(minutes=1))
    assert Incident.objects.get().state == "resolved"
    assert kinds(receiver) == []


def test_a_maintenance_window_quiets_its_scope_in_its_time_zone(clock, receiver, rule):
    # Monday 2026-11-02 08:00 UTC is 09:00 in Paris: inside 08:30-10:30 Paris time.
    MaintenanceWindow.objects.create(
        name="monday loads",
        scope_pipeline="load_orders",
        weekdays=[0],
        start_time=time(8, 30),
        duration=timedelta(hours=2),
        timezone="Europe/Paris",
    )
    record_run("load_orders", Run.FAILED)
    run_cycle()
    assert Incident.objects.get().quiet_reason == "maintenance"
    clock.shift(timedelta(minutes=89))
    run_cycle()
    assert kinds(receiver) == []
    clock.shift(timedelta(minutes=1))  # 09:30 UTC = 10:30 Paris: the window has ended
    run_cycle()
    assert kinds(receiver) == ["firing"]


def test_a_maintenance_window_may_span_midnight():
    window = MaintenanceWindow(
        weekdays=[6], start_time=time(23, 0), duration=timedelta(hours=3), timezone="UTC"
    )
    assert window.is_active(datetime(2026, 11, 2, 1, 30, tzinfo=UTC))  # Monday 01:30, from Sunday
    assert not window.is_active(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    assert not window.is_active(datetime(2026, 11, 7, 23, 30, tzinfo=UTC))  # a Saturday


def test_an_acknowledgement_stops_repeats_until_it_times_out(clock, receiver, rule):
    record_run("load_orders", Run.FAILED)
    run_cycle()
    incident = Incident.objects.get()
    incident.acknowledge(by="alice", note="looking", timeout=timedelta(hours=3))
    for _ in range(6):  # repeats are hourly; the acknowledgement holds them for 3 h
        clock.shift(timedelta(minutes=30))
        run_cycle()
    assert kinds(receiver) == ["firing", "ack_expired"]
    incident.refresh_from_db()
    assert incident.state == "open"
    assert list(incident.events.values_list("kind", flat=True)) == ["opened", "acknowledged", "ack_expired"]


def test_a_snooze_holds_repeats_until_it_ends(clock, receiver, rule):
    record_run("load_orders", Run.FAILED)
    run_cycle()
    Incident.objects.get().snooze(until=timezone.now() + timedelta(hours=3), by="bob")
    for _ in range(5):
        clock.shift(timedelta(minutes=30))
        run_cycle()
    assert Incident.objects.get().quiet_reason == "snoozed"
    assert kinds(receiver) == ["firing"]
    clock.shift(timedelta(minutes=30))
    run_cycle()
    assert kinds(receiver) == ["firing", "repeat"]


def test_a_snooze_is_at_most_7_days(clock, rule):
    record_run("load_orders", Run.FAILED)
    run_cycle()
    with pytest.raises(ValueError, match="7 days"):
        Incident.objects.get().snooze(until=timezone.now() + timedelta(days=8), by="bob")


def test_resolving_by_hand_sends_no_recovery_and_a_new_failure_opens_a_new_incident(clock, receiver, rule):
    pipeline = record_run("load_orders", Run.FAILED).pipeline
    run_cycle()
    Incident.objects.get().resolve(by="carol")
    clock.shift(timedelta(minutes=1))
    record_run(pipeline, Run.FAILED)
    run_cycle()
    assert Incident.objects.count() == 2
    assert kinds(receiver) == ["firing", "firing"]
