"""Actions: `POST /api/v1/actions` queues a rerun for the task cluster (202), `GET` shows
its state and the ledger run it produced; staff only, audited, idempotent while in
flight; admin actions on sources and registry objects. The task body (`perform`) is
called as a worker would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from checks import actions
from checks.models import Action
from ledger.models import Run
from tests.factories.registry import RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/actions"


def test_actions_are_for_staff_and_admin_tokens_only(
    anon_client, viewer_client, read_client, ingest_client, admin_token_client, staff_client
):
    body = {"action": "evaluate"}
    assert anon_client.post(URL, body, format="json").status_code == 401
    for client in (viewer_client, read_client, ingest_client):
        assert client.post(URL, body, format="json").status_code == 403
        assert client.get(URL).status_code == 403
    assert admin_token_client.post(URL, body, format="json").status_code == 202
    assert staff_client.get(URL).status_code == 200


def test_a_queued_action_is_handed_to_the_cluster_and_audited(admin_token_client):
    response = admin_token_client.post(URL, {"action": "evaluate"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["action"], body["target"], body["state"], body["run"]) == ("evaluate", "", "queued", None)
    assert (body["requested_by_name"], body["via"]) == ("token:admin-test", "api")
    assert OrmQ.objects.count() == 1  # async_task on the ORM broker
    assert admin_token_client.get(f"{URL}/{body['id']}").json()["state"] == "queued"


def test_the_task_runs_the_action_and_links_the_run_it_produced(admin_token_client):
    action_id = admin_token_client.post(URL, {"action": "evaluate"}, format="json").json()["id"]
    actions.perform(action_id)
    body = admin_token_client.get(f"{URL}/{action_id}").json()
    assert body["state"] == "done"
    assert body["run"]["pipeline"] == "opshealth.evaluate_health"
    assert body["run"]["status"] == "success"
    assert body["started_at"] and body["finished_at"] and body["outcome"]
    run = Run.objects.get(run_id=body["run"]["run_id"])
    assert run.triggered_by == "api"
    assert actions.perform(action_id) is None  # a second delivery does nothing


def test_the_same_action_on_the_same_target_in_flight_is_the_one_returned(admin_token_client, staff_client):
    source = SourceFactory(name="wh")
    first = admin_token_client.post(URL, {"action": "discover", "target": "wh"}, format="json")
    again = staff_client.post(URL, {"action": "discover", "target": source.pk}, format="json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    Action.objects.filter(pk=first.json()["id"]).update(state=Action.RUNNING)
    assert (
        staff_client.post(URL, {"action": "discover", "target": "wh"}, format="json").json()["id"]
        == first.json()["id"]
    )
    Action.objects.filter(pk=first.json()["id"]).update(state=Action.DONE)
    assert staff_client.post(URL, {"action": "discover", "target": "wh"}, format="json").status_code == 202


def test_a_failed_discovery_is_a_failed_action_with_its_reason(admin_token_client):
    SourceFactory(name="dead", dsn="postgresql://nobody:s3cret@127.0.0.1:1/x")
    action_id = admin_token_client.post(URL, {"action": "discover", "target": "dead"}, format="json").json()[
        "id"
    ]
    actions.perform(action_id)
    body = admin_token_client.get(f"{URL}/{action_id}").json()
    assert body["state"] == "failed"
    assert "discovery of source 'dead' failed" in body["outcome"]
    assert "s3cret" not in body["outcome"]
    assert body["run"]["status"] == "failed"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"action": "reboot"}, "action", "is not a valid choice"),
        ({"action": "discover", "target": "nope"}, "target", "no source 'nope'"),
        ({"action": "evaluate", "target": "x"}, "target", "evaluate takes no target"),
        ({"action": "refresh", "target": "raw.t"}, "target", "not an existing materialized view"),
        ({"action": "refresh", "target": "t"}, "target", "must be a registry object's id"),
        ({"action": "refresh", "target": 999999}, "target", "no registry object"),
    ],
)
def test_bad_requests_are_400_naming_the_problem(admin_token_client, body, field, message):
    RegistryObjectFactory(schema_name="raw", object_name="t", object_type="table")
    response = admin_token_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert not Action.objects.exists()


def test_an_ambiguous_name_asks_for_the_source(admin_token_client):
    for name in ("a", "b"):
        RegistryObjectFactory(
            source=SourceFactory(name=name), schema_name="mart", object_name="mv", object_type="matview"
        )
    response = admin_token_client.post(URL, {"action": "refresh", "target": "mart.mv"}, format="json")
    assert "as 'source:mart.mv'" in response.json()["target"][0]
    ok = admin_token_client.post(URL, {"action": "refresh", "target": "b:mart.mv"}, format="json")
    assert (ok.status_code, ok.json()["target"]) == (202, "b:mart.mv")


def test_a_request_for_a_retry_in_cooldown_runs_it_now(admin_token_client):
    obj = RegistryObjectFactory(schema_name="mart", object_name="mv", object_type="matview")
    waiting = Action.objects.create(
        kind="refresh",
        target=Action.object_target(obj),
        object=obj,
        source=obj.source,
        via=Action.CONTROL_LOOP,
        requested_by_name="control loop",
        not_before=timezone.now() + timedelta(minutes=10),
        attempt=2,
    )
    response = admin_token_client.post(URL, {"action": "refresh", "target": obj.pk}, format="json")
    assert (response.status_code, response.json()["id"]) == (200, waiting.pk)
    waiting.refresh_from_db()
    assert waiting.not_before is None and OrmQ.objects.count() == 1


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_admin_actions_queue_discovery_of_sources_and_refresh_of_views(admin_client):
    source = SourceFactory(name="wh")
    mv = RegistryObjectFactory(source=source, schema_name="mart", object_name="mv", object_type="matview")
    response = admin_client.post(
        "/admin/registry/source/", {"action": "discover_now", "_selected_action": [source.pk]}, follow=True
    )
    assert "Queued discover: #" in response.content.decode()
    admin_client.post(
        "/admin/registry/registryobject/", {"action": "refresh_now", "_selected_action": [mv.pk]}, follow=True
    )
    assert sorted(Action.objects.values_list("kind", "target", "via", "requested_by_name")) == [
        ("discover", "wh", "admin", "root"),
        ("refresh", "wh:mart.mv", "admin", "root"),
    ]
    assert not Schedule.objects.exists()  # run now, not scheduled


def test_the_action_audit_is_in_the_admin(admin_client):
    Action.objects.create(kind="evaluate", via=Action.API, requested_by_name="alice")
    page = admin_client.get("/admin/checks/action/").content.decode()
    assert "alice" in page and "evaluate" in page
