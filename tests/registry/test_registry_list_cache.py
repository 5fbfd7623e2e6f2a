"""`/api/v1/ops/source-registry` pages are cached under the registry's state: a repeated
request is served without building the page, and any write to objects, sources or
dependencies (ORM, bulk, raw SQL) is seen by the next request."""

from __future__ import annotations

import pytest
from django.db import connection

from registry.models import ListVersion, RegistryObject, Source
from registry.queries import registry_state
from tests.factories.registry import DependencyFactory, RegistryObjectFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/ops/source-registry"


@pytest.fixture
def orders() -> RegistryObject:
    return RegistryObjectFactory(schema_name="canon", object_name="orders")


def row(client, name: str = "canon.orders") -> dict:
    response = client.get(URL, {"limit": 50})
    assert response.status_code == 200
    return next(r for r in response.json()["results"] if r["qualified_name"] == name)


def test_repeated_page_is_served_from_the_cache(viewer_client, orders, django_assert_num_queries):
    first = viewer_client.get(URL, {"limit": 50}).json()

    # session, user, the registry's state; nothing else
    with django_assert_num_queries(3):
        again = viewer_client.get(URL, {"limit": 50}).json()
    assert again == first


def test_orm_raw_and_bulk_writes_are_seen_by_the_next_request(viewer_client, orders):
    assert row(viewer_client)["notes"] == ""

    RegistryObject.objects.filter(pk=orders.pk).update(notes="queryset update")
    assert row(viewer_client)["notes"] == "queryset update"

    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_registryobject SET notes = 'raw sql' WHERE id = %s", [orders.pk])
    assert row(viewer_client)["notes"] == "raw sql"

    orders.notes = "bulk"
    RegistryObject.objects.bulk_update([orders], ["notes"])
    assert row(viewer_client)["notes"] == "bulk"


def test_dependency_and_source_changes_are_seen(viewer_client, orders):
    assert row(viewer_client)["depends_on"] == []

    DependencyFactory(
        upstream=RegistryObjectFactory(schema_name="raw", object_name="orders"), downstream=orders
    )
    assert row(viewer_client)["depends_on"] == ["raw.orders"]

    Source.objects.filter(pk=orders.source_id).update(name="renamed")
    assert row(viewer_client)["source"] == "renamed"

    RegistryObject.objects.filter(pk=orders.pk).delete()
    assert viewer_client.get(URL).json()["count"] == 1  # raw.orders remains


def test_staff_override_patch_is_seen_by_the_next_list(staff_client, viewer_client, orders):
    assert row(viewer_client)["overrides"] == {}

    response = staff_client.patch(f"{URL}/{orders.pk}", {"is_critical": True}, format="json")

    assert response.status_code == 200
    listed = row(viewer_client)
    assert listed["overrides"] == {"is_critical": True}
    assert listed["effective_critical"] is True


def test_state_changes_with_every_write_statement_and_not_on_reads(orders):
    before = registry_state()
    list(RegistryObject.objects.all())
    assert registry_state() == before

    RegistryObject.objects.filter(pk=orders.pk).update(notes="x")
    after_one = registry_state()
    RegistryObject.objects.filter(pk=orders.pk).update(notes="y")

    assert len({before, after_one, registry_state()}) == 3


def test_the_marker_is_a_model_whose_one_row_each_write_statement_bumps(orders):
    before = ListVersion.objects.get(pk=1).version

    RegistryObject.objects.filter(pk=orders.pk).update(notes="x")

    assert ListVersion.objects.get().version == before + 1
    assert registry_state().endswith(f".{before + 1}")


def test_pages_filters_and_invalid_filters(viewer_client, orders):
    RegistryObjectFactory(schema_name="mart", object_name="sales", criticality="critical")
    viewer_client.get(URL, {"limit": 50})

    critical = viewer_client.get(URL, {"criticality": "critical"}).json()
    assert [r["qualified_name"] for r in critical["results"]] == ["mart.sales"]
    assert viewer_client.get(URL, {"limit": 1, "offset": 1}).json()["results"][0]["qualified_name"] == (
        "mart.sales"
    )
    for _ in range(2):  # an error is never cached as a page
        assert viewer_client.get(URL, {"criticality": "urgent"}).status_code == 400


def test_media_types_are_cached_apart_and_the_browsable_api_still_renders(viewer_client, orders):
    compact = viewer_client.get(URL, {"limit": 50})
    indented = viewer_client.get(URL, {"limit": 50}, HTTP_ACCEPT="application/json; indent=2")
    html = viewer_client.get(URL, {"limit": 50}, HTTP_ACCEPT="text/html")

    assert compact["Content-Type"] == indented["Content-Type"] == "application/json"
    assert b"\n" not in compact.content and b'\n  "count"' in indented.content
    assert compact.json() == indented.json()
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    assert b"canon.orders" in html.content
    assert viewer_client.get(URL, {"limit": 50}).content == compact.content
