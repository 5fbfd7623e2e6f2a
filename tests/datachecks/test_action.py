"""The `data_check` action (`POST /api/v1/actions`): one check run now through the task
cluster (the task body `perform` is called as a worker would)."""

from __future__ import annotations

from checks import actions
from checks.datachecks.models import PIPELINE
from tests.factories.checks import DataCheckFactory


def test_the_data_check_action_runs_one_check_now(candles, admin_token_client):
    check = DataCheckFactory(object=candles, kind="unique", params={"columns": ["symbol", "day"]})
    response = admin_token_client.post(
        "/api/v1/actions", {"action": "data_check", "target": check.pk}, format="json"
    )
    assert response.status_code == 202, response.json()
    actions.perform(response.json()["id"])
    body = admin_token_client.get(f"/api/v1/actions/{response.json()['id']}").json()
    assert (body["state"], body["run"]["pipeline"]) == ("done", PIPELINE)
    assert body["outcome"].startswith("1 data check(s) on 1 object(s): 1 fail: 1 of 60 row(s) repeat")
    check.refresh_from_db()
    assert check.last_result.status == "fail"
    bad = admin_token_client.post(
        "/api/v1/actions", {"action": "data_check", "target": "nope"}, format="json"
    )
    assert bad.status_code == 400 and "no data check 'nope'" in str(bad.json())


def test_a_data_check_that_cannot_run_is_a_failed_action(candles, admin_token_client):
    check = DataCheckFactory(object=candles, kind="not_null", params={"column": "nope"})
    action_id = admin_token_client.post(
        "/api/v1/actions", {"action": "data_check", "target": str(check.pk)}, format="json"
    ).json()["id"]
    actions.perform(action_id)
    body = admin_token_client.get(f"/api/v1/actions/{action_id}").json()
    assert body["state"] == "failed" and 'column "nope" does not exist' in body["outcome"]
