"""API errors: 401 for anonymous callers, and a database error answered as
`{"detail": "database_error"}` with no SQL in the body and the traceback in the log.

The database errors are real: a relation the view reads is dropped inside the test's
transaction (rolled back with it), so PostgreSQL itself raises.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from registry.models import RegistryObject
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/ops/source-registry"


@pytest.mark.parametrize("path", ["/api/v1/sources/0.5", "/api/v1/nothing-here/", "/api/"])
def test_a_path_no_endpoint_takes_is_a_json_404_under_api(read_client, path):
    response = read_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_page_that_does_not_exist_is_still_an_html_404(read_client):
    response = read_client.get("/no-such-page")

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def drop(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)} CASCADE")


def assert_opaque_database_error(response, caplog, table: str) -> None:
    assert response.status_code == 500
    assert response.json() == {"detail": "database_error"}
    body = response.content.decode()
    for leak in (table, "SELECT", "UPDATE", "INSERT", "does not exist"):
        assert leak not in body
    (record,) = [r for r in caplog.records if r.name == "opshealth.api"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    # The full story stays server-side: exception class and the relation named.
    assert table in caplog.text
    assert "Traceback" in caplog.text


def test_anonymous_is_401_with_a_bearer_challenge(anon_client):
    response = anon_client.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_invalid_token_is_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer oh_not-a-real-token")

    assert anon_client.get(URL).status_code == 401


def test_database_error_on_read_returns_database_error_and_logs_traceback(viewer_client, caplog):
    obj = RegistryObjectFactory()
    drop("registry_column")  # the detail prefetches the object's columns

    with caplog.at_level(logging.ERROR, logger="opshealth.api"):
        response = viewer_client.get(f"{URL}/{obj.pk}")

    assert_opaque_database_error(response, caplog, "registry_column")


def test_database_error_on_write_changes_nothing(staff_client, caplog):
    obj = RegistryObjectFactory(is_expected=None)
    drop("registry_overrideaudit")

    with caplog.at_level(logging.ERROR, logger="opshealth.api"):
        response = staff_client.patch(f"{URL}/{obj.pk}", {"is_expected": True}, format="json")

    assert_opaque_database_error(response, caplog, "registry_overrideaudit")
    # The override's UPDATE was rolled back with the failed audit INSERT.
    assert RegistryObject.objects.get(pk=obj.pk).is_expected is None
