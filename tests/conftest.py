"""Shared fixtures: personas (staff, viewer, tokens, anonymous) and API clients."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from ledger.models import ApiToken
from registry import links


@pytest.fixture(autouse=True)
def _forget_linked_keys():
    """Each test's rows are rolled back, link rows included: the process's memory of
    linked keys must go with them."""
    yield
    links._linked_keys.clear()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: throttle counts (common/throttle.py) and
    rendered responses of one test must not reach the next."""
    cache.clear()


def require_service(name: str, reason: str) -> None:
    """Skip when a machine service is absent, except in CI where it is required."""
    if os.environ.get("OPSHEALTH_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service {name} is unavailable: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user("staff", "staff@example.com", "pw", is_staff=True)


@pytest.fixture
def viewer_user(db):
    return get_user_model().objects.create_user("viewer", "viewer@example.com", "pw")


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def viewer_client(viewer_user):
    client = APIClient()
    client.force_login(viewer_user)
    return client


@pytest.fixture
def ingest_token(db):
    _, raw = ApiToken.issue("ingest-test", ApiToken.SCOPE_INGEST)
    return raw


@pytest.fixture
def read_token(db):
    _, raw = ApiToken.issue("read-test", ApiToken.SCOPE_READ)
    return raw


@pytest.fixture
def ingest_client(ingest_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_token}")
    return client


@pytest.fixture
def read_client(read_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_token}")
    return client


@pytest.fixture
def admin_token(db):
    _, raw = ApiToken.issue("admin-test", ApiToken.SCOPE_ADMIN)
    return raw


@pytest.fixture
def admin_token_client(admin_token):
    """An `admin`-scope token (pytest-django's `admin_client` is a superuser's session)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    return client
