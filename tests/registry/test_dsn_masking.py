"""A source's DSN is shown masked by parsing (libpq's quoting included) in every place
it appears: API responses, the admin and `source list`; a URL DSN with an unencoded `@`
in its password is refused everywhere it can be saved."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from registry.models import Source
from tests.registry.sources_helpers import make_source

SECRET = "S3cretPW"
QUOTED = {
    "escaped-quote": (r"host=db password='ab\'S3cretPW' user=etl", "user=etl password=*** host=db"),
    "escaped-space": (r"host=db password=abc\ S3cretPW user=etl", "user=etl password=*** host=db"),
}
AT_IN_PASSWORD = "postgresql://etl:p@S3cretPW@db.internal/w"


@pytest.fixture
def quoted_sources(db) -> dict[str, Source]:
    return {name: make_source(name=name, dsn=dsn) for name, (dsn, _) in QUOTED.items()}


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model()._default_manager.create_superuser("root", "r@example.com", "pw"))
    return client


def test_api_responses_mask_libpq_quoted_passwords(staff_client, quoted_sources):
    listing = staff_client.get("/api/v1/sources")
    assert SECRET not in listing.content.decode()
    shown = {row["name"]: row["dsn_display"] for row in listing.json()["results"]}
    assert shown == {name: masked for name, (_, masked) in QUOTED.items()}
    for source in quoted_sources.values():
        assert SECRET not in staff_client.get(f"/api/v1/sources/{source.pk}").content.decode()


def test_admin_pages_mask_libpq_quoted_passwords(admin_client, quoted_sources):
    changelist = admin_client.get("/admin/registry/source/").content.decode()
    assert SECRET not in changelist
    for name, source in quoted_sources.items():
        page = admin_client.get(f"/admin/registry/source/{source.pk}/change/").content.decode()
        assert SECRET not in page
        assert QUOTED[name][1] in page


def test_source_list_masks_libpq_quoted_passwords(quoted_sources):
    out = io.StringIO()
    call_command("source", "list", stdout=out)
    assert SECRET not in out.getvalue()
    for _, masked in QUOTED.values():
        assert masked in out.getvalue()


def test_api_refuses_a_url_with_an_unencoded_at_in_the_password(staff_client):
    response = staff_client.post("/api/v1/sources", {"name": "w", "dsn": AT_IN_PASSWORD}, format="json")
    assert response.status_code == 400
    assert "percent-encode it as %40" in response.json()["dsn"][0]
    assert SECRET not in response.content.decode()
    assert not Source._default_manager.exists()


def test_source_add_refuses_a_url_with_an_unencoded_at_in_the_password(db):
    with pytest.raises(CommandError, match="percent-encode it as %40") as exc:
        call_command("source", "add", "w", "--dsn", AT_IN_PASSWORD)
    assert SECRET not in str(exc.value)


def test_admin_refuses_a_url_with_an_unencoded_at_in_the_password(admin_client):
    data = {"name": "w", "engine": "postgresql", "dsn": AT_IN_PASSWORD, "is_active": "on"}
    data |= {"include_schemas": "", "exclude_schemas": "", "code_paths": "", "search_path": ""}
    page = admin_client.post("/admin/registry/source/add/", data).content.decode()
    assert "percent-encode it as %40" in page
    assert SECRET not in page
    assert not Source._default_manager.exists()
