"""Data checks in the admin: their pages, the model's validation, file checks read-only,
and the inline on the registry object's page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from checks.datachecks.models import DataCheck
from tests.factories.checks import DataCheckFactory


@pytest.fixture
def admin_site(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_pages_render_and_list_the_checks(admin_site, candles):
    check = DataCheckFactory(object=candles, name="candles_rows")
    page = admin_site.get("/admin/checks/datacheck/")
    assert page.status_code == 200 and b"candles_rows" in page.content
    assert admin_site.get(f"/admin/checks/datacheck/{check.pk}/change/").status_code == 200
    assert admin_site.get("/admin/checks/datacheck/add/").status_code == 200


def test_adding_a_check_is_validated_by_the_model(admin_site, candles):
    form = {
        "object": candles.pk,
        "name": "bad",
        "kind": "not_null",
        "params": '{"colum": "close"}',
        "severity": "error",
        "schedule": "0 * * * *",
        "enabled": "on",
    }
    page = admin_site.post("/admin/checks/datacheck/add/", form)
    assert page.status_code == 200 and b"colum: unknown parameter of not_null." in page.content
    assert not DataCheck.objects.exists()
    form["params"] = '{"column": "close"}'
    assert admin_site.post("/admin/checks/datacheck/add/", form).status_code == 302
    assert DataCheck.objects.get().params == {"column": "close"}


def test_a_check_from_a_file_is_read_only(admin_site, candles):
    check = DataCheckFactory(
        object=candles, name="from_file", origin="file", file_path="demo/app/opshealth.yml"
    )
    page = admin_site.get(f"/admin/checks/datacheck/{check.pk}/change/")
    assert b'name="name"' not in page.content and b"demo/app/opshealth.yml" in page.content
    assert admin_site.post(f"/admin/checks/datacheck/{check.pk}/delete/", {"post": "yes"}).status_code == 403


def test_the_registry_object_page_lists_its_checks(admin_site, candles):
    DataCheckFactory(object=candles, name="candles_rows")
    page = admin_site.get(f"/admin/registry/registryobject/{candles.pk}/change/")
    assert page.status_code == 200 and b"candles_rows" in page.content and b"never run" in page.content
