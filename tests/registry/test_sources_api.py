"""`/api/v1/sources`: CRUD for staff, reads for everyone authenticated, connection tests,
and the DSN's password never leaving the server."""

from __future__ import annotations

import json
import logging
import socket
import threading

import pytest
from django.test import override_settings

from registry.models import Source
from tests.conftest import require_service
from tests.registry.sources_helpers import (
    PASSWORD,
    UNREACHABLE_DSN,
    make_source,
    postgresql_15_listening,
    server_dsn,
)

URL = "/api/v1/sources"


def detail(source: Source) -> str:
    return f"{URL}/{source.pk}"


def valid_payload(**overrides) -> dict:
    payload = {
        "name": "warehouse",
        "engine": "postgresql",
        "dsn": UNREACHABLE_DSN,
        "include_schemas": ["raw", "mart"],
        "exclude_schemas": ["ops"],
        "code_paths": [],
        "search_path": ["mart", "public"],
    }
    return {**payload, **overrides}


def test_anonymous_gets_401(anon_client, db):
    assert anon_client.get(URL).status_code == 401


def test_viewer_reads_but_cannot_write(viewer_client):
    source = make_source()
    assert viewer_client.get(URL).status_code == 200
    assert viewer_client.get(detail(source)).status_code == 200
    assert viewer_client.post(URL, valid_payload(name="other"), format="json").status_code == 403
    assert viewer_client.patch(detail(source), {"is_active": False}, format="json").status_code == 403
    assert viewer_client.delete(detail(source)).status_code == 403
    assert viewer_client.post(f"{detail(source)}/test").status_code == 403


def test_read_token_lists_sources(read_client):
    make_source()
    response = read_client.get(URL)
    assert response.status_code == 200
    assert [s["name"] for s in response.json()["results"]] == ["warehouse"]


