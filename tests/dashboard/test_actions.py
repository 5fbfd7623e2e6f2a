"""Staff see action buttons (POST forms with CSRF); others neither see nor may use them."""

from __future__ import annotations

from django.test import Client

from checks.models import Evaluation


def test_staff_see_the_evaluate_button_and_viewers_do_not(staff, viewer, platform):
    assert 'action="/ops/health/actions/evaluate"' in staff.get("/ops/health").content.decode()
    assert 'action="/ops/health/actions/evaluate"' not in viewer.get("/ops/health").content.decode()


def test_evaluate_now_runs_an_evaluation_and_returns_to_the_page(staff, platform):
    before = Evaluation.objects.count()
    response = staff.post("/ops/health/actions/evaluate", {"next": "/ops/health?tab=checks"}, follow=True)
    assert Evaluation.objects.count() == before + 1
    assert response.redirect_chain == [("/ops/health?tab=checks", 302)]
    assert "Evaluated: ERROR" in response.content.decode()


def test_evaluate_now_never_redirects_off_site(staff, platform):
    response = staff.post("/ops/health/actions/evaluate", {"next": "https://evil.example/"})
    assert response["Location"] == "/ops/health"


def test_viewers_may_not_evaluate(viewer, platform):
    before = Evaluation.objects.count()
    assert viewer.post("/ops/health/actions/evaluate").status_code == 403
    assert Evaluation.objects.count() == before


def test_the_form_needs_its_csrf_token(staff_user, platform):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post("/ops/health/actions/evaluate").status_code == 403
    page = client.get("/ops/health").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert client.post("/ops/health/actions/evaluate", {"csrfmiddlewaretoken": token}).status_code == 302


def test_get_is_not_an_action(staff, platform):
    assert staff.get("/ops/health/actions/evaluate").status_code == 405
