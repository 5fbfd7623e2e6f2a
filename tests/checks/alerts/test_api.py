"""`/api/v1/alerts/*`: the contract shapes, writes for the admin scope and staff only,
targets write-only, the incident actions, filters and their errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Channel, Incident
from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory

pytestmark = pytest.mark.django_db

HOOK = "https://hooks.example.com/T0/B0"


def test_the_issue_example_creates_a_channel_and_a_rule_and_lists_open_incidents(
    admin_token_client, receiver, clock
):
    response = admin_token_client.post(
        "/api/v1/alerts/channels",
        {"name": "ops-hook", "kind": "webhook", "target": receiver.url},
        format="json",
    )
    assert response.status_code == 201, response.json()
    channel_id = response.json()["id"]
    assert "target" not in response.json()
    response = admin_token_client.post(
        "/api/v1/alerts/rules",
        {
            "name": "orders load fails",
            "kind": "run_failed",
            "scope": {"pipeline": "load_orders"},
            "channels": [channel_id],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["scope"] == {"pipeline": "load_orders"}
    assert response.json()["repeat_interval"] == "04:00:00"
    record_run("load_orders", Run.FAILED)
    run_cycle()
    (incident,) = admin_token_client.get("/api/v1/alerts/incidents?state=open").json()["results"]
    assert {k: incident[k] for k in ("state", "rule", "subject")} == {
        "state": "open",
        "rule": response.json()["id"],
        "subject": "load_orders",
    }
    assert isinstance(incident["id"], int)


def test_a_channel_target_is_write_only_and_masked(admin_token_client):
    response = admin_token_client.post(
        "/api/v1/alerts/channels",
        {"name": "hook", "kind": "slack", "target": HOOK, "secret": "k"},
        format="json",
    )
    body = response.json()
    assert "T0/B0" not in str(body) and body["target_display"] == "https://hooks.example.com/***"
    assert body["has_secret"] is True and "secret" not in body
    listed = admin_token_client.get("/api/v1/alerts/channels").content.decode()
    assert "T0/B0" not in listed


def test_a_patch_without_target_keeps_it_and_a_new_target_clears_broken(admin_token_client):
    channel = ChannelFactory(target=HOOK, broken_at=timezone.now(), broken_reason="HTTP 404")
    response = admin_token_client.patch(
        f"/api/v1/alerts/channels/{channel.pk}", {"enabled": False}, format="json"
    )
    assert response.status_code == 200
    channel.refresh_from_db()
    assert (channel.target, channel.enabled, channel.broken_reason) == (HOOK, False, "HTTP 404")
    admin_token_client.patch(
        f"/api/v1/alerts/channels/{channel.pk}", {"target": HOOK + "/new"}, format="json"
    )
    channel.refresh_from_db()
    assert channel.broken_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "webhook", "target": "ftp://example.com/x"}, "target"),
        ({"name": "x", "kind": "webhook", "target": "http://example.com:port/x"}, "target"),
        ({"name": "x", "kind": "email", "target": "not-an-address"}, "target"),
        ({"name": "x", "kind": "pager", "target": HOOK}, "kind"),
        ({"name": "x", "kind": "webhook"}, "target"),
    ],
)
def test_bad_channels_are_400_and_never_echo_the_target(admin_token_client, body, field):
    response = admin_token_client.post("/api/v1/alerts/channels", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert "example.com" not in str(response.json())
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "nope"}, "kind"),
        ({"kind": "consecutive_failures", "params": {"n": 0}}, "params"),
        ({"kind": "consecutive_failures", "params": {"n": "3"}}, "params"),
        ({"kind": "failures_of_last", "params": {"n": 6, "m": 5}}, "params"),
        ({"kind": "failure_rate", "params": {"window": "soon"}}, "params"),
        ({"kind": "failure_rate", "params": {"threshold": 2}}, "params"),
        ({"kind": "run_failed", "params": {"surprise": 1}}, "params"),
        ({"kind": "run_failed", "scope": {"object": "raw.orders"}}, "scope"),
        ({"kind": "run_failed", "scope": {"planet": "mars"}}, "scope"),
        ({"kind": "check_status", "scope": {"check_key": "no_such_check"}}, "scope"),
        ({"kind": "global_status", "params": {"level": "PANIC"}}, "params"),
        ({"kind": "run_failed", "repeat_interval": "often"}, "repeat_interval"),
        ({"kind": "run_failed", "resolve_after": 0}, "resolve_after"),
        ({"kind": "run_failed", "channels": [999]}, "channels"),
    ],
)
def test_bad_rules_are_400_with_the_field(admin_token_client, body, field):
    response = admin_token_client.post("/api/v1/alerts/rules", {"name": "r", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_rule_params_are_normalized_and_durations_accept_the_house_syntax(staff_client):
    response = staff_client.post(
        "/api/v1/alerts/rules",
        {"name": "rate", "kind": "failure_rate", "params": {"window": "2 hours"}, "repeat_interval": "90m"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["params"] == {"window": "2 hours", "window_seconds": 7200, "threshold": 0.5, "min_sample": 5}
    assert body["repeat_interval"] == "01:30:00"
    response = staff_client.patch(
        f"/api/v1/alerts/rules/{body['id']}", {"repeat_interval": None}, format="json"
    )
    assert response.json()["repeat_interval"] is None
    assert (
        staff_client.patch(f"/api/v1/alerts/rules/{body['id']}", {"enabled": False}, format="json").json()[
            "params"
        ]
        == body["params"]
    )


@pytest.mark.parametrize("path", ["rules", "channels", "silences", "maintenance-windows"])
def test_writes_need_the_admin_scope_or_staff(read_client, ingest_client, viewer_client, anon_client, path):
    for client, code in ((read_client, 403), (ingest_client, 403), (viewer_client, 403), (anon_client, 401)):
        assert client.post(f"/api/v1/alerts/{path}", {}, format="json").status_code == code
    assert read_client.get(f"/api/v1/alerts/{path}").status_code == 200
    assert anon_client.get(f"/api/v1/alerts/{path}").status_code == 401


@pytest.mark.parametrize(
    "path", ["rules", "channels", "silences", "maintenance-windows", "incidents", "deliveries"]
)
def test_unknown_query_parameters_are_400(read_client, path):
    response = read_client.get(f"/api/v1/alerts/{path}?colour=blue")
    assert response.status_code == 400
    assert list(response.json()) == ["colour"]
    assert response.json()["colour"][0].startswith("Unknown query parameter")


@pytest.fixture
def incident(receiver, clock):
    AlertRuleFactory(
        name="loads", kind="run_failed", channels=[ChannelFactory(name="hook", target=receiver.url)]
    )
    record_run("load_orders", Run.FAILED)
    run_cycle()
    return Incident.objects.get()


def test_acknowledge_snooze_and_resolve(admin_token_client, incident, clock):
    url = f"/api/v1/alerts/incidents/{incident.pk}"
    clock.shift(timedelta(minutes=1))
    response = admin_token_client.post(
        f"{url}/acknowledge", {"note": "on it", "timeout": "2h"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["ack_note"], body["acknowledged_by_name"]) == (
        "acknowledged",
        "on it",
        "token:admin-test",
    )
    assert body["ack_expires_at"] == (timezone.now() + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    until = (timezone.now() + timedelta(days=8)).isoformat()
    assert admin_token_client.post(f"{url}/snooze", {"until": until}, format="json").status_code == 400
    until = (timezone.now() + timedelta(hours=3)).isoformat()
    clock.shift(timedelta(minutes=1))
    assert admin_token_client.post(f"{url}/snooze", {"until": until}, format="json").status_code == 200
    clock.shift(timedelta(minutes=1))
    response = admin_token_client.post(f"{url}/resolve", format="json")
    assert response.json()["state"] == "resolved"
    assert admin_token_client.post(f"{url}/resolve", format="json").status_code == 400
    kinds = [(t["type"], t["kind"]) for t in admin_token_client.get(url).json()["timeline"]]
    assert kinds == [
        ("event", "opened"),
        ("notification", "firing"),
        ("event", "acknowledged"),
        ("event", "snoozed"),
        ("event", "resolved"),
    ]


def test_incident_actions_need_the_admin_scope(read_client, incident):
    assert read_client.post(f"/api/v1/alerts/incidents/{incident.pk}/acknowledge", {}).status_code == 403


def test_incident_detail_has_evidence_remedy_and_timeline(read_client, incident):
    body = read_client.get(f"/api/v1/alerts/incidents/{incident.pk}").json()
    assert body["evidence"]["failing_runs"][0]["error_type"] == "RuntimeError"
    assert body["remedy"] == "Fix and re-run the failed pipelines"
    (notification,) = [t for t in body["timeline"] if t["type"] == "notification"]
    assert (notification["channel"], notification["status"]) == ("hook", "sent")


def test_incident_filters(read_client, incident):
    def ids(query):
        response = read_client.get(f"/api/v1/alerts/incidents?{query}")
        assert response.status_code == 200, response.json()
        return [i["id"] for i in response.json()["results"]]

    assert ids("rule=loads") == ids(f"rule={incident.rule_id}") == [incident.pk]
    assert ids("rule=other") == []
    assert ids("subject=load_orders") == [incident.pk]
    assert ids("state=resolved") == []
    assert ids("severity=warning") == [incident.pk]
    assert read_client.get("/api/v1/alerts/incidents?state=lost").status_code == 400
    assert read_client.get("/api/v1/alerts/incidents?unresolved=maybe").status_code == 400


def test_deliveries_list_every_attempt(read_client, incident):
    (delivery,) = read_client.get(f"/api/v1/alerts/deliveries?incident={incident.pk}").json()["results"]
    assert (delivery["kind"], delivery["outcome"], delivery["channel_name"]) == ("firing", "sent", "hook")
    assert read_client.get("/api/v1/alerts/deliveries?channel=hook").json()["count"] == 1


def test_channel_test_sends_a_message(admin_token_client, receiver):
    channel = ChannelFactory(target=receiver.url)
    response = admin_token_client.post(f"/api/v1/alerts/channels/{channel.pk}/test")
    assert response.status_code == 200
    assert response.json()["outcome"] == "sent" and response.json()["is_test"] is True
    assert receiver.accepted[0].body["title"].startswith("[TEST] OpsHealth channel")


def test_a_failed_channel_test_says_why_without_the_target(admin_token_client, receiver):
    receiver.codes = [410]
    channel = ChannelFactory(target=receiver.url)
    body = admin_token_client.post(f"/api/v1/alerts/channels/{channel.pk}/test").json()
    assert (body["outcome"], body["error"], body["permanent"]) == ("failed", "HTTP 410", True)
    assert (
        admin_token_client.get(f"/api/v1/alerts/channels/{channel.pk}").json()["broken_reason"] == "HTTP 410"
    )


def test_silences_end_at_most_7_days_ahead_and_record_their_creator(staff_client):
    too_far = (timezone.now() + timedelta(days=8)).isoformat()
    body = {"scope": {"pipeline": "load_orders"}, "ends_at": too_far, "comment": "deploy"}
    assert staff_client.post("/api/v1/alerts/silences", body, format="json").status_code == 400
    body["ends_at"] = (timezone.now() + timedelta(hours=2)).isoformat()
    response = staff_client.post("/api/v1/alerts/silences", body, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["created_by_name"], response.json()["active"]) == ("staff", True)
    assert staff_client.get("/api/v1/alerts/silences?active=true").json()["count"] == 1


def test_maintenance_windows_are_validated(staff_client):
    body = {
        "name": "nightly",
        "weekdays": [0, 1],
        "start_time": "02:00",
        "duration": "2h",
        "timezone": "Europe/Paris",
    }
    response = staff_client.post("/api/v1/alerts/maintenance-windows", body, format="json")
    assert response.status_code == 201, response.json()
    for bad in ({"weekdays": [7]}, {"timezone": "Mars/Olympus"}, {"duration": "8d"}, {"weekdays": []}):
        response = staff_client.post(
            "/api/v1/alerts/maintenance-windows", {**body, "name": "n2", **bad}, format="json"
        )
        assert response.status_code == 400, bad
