"""The permission matrix: every endpoint and method of the API, for every persona.

Read, ingest and admin tokens, a non-staff and a staff session, and anonymous. A denied
request is a 403 (401 anonymous); an allowed one is anything else (a 400 for the empty
body, a 404 for the id that does not exist…). Ledger writes need an ingest token or a
staff session; other writes an admin token or a staff session; reads anyone signed in.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import EndpointEnumerator
from rest_framework.test import APIClient

from ledger.models import ApiToken

pytestmark = pytest.mark.django_db

INGEST = {"read": False, "ingest": True, "admin": False, "viewer": False, "staff": True}
ADMIN = {"read": False, "ingest": False, "admin": True, "viewer": False, "staff": True}
READ = {"read": True, "ingest": True, "admin": True, "viewer": True, "staff": True}
LEDGER_WRITES = {
    "/api/v1/ledger/runs",
    "/api/v1/ledger/runs/bulk",
    "/api/v1/ledger/watermarks",
    "/api/v1/ledger/check-results",
    "/api/v1/lineage",
    "/api/v1/lineage/batch",
}
# Writes that only read: resolving names changes nothing.
READ_WRITES = {("POST", "/api/v1/resolvers/simulate")}
# Reads kept to admins: actions and their retry policies are staff business.
ADMIN_READS = ("/api/v1/actions", "/api/v1/retry-policies")


def expected(method: str, path: str) -> dict[str, bool]:
    if method in ("GET", "HEAD", "OPTIONS"):
        return ADMIN if path.startswith(ADMIN_READS) else READ
    if (method, path) in READ_WRITES:
        return READ
    return INGEST if path in LEDGER_WRITES else ADMIN


def endpoints() -> list[tuple[str, str]]:
    found = set()
    for path, _regex, method, _view in EndpointEnumerator().get_api_endpoints():
        if path.startswith("/api/v1/") and path != "/api/v1/":
            path = path.rstrip("/").replace("{run_id}", "00000000-0000-0000-0000-000000000000")
            path = path.replace("{check_key}", "pipeline_run_failed")
            found.add((method, re.sub(r"\{[^}]+\}", "999999", path)))
    return sorted(found)


@pytest.fixture
def personas(db) -> dict[str, APIClient]:
    users = get_user_model().objects
    clients = {}
    for scope in ("read", "ingest", "admin"):
        client = APIClient()
        owner = users.create_user(f"{scope}-owner", is_staff=True)  # a token is judged by its scope alone
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(f'{scope}-m', scope, user=owner)[1]}")
        clients[scope] = client
    for name, staff in (("viewer", False), ("staff", True)):
        client = APIClient()
        client.force_login(users.create_user(f"{name}-m", is_staff=staff))
        clients[name] = client
    return clients


def test_the_matrix_covers_the_whole_api():
    assert len(endpoints()) > 40


def test_every_endpoint_and_method_for_every_persona(personas):
    wrong = []
    anonymous = APIClient()
    for method, path in endpoints():
        call = method.lower()
        status = getattr(anonymous, call)(path, {}, format="json").status_code
        if status != 401:
            wrong.append((method, path, "anonymous", status))
        for persona, allowed in expected(method, path).items():
            status = getattr(personas[persona], call)(path, {}, format="json").status_code
            if (status not in (401, 403)) != allowed:
                wrong.append((method, path, persona, status))
    assert wrong == []
