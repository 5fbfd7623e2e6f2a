"""Throttling: failed token authentications (429 per client per minute) and failed admin
logins (per user name and client, for the lockout), counted in Django's cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

URL = "/api/v1/sources"


@pytest.fixture
def few_token_failures(settings):
    settings.OPSHEALTH_TOKEN_FAILURES_PER_MINUTE = 3


def get(token: str, address: str | None = "198.51.100.7"):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(URL)


def test_a_request_without_a_client_address_authenticates(read_token):
    # REMOTE_ADDR is optional in a WSGI environ; Django's META.get() then gives None.
    assert get(read_token, address=None).status_code == 200
    assert get("guess", address=None).status_code == 401


def test_failed_token_authentications_are_429_past_the_limit_for_that_client(few_token_failures, read_token):
    with time_machine.travel(timezone.now().replace(second=0, microsecond=0), tick=False):
        assert [get(f"guess-{i}").status_code for i in range(3)] == [401, 401, 401]
        refused = get(read_token)  # even a good token, until the minute ends
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) == 60
        assert "Too many failed token authentications" in refused.json()["detail"]
        assert get(read_token, address="203.0.113.9").status_code == 200
    with time_machine.travel(
        timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1), tick=False
    ):
        assert get(read_token).status_code == 200


def test_good_tokens_never_count(few_token_failures, read_token):
    assert {get(read_token).status_code for _ in range(10)} == {200}


def test_a_malformed_authorization_header_counts_as_a_failure(few_token_failures, read_token):
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    with time_machine.travel(timezone.now().replace(second=0, microsecond=0), tick=False):
        assert [client.get(URL).status_code for _ in range(4)] == [401, 401, 401, 429]


@pytest.fixture
def staff(db):
    return get_user_model()._default_manager.create_user(
        "ops", "ops@example.com", "right-password", is_staff=True
    )


def login(password: str, address: str = "198.51.100.7", username: str = "ops") -> Client:
    client = Client(REMOTE_ADDR=address)
    client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return client


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_admin_login_refuses_a_user_after_repeated_failures_from_one_address(settings, staff):
    settings.OPSHEALTH_LOGIN_FAILURES = 5
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            assert not logged_in(login("wrong"))
        client = Client(REMOTE_ADDR="198.51.100.7")
        page = client.post("/admin/login/", {"username": "ops", "password": "right-password"})
        assert "Too many failed logins for this user from your address: try again in 15 minute(s)." in (
            page.content.decode()
        )
        assert not logged_in(client)
        assert logged_in(login("right-password", address="203.0.113.9"))
    with time_machine.travel(start + timedelta(minutes=15), tick=False):
        assert logged_in(login("right-password"))


def test_admin_login_failures_of_one_user_do_not_lock_out_another(settings, staff):
    settings.OPSHEALTH_LOGIN_FAILURES = 2
    get_user_model()._default_manager.create_user("other", "o@example.com", "pw-other", is_staff=True)
    for _ in range(3):
        login("wrong")
    assert logged_in(login("pw-other", username="other"))
