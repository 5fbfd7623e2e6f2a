"""The admin and the API over a really discovered warehouse (tests/registry/conftest.py),
and overrides surviving the next discovery."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from registry.discovery import discover
from registry.models import OverrideAudit, RegistryObject

pytestmark = pytest.mark.django_db
API = "/api/v1/ops/source-registry"


def test_api_detail_of_a_discovered_view(viewer_client, wh_source):
    discover(wh_source)
    revenue = RegistryObject.objects.get(schema_name="mart", object_name="v_revenue")

    body = viewer_client.get(f"{API}/{revenue.pk}").json()

    assert body["source"] == "wh"
    assert body["object_type"] == "view"
    assert [c["name"] for c in body["columns"]] == ["name", "revenue"]
    assert [u["qualified_name"] for u in body["upstream"]] == ["mart.v_orders"]
    assert {d["qualified_name"] for d in body["downstream"]} == {"mart.v_top", "mart.daily_sales"}
    assert body["depends_on"] == ["mart.v_orders"]
    assert set(body["provenance"]) >= {"layer", "role", "criticality", "should_monitor"}


def test_admin_page_of_a_discovered_table_shows_keys(staff_user, wh_source):
    discover(wh_source)
    staff_user.user_permissions.add(*Permission.objects.filter(content_type__app_label="registry"))
    client = Client()
    client.force_login(staff_user)
    orders = RegistryObject.objects.get(schema_name="canon", object_name="orders")

    page = client.get(f"/admin/registry/registryobject/{orders.pk}/change/").content.decode()

    assert "order_id" in page
    assert "canon.customers.customer_id" in page  # the foreign key target
    assert "mart.v_orders" in page  # a downstream view, linked
    assert wh_source.dsn not in page


def test_api_override_survives_rediscovery(staff_client, wh_source):
    discover(wh_source)
    ltv = RegistryObject.objects.get(schema_name="mart", object_name="customer_ltv")

    response = staff_client.patch(
        f"{API}/{ltv.pk}", {"is_expected": True, "health_enabled": True}, format="json"
    )
    assert response.status_code == 200
    discover(wh_source)

    ltv.refresh_from_db()
    assert (ltv.is_expected, ltv.health_enabled, ltv.should_monitor) == (True, True, True)
    assert OverrideAudit.objects.filter(object=ltv, via="api").count() == 2
