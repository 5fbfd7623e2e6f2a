"""The alerting loop end to end: pipeline runs → incidents → outbox → a real local
webhook receiver (or Django's locmem mail)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.core import mail

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident, Notification
from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(receiver):
    return ChannelFactory(name="ops-hook", kind="webhook", target=receiver.url)


@pytest.fixture
def rule(hook):
    return AlertRuleFactory(
        name="orders load fails", kind="run_failed", scope_pipeline="load_orders", channels=[hook]
    )


def test_a_failure_gives_one_notification(clock, receiver, rule):
    record_run("load_orders", Run.FAILED)
    run_cycle()
    run_cycle()
    clock.shift(timedelta(minutes=1))
    run_cycle()
    assert [r.body["kind"] for r in receiver.accepted] == ["firing"]
    incident = Incident.objects.get()
    assert (incident.state, incident.subject, incident.rule) == ("open", "load_orders", rule)


def test_another_failure_sends_nothing_until_the_repeat_interval(clock, receiver, rule):
    record_run("load_orders", Run.FAILED)
    run_cycle()
    clock.shift(timedelta(hours=1))
    record_run("load_orders", Run.FAILED)
    run_cycle()
    clock.shift(timedelta(hours=2, minutes=59))
    run_cycle()
    assert [r.body["kind"] for r in receiver.accepted] == ["firing"]
    clock.shift(timedelta(minutes=1))  # 4 h after the first message
    run_cycle()
    assert [r.body["kind"] for r in receiver.accepted] == ["firing", "repeat"]
    assert Incident.objects.count() == 1


def test_a_success_gives_one_recovery_with_its_duration(clock, receiver, rule):
    record_run("load_orders", Run.FAILED)
    run_cycle()
    clock.shift(timedelta(minutes=45))
    record_run("load_orders", Run.SUCCESS)
    run_cycle()
    assert Incident.objects.get().state == "resolved"
    for _ in range(15):  # the recovery waits OPSHEALTH_ALERT_RECOVERY_DELAY (10 min)
        clock.shift(timedelta(minutes=1))
        run_cycle()
    kinds = [r.body["kind"] for r in receiver.accepted]
    assert kinds == ["firing", "resolved"]
    recovery = receiver.accepted[1].body
    assert recovery["duration_seconds"] == 45 * 60
    assert "after 45 min" in recovery["text"]


def test_failing_and_passing_every_5_minutes_for_an_hour_sends_at_most_2_messages(clock, receiver, rule):
    pipeline = record_run("load_orders", Run.FAILED).pipeline
    for minute in range(61):
        if minute and minute % 5 == 0:
            record_run(pipeline, Run.SUCCESS if (minute // 5) % 2 else Run.FAILED)
        run_cycle()
        clock.shift(timedelta(minutes=1))
    kinds = [r.body["kind"] for r in receiver.accepted]
    assert kinds == ["firing", "flapping"]


def test_a_receiver_failing_twice_gets_the_message_once_with_one_idempotency_key(clock, receiver, rule):
    receiver.codes = [500, 500, 200]
    record_run("load_orders", Run.FAILED)
    run_cycle()
    clock.shift(timedelta(minutes=1))  # backoff after the first failure: 1 min
    run_cycle()
    clock.shift(timedelta(minutes=1))
    run_cycle()  # the second failure backs off 2 min: not due yet
    assert len(receiver.requests) == 2
    clock.shift(timedelta(minutes=1))
    run_cycle()
    assert [r.code for r in receiver.requests] == [500, 500, 200]
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert len(keys) == 1
    assert [r.body for r in receiver.requests].count(receiver.requests[0].body) == 3
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("sent", 3)
    assert [d.outcome for d in notification.deliveries.order_by("attempt")] == ["retry", "retry", "sent"]


def test_the_message_says_what_where_since_why_what_to_do_and_links(clock, receiver, rule, settings):
    settings.SITE_URL = "https://ops.example.com"
    run = record_run("load_orders", Run.FAILED)
    run_cycle()
    body = receiver.accepted[0].body
    incident = Incident.objects.get()
    assert body["title"] == "[FIRING] orders load fails: load_orders"
    text = body["text"]
    assert "What: Pipeline load_orders: its latest run failed." in text
    assert "Where: load_orders (pipeline)" in text
    assert "Since: 2026-11-02 08:00 UTC" in text
    assert run.external_run_id in text and "connection reset while loading orders" in text
    assert "What to do: Fix and re-run the failed pipelines." in text
    assert f"https://ops.example.com/ops/health?tab=alerts&incident={incident.pk}" in text
    assert body["evidence"]["failing_runs"][0]["run"] == run.external_run_id


def test_a_webhook_with_a_secret_is_signed(clock, receiver, rule, hook):
    hook.secret = "s3cret"
    hook.save()
    record_run("load_orders", Run.FAILED)
    run_cycle()
    request = receiver.accepted[0]
    expected = hmac.new(b"s3cret", request.raw, hashlib.sha256).hexdigest()
    assert request.headers["x-opshealth-signature"] == f"sha256={expected}"


def test_slack_gets_its_text_format(clock, receiver):
    slack = ChannelFactory(kind="slack", target=receiver.url)
    AlertRuleFactory(kind="run_failed", channels=[slack])
    record_run("load_orders", Run.FAILED)
    run_cycle()
    assert receiver.accepted[0].body["text"].startswith("*[FIRING] ")


def test_email_goes_through_django_mail(clock):
    channel = ChannelFactory(kind="email", target="oncall@example.com, data@example.com")
    AlertRuleFactory(name="loads", kind="consecutive_failures", params={"n": 2}, channels=[channel])
    pipeline = record_run("load_orders", Run.FAILED).pipeline
    run_cycle()
    assert mail.outbox == []  # one failure is not two consecutive ones
    record_run(pipeline, Run.FAILED)
    run_cycle()
    (message,) = mail.outbox
    assert message.subject == "[FIRING] loads: load_orders"
    assert message.to == ["oncall@example.com", "data@example.com"]
    assert "its last 2 runs failed" in message.body


def test_a_4xx_marks_the_channel_broken_and_is_not_retried(clock, receiver, rule, hook):
    receiver.codes = [404]
    record_run("load_orders", Run.FAILED)
    run_cycle()
    hook.refresh_from_db()
    assert hook.broken_at is not None and hook.broken_reason == "HTTP 404"
    clock.shift(timedelta(hours=2))
    run_cycle()
    assert len(receiver.requests) == 1
    assert Notification.objects.get().status == "failed"


def test_retries_stop_after_8_attempts(clock, receiver, rule):
    rule.repeat_interval = None
    rule.save()
    receiver.codes = [503] * 20
    record_run("load_orders", Run.FAILED)
    for _ in range(12):
        run_cycle()
        clock.shift(timedelta(hours=1))
    assert len(receiver.requests) == 8
    assert Notification.objects.get().status == "failed"


def test_n_of_the_last_m_runs(clock, receiver, hook):
    AlertRuleFactory(kind="failures_of_last", params={"n": 2, "m": 4}, channels=[hook])
    pipeline = record_run("load_orders", Run.FAILED).pipeline
    for status in (Run.SUCCESS, Run.SUCCESS, Run.SUCCESS):
        clock.shift(timedelta(minutes=1))
        record_run(pipeline, status)
    run_cycle()
    assert not Incident.objects.exists()
    clock.shift(timedelta(minutes=1))
    record_run(pipeline, Run.FAILED)
    run_cycle()
    assert not Incident.objects.exists()  # the first failure is 5 runs back now
    clock.shift(timedelta(minutes=1))
    record_run(pipeline, Run.FAILED)
    run_cycle()
    assert Incident.objects.get().summary == "Pipeline load_orders: 2 of its last 4 runs failed."


def test_failure_rate_needs_its_minimum_sample(clock, receiver, hook):
    AlertRuleFactory(
        kind="failure_rate",
        params={"window": "1h", "threshold": 0.5, "min_sample": 4, "window_seconds": 3600},
        channels=[hook],
    )
    pipeline = record_run("load_orders", Run.FAILED).pipeline
    record_run(pipeline, Run.FAILED)
    record_run(pipeline, Run.SUCCESS)
    run_cycle()
    assert not Incident.objects.exists()
    record_run(pipeline, Run.SUCCESS)
    run_cycle()
    assert "2 of 4 runs failed over 1h" in Incident.objects.get().summary
