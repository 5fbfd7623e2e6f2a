"""One message-safe function: what the connection test hides, `source_unreachable`,
discovery's stored error and the API never show either."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg.conninfo import make_conninfo

from registry.discovery import DiscoveryError, discover
from registry.models import Source
from tests.checks.conftest import run_check
from tests.factories.registry import SourceFactory

pytestmark = pytest.mark.django_db
SECRET = "S3cret-PW-99"


def _dsn_with_the_password_as_database_name() -> str:
    # The test server trusts its user, so the connection reaches the server, which
    # answers: database "<the password>" does not exist.
    s = connection.settings_dict
    return make_conninfo(host=s["HOST"], port=str(s["PORT"]), user=s["USER"], password=SECRET, dbname=SECRET)


@pytest.mark.parametrize(
    "dsn",
    [
        _dsn_with_the_password_as_database_name,
        # in the environment, unchecked at save: libpq would quote the fragment
        lambda: f"host=127.0.0.1 port=1 password=abc {SECRET}",
        lambda: f"postgresql://etl:pw@{SECRET}@127.0.0.1:1/w",
    ],
    ids=["server-echoes-password", "malformed-key-value", "unencoded-at"],
)
def test_source_unreachable_shows_what_the_connection_test_shows(monkeypatch, dsn):
    monkeypatch.setenv("OPSHEALTH_TEST_SOURCE_DSN", dsn())
    source = SourceFactory(name="leaky", dsn="env:OPSHEALTH_TEST_SOURCE_DSN")
    tested = source.test_connection()
    [item] = run_check("source_unreachable").items
    assert not tested.ok and SECRET not in tested.message
    assert item.detail == {"error_class": tested.error_class, "error": tested.message}

    with pytest.raises(DiscoveryError) as exc:
        discover(source)
    source.refresh_from_db()
    assert SECRET not in str(exc.value) and SECRET not in source.last_discovery_error


def test_a_stored_discovery_error_is_made_safe_wherever_it_is_shown(staff_client):
    source = SourceFactory(
        name="legacy",
        dsn=f"postgresql://etl:{SECRET}@127.0.0.1:1/w",
        last_discovery_status="failed",
        # as an older discovery stored it: every line of the driver's message
        last_discovery_error=rf"cannot connect: host=db password=abc\ {SECRET} port=1",
    )
    Source._default_manager.filter(pk=source.pk).update(is_active=True)
    detail = staff_client.get(f"/api/v1/sources/{source.pk}").json()
    assert detail["last_discovery_error"] == "cannot connect: host=db password=***"
    items = run_check("source_unreachable").items
    assert SECRET not in str([i.detail for i in items])
