"""The alerting admin: every list and form renders; targets never appear; actions work."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Channel, Incident
from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db

SECRET_URL = "https://hooks.example.com/services/T0/B0/xoxb-very-secret"


@pytest.mark.parametrize(
    "model", ["alertrule", "channel", "incident", "notification", "delivery", "silence", "maintenancewindow"]
)
def test_every_alerting_list_and_add_form_renders(admin_client, model, receiver, clock):
    channel = ChannelFactory(target=receiver.url)
    AlertRuleFactory(kind="run_failed", channels=[channel])
    record_run("load_orders", Run.FAILED)
    run_cycle()
    assert admin_client.get(reverse(f"admin:checks_{model}_changelist")).status_code == 200
    if model not in ("incident", "notification", "delivery"):
        assert admin_client.get(reverse(f"admin:checks_{model}_add")).status_code == 200


def test_the_channel_target_is_never_shown_and_kept_when_left_empty(admin_client):
    channel = ChannelFactory(name="ops-hook", target=SECRET_URL, secret="hmac-key")
    listing = admin_client.get(reverse("admin:checks_channel_changelist")).content.decode()
    form = admin_client.get(reverse("admin:checks_channel_change", args=[channel.pk])).content.decode()
    for page in (listing, form):
        assert "xoxb-very-secret" not in page and "hmac-key" not in page
    assert "https://hooks.example.com/***" in listing
    response = admin_client.post(
        reverse("admin:checks_channel_change", args=[channel.pk]),
        {"name": "ops-hook", "kind": "webhook", "target": "", "secret": "", "enabled": "on"},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.target, channel.secret) == (SECRET_URL, "hmac-key")


def test_the_test_action_sends_a_message(admin_client, receiver):
    channel = ChannelFactory(target=receiver.url)
    admin_client.post(
        reverse("admin:checks_channel_changelist"), {"action": "send_test", "_selected_action": [channel.pk]}
    )
    assert receiver.accepted[0].body["kind"] == "test"
    assert Channel.objects.get().deliveries.get().is_test


def test_incidents_are_acknowledged_from_the_admin(admin_client, receiver, clock):
    AlertRuleFactory(kind="run_failed", channels=[ChannelFactory(target=receiver.url)])
    record_run("load_orders", Run.FAILED)
    run_cycle()
    incident = Incident.objects.get()
    admin_client.post(
        reverse("admin:checks_incident_changelist"),
        {"action": "acknowledge", "_selected_action": [incident.pk]},
    )
    incident.refresh_from_db()
    assert (incident.state, incident.acknowledged_by_name) == ("acknowledged", "admin")
    page = admin_client.get(reverse("admin:checks_incident_change", args=[incident.pk]))
    assert page.status_code == 200 and b"acknowledged" in page.content
