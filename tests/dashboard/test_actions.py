"""Staff see action buttons (POST forms with CSRF) that queue checks.actions for the task
cluster, as POST /api/v1/actions does; other users neither see nor may use them."""

from __future__ import annotations

import pytest
from django.test import Client

from checks import actions
from checks.models import Action, Evaluation

URL = "/ops/health/actions"


def test_staff_see_the_action_buttons_and_viewers_do_not(staff, viewer, platform):
    for path, action in [
        ("/ops/health", 'value="evaluate"'),
        ("/ops/health?tab=mv", 'value="refresh"'),
        (f"/ops/health/objects/{platform.matview.pk}", 'value="refresh"'),
        (f"/ops/health/objects/{platform.raw.pk}", 'value="discover"'),
    ]:
        assert action in staff.get(path).content.decode(), path
        assert f'action="{URL}"' not in viewer.get(path).content.decode(), path


def test_evaluate_now_queues_an_evaluation_and_returns_to_the_page(staff, staff_user, platform):
    response = staff.post(URL, {"action": "evaluate", "next": "/ops/health?tab=checks"}, follow=True)
    action = Action.objects.get(kind="evaluate")
    assert (action.state, action.requested_by, action.via) == (Action.QUEUED, staff_user, Action.ADMIN)
    assert response.redirect_chain == [("/ops/health?tab=checks", 302)]
    assert f"Queued: evaluate (action #{action.pk})" in response.content.decode()
    # What the task cluster then runs: an evaluation.
    before = Evaluation.objects.count()
    actions.perform(action.pk)
    assert Evaluation.objects.count() == before + 1


def test_refresh_names_its_materialized_view_and_is_not_queued_twice(staff, platform):
    for _ in range(2):
        response = staff.post(URL, {"action": "refresh", "target": platform.matview.pk}, follow=True)
    action = Action.objects.get(kind="refresh")
    assert action.object == platform.matview
    assert f"Already queued: refresh wh:mart.daily_events (action #{action.pk})" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "explode"}, "Not queued: unknown action &#x27;explode&#x27;"),
        ({"action": "refresh", "target": "raw.events"}, "is not an existing materialized view"),
    ],
)
def test_a_bad_action_is_refused_with_a_message(staff, platform, data, message):
    response = staff.post(URL, data, follow=True)
    assert message in response.content.decode()
    assert not Action.objects.exists()


def test_actions_never_redirect_off_site(staff, platform):
    response = staff.post(URL, {"action": "evaluate", "next": "https://evil.example/"})
    assert response["Location"] == "/ops/health"


def test_viewers_may_not_act(viewer, platform):
    assert viewer.post(URL, {"action": "evaluate"}).status_code == 403
    assert not Action.objects.exists()


def test_the_form_needs_its_csrf_token(staff_user, platform):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(URL, {"action": "evaluate"}).status_code == 403
    page = client.get("/ops/health").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert client.post(URL, {"action": "evaluate", "csrfmiddlewaretoken": token}).status_code == 302


def test_get_is_not_an_action(staff, platform):
    assert staff.get(URL).status_code == 405
