"""by_method: one URL, a view per HTTP method (read list on GET, ingestion on POST)."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.urls("tests.ledger.dispatch_urls")


def test_get_and_post_reach_their_views(staff_client, viewer_client):
    assert viewer_client.get("/dispatch/clients").json()["count"] == 0
    created = staff_client.post("/dispatch/clients/", {"name": "acme"}, format="json")
    assert created.status_code == 201
    assert viewer_client.get("/dispatch/clients").json()["results"][0]["name"] == "acme"
    # Each view keeps its own permissions.
    assert viewer_client.post("/dispatch/clients", {"name": "x"}, format="json").status_code == 403


def test_other_methods_are_405(staff_client):
    response = staff_client.delete("/dispatch/clients")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_session_post_with_csrf_enforced(staff_user):
    # A browser session must still pass DRF's own CSRF check: the wrapper is exempt from
    # the middleware only.
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/dispatch/clients", {"name": "acme"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
