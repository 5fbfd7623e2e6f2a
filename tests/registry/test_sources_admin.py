"""Admin for sources: masked DSN in the list and the page, a password input never
rendered back, blank keeps the stored DSN, and the "test connection" action."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client

from registry.models import Source
from tests.registry.sources_helpers import PASSWORD, UNREACHABLE_DSN, make_source, server_dsn

CHANGELIST = "/admin/registry/source/"


@pytest.fixture
def admin_client(db) -> Client:
    user = get_user_model()._default_manager.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def form_data(**overrides) -> dict:
    data = {
        "name": "warehouse",
        "engine": "postgresql",
        "dsn": "",
        "include_schemas": "raw,mart",
        "exclude_schemas": "ops",
        "code_paths": "",
        "search_path": "",
        "is_active": "on",
    }
    return {**data, **overrides}


def test_changelist_shows_the_masked_dsn_only(admin_client):
    make_source()
    make_source(name="keyvalue", dsn=f"host=db user=etl password={PASSWORD} dbname=w")
    page = admin_client.get(CHANGELIST).content.decode()
    assert "postgresql://warehouse:***@127.0.0.1:1/warehouse" in page
    assert "password=***" in page
    assert PASSWORD not in page


def test_change_page_never_renders_the_dsn(admin_client):
    source = make_source()
    page = admin_client.get(f"{CHANGELIST}{source.pk}/change/").content.decode()
    assert 'type="password"' in page
    assert "postgresql://warehouse:***@127.0.0.1:1/warehouse" in page
    assert PASSWORD not in page


def test_saving_with_a_blank_dsn_keeps_the_stored_one(admin_client):
    source = make_source()
    response = admin_client.post(f"{CHANGELIST}{source.pk}/change/", form_data(exclude_schemas="ops,tmp"))
    assert response.status_code == 302, response.content.decode()[:2000]
    source.refresh_from_db()
    assert source.dsn == UNREACHABLE_DSN
    assert source.exclude_schemas == ["ops", "tmp"]


def test_saving_a_new_dsn_replaces_it(admin_client):
    source = make_source()
    new_dsn = f"postgresql://etl:{PASSWORD}-2@db.internal:5432/warehouse"
    response = admin_client.post(f"{CHANGELIST}{source.pk}/change/", form_data(dsn=new_dsn))
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.dsn == new_dsn


def test_adding_needs_a_dsn(admin_client):
    response = admin_client.post(f"{CHANGELIST}add/", form_data())
    assert response.status_code == 200
    assert "A DSN is required." in response.content.decode()
    assert not Source._default_manager.exists()


def test_adding_validates_with_field_messages_and_does_not_echo_the_dsn(admin_client):
    response = admin_client.post(
        f"{CHANGELIST}add/",
        form_data(dsn=f"garbage {PASSWORD}", include_schemas="ops", exclude_schemas="ops"),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Not a valid DSN" in page
    assert "Both included and excluded: ops." in page
    assert PASSWORD not in page
    assert not Source._default_manager.exists()


def test_adding_a_valid_source(admin_client):
    response = admin_client.post(f"{CHANGELIST}add/", form_data(dsn=UNREACHABLE_DSN))
    assert response.status_code == 302
    assert Source._default_manager.get(name="warehouse").include_schemas == ["raw", "mart"]


def test_test_connection_action_shows_each_result_as_a_message(admin_client):
    down = make_source(name="down")
    up = make_source(name="up", dsn=server_dsn())
    response = admin_client.post(
        CHANGELIST, {"action": "test_connection", "_selected_action": [down.pk, up.pk]}, follow=True
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(t.startswith("down: OperationalError:") for t in texts), texts
    assert any(t.startswith("up: ok, server ") for t in texts), texts
    assert PASSWORD not in response.content.decode()


def test_a_discovery_error_quoting_a_dsn_is_shown_masked(admin_client):
    source = make_source(last_discovery_error=f"could not connect with {UNREACHABLE_DSN}")
    page = admin_client.get(f"{CHANGELIST}{source.pk}/change/").content.decode()
    assert "could not connect with postgresql://warehouse:***@127.0.0.1:1/warehouse" in page
    assert PASSWORD not in page


def test_a_submitted_dsn_is_hidden_from_error_reports(admin_client):
    response = admin_client.post(f"{CHANGELIST}add/", form_data(dsn=UNREACHABLE_DSN))
    assert response.wsgi_request.sensitive_post_parameters == ("dsn",)