def test_staff_creates_a_source_and_the_response_has_the_documented_shape(staff_client):
    response = staff_client.post(URL, valid_payload(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "engine",
        "dsn_display",
        "include_schemas",
        "exclude_schemas",
        "code_paths",
        "search_path",
        "is_active",
        "last_discovery_at",
        "last_discovery_status",
        "last_discovery_error",
        "server_version",
        "warnings",
        "created_at",
        "updated_at",
    }
    assert body["dsn_display"] == "postgresql://warehouse:***@127.0.0.1:1/warehouse"
    assert body["last_discovery_status"] == "never"
    assert body["warnings"] == []
    assert Source._default_manager.get(name="warehouse").dsn == UNREACHABLE_DSN


def test_password_never_appears_in_create_list_or_detail_responses(staff_client):
    created = staff_client.post(URL, valid_payload(), format="json")
    source = Source._default_manager.get(name="warehouse")
    key_value = make_source(name="keyvalue", dsn=f"host=db.internal user=etl password={PASSWORD} dbname=w")
    for response in (
        created,
        staff_client.get(URL),
        staff_client.get(detail(source)),
        staff_client.get(detail(key_value)),
        staff_client.patch(detail(source), {"is_active": False}, format="json"),
    ):
        assert response.status_code in (200, 201)
        assert PASSWORD not in response.content.decode()
        assert "dsn" not in response.json().get("results", [response.json()])[0]
    assert staff_client.get(detail(key_value)).json()["dsn_display"] == (
        "user=etl password=*** dbname=w host=db.internal"
    )


def test_env_dsn_is_shown_as_is(staff_client):
    response = staff_client.post(URL, valid_payload(dsn="env:WAREHOUSE_DSN"), format="json")
    assert response.status_code == 201
    assert response.json()["dsn_display"] == "env:WAREHOUSE_DSN"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "not a slug!"}, "name"),
        ({"engine": "oracle"}, "engine"),
        ({"dsn": f"this is not a dsn {PASSWORD}"}, "dsn"),
        ({"dsn": f"postgresql://u:{PASSWORD}@[bad"}, "dsn"),
        ({"dsn": f"postgresql://u:{PASSWORD}@host:notaport/db"}, "dsn"),
        ({"dsn": "env:1NOT-A-VARIABLE"}, "dsn"),
        ({"dsn": ""}, "dsn"),
        ({"include_schemas": ["raw", ""]}, "include_schemas"),
        ({"include_schemas": ["raw", "ops"], "exclude_schemas": ["ops"]}, "exclude_schemas"),
        ({"search_path": [""]}, "search_path"),
        ({"code_paths": "demo/app"}, "code_paths"),
    ],
)
def test_bad_input_is_a_400_with_a_field_message_that_never_echoes_the_dsn(staff_client, overrides, field):
    response = staff_client.post(URL, valid_payload(**overrides), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert PASSWORD not in response.content.decode()
    assert not Source._default_manager.exists()


def test_a_dsn_is_required_on_create(staff_client):
    payload = valid_payload()
    del payload["dsn"]
    response = staff_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json() == {"dsn": ["This field is required."]}


def test_duplicate_name_is_a_400(staff_client):
    make_source()
    response = staff_client.post(URL, valid_payload(), format="json")
    assert response.status_code == 400
    assert "name" in response.json()


def test_patch_without_dsn_keeps_the_stored_one(staff_client):
    source = make_source()
    response = staff_client.patch(detail(source), {"exclude_schemas": ["ops", "tmp"]}, format="json")
    assert response.status_code == 200
    source.refresh_from_db()
    assert source.dsn == UNREACHABLE_DSN
    assert source.exclude_schemas == ["ops", "tmp"]


def test_patch_is_validated_against_the_stored_values(staff_client):
    source = make_source(exclude_schemas=["ops"])
    response = staff_client.patch(detail(source), {"include_schemas": ["ops"]}, format="json")
    assert response.status_code == 400
    assert "exclude_schemas" in response.json()


def test_missing_code_path_is_accepted_and_reported_as_a_warning(staff_client, tmp_path):
    response = staff_client.post(URL, valid_payload(code_paths=[str(tmp_path), "no/such/dir"]), format="json")
    assert response.status_code == 201
    assert response.json()["warnings"] == ["code path 'no/such/dir' does not exist on this server"]


def test_staff_deletes_a_source(staff_client):
    source = make_source()
    assert staff_client.delete(detail(source)).status_code == 204
    assert not Source._default_manager.exists()


def test_filters_search_and_invalid_filter(staff_client):
    make_source(name="alpha")
    make_source(name="beta", is_active=False)
    assert [s["name"] for s in staff_client.get(URL, {"is_active": "false"}).json()["results"]] == ["beta"]
    assert [s["name"] for s in staff_client.get(URL, {"search": "alp"}).json()["results"]] == ["alpha"]
    assert staff_client.get(URL, {"last_discovery_status": "bogus"}).status_code == 400


def test_list_is_a_constant_number_of_queries(read_client, django_assert_num_queries):
    for i in range(5):
        make_source(name=f"source-{i}")
    # token lookup, token last_used_at update, COUNT for the page, the page itself
    with django_assert_num_queries(4):
        response = read_client.get(URL)
    assert response.json()["count"] == 5


def test_connection_test_of_an_unreachable_source_is_a_200_with_ok_false_and_no_secret(staff_client, caplog):
    source = make_source()
    with caplog.at_level(logging.DEBUG):
        response = staff_client.post(f"{detail(source)}/test")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ok", "error_class", "message", "server_version", "latency_ms"}
    assert body["ok"] is False
    assert body["error_class"] == "OperationalError"
    assert "refused" in body["message"].lower()
    assert PASSWORD not in json.dumps(body)
    assert UNREACHABLE_DSN not in json.dumps(body)
    assert "connection test of source warehouse: failed" in caplog.text
    assert PASSWORD not in caplog.text


def test_connection_test_of_a_reachable_source_reports_the_server_version(staff_client):
    source = make_source(dsn=server_dsn())
    body = staff_client.post(f"{detail(source)}/test").json()
    assert body["ok"] is True
    assert body["error_class"] == ""
    assert body["server_version"].split(".")[0].isdigit()
    assert body["latency_ms"] >= 0
    source.refresh_from_db()
    assert source.server_version == body["server_version"]


def test_connection_test_of_an_unset_env_dsn_says_which_variable(staff_client, monkeypatch):
    monkeypatch.delenv("OPSHEALTH_TEST_UNSET_DSN", raising=False)
    source = make_source(dsn="env:OPSHEALTH_TEST_UNSET_DSN")
    body = staff_client.post(f"{detail(source)}/test").json()
    assert body["ok"] is False
    assert "OPSHEALTH_TEST_UNSET_DSN" in body["message"]


def test_connection_test_of_an_env_dsn_reads_the_environment(staff_client, monkeypatch):
    monkeypatch.setenv("OPSHEALTH_TEST_DSN", server_dsn())
    source = make_source(dsn="env:OPSHEALTH_TEST_DSN")
    assert staff_client.post(f"{detail(source)}/test").json()["ok"] is True


@override_settings(OPSHEALTH_CONNECT_TIMEOUT_S=2)
def test_connection_test_gives_up_after_the_connect_timeout(staff_client):
    # A server that accepts TCP connections and never answers: only the timeout ends
    # the attempt (libpq's minimum connect_timeout is 2 s).
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        accepted: list[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
        thread.start()
        source = make_source(dsn=f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/db?sslmode=disable")
        body = staff_client.post(f"{detail(source)}/test").json()
        for conn in accepted:
            conn.close()
    assert body["ok"] is False
    assert "timeout" in body["message"].lower()
    assert 1500 <= body["latency_ms"] < 10000
    assert PASSWORD not in json.dumps(body)


@pytest.mark.services
def test_connection_test_against_the_machines_postgresql_15(staff_client):
    if not postgresql_15_listening():
        require_service("postgresql15", "nothing listens on 127.0.0.1:5432")
    source = make_source(dsn="postgresql://postgres@127.0.0.1:5432/postgres")
    body = staff_client.post(f"{detail(source)}/test").json()
    assert body["ok"] is True, body
    assert body["server_version"].startswith("15.")


def test_openapi_schema_documents_the_source_endpoints(staff_client):
    response = staff_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/sources/", "/api/v1/sources/{id}/", "/api/v1/sources/{id}/test/"} <= set(paths)
    test_response = paths["/api/v1/sources/{id}/test/"]["post"]["responses"]["200"]
    assert "ConnectionTest" in json.dumps(test_response)


def test_the_trailing_slash_is_optional(staff_client):
    source = make_source()
    assert staff_client.get(f"{URL}/").status_code == 200
    assert staff_client.get(f"{detail(source)}/").status_code == 200
    assert staff_client.post(f"{detail(source)}/test/").status_code == 200
    assert staff_client.post(f"{URL}/", valid_payload(name="other"), format="json").status_code == 201
