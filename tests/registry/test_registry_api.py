"""`/api/v1/ops/source-registry`: the seed's contract, filters, detail, audited PATCH."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ledger.models import ApiToken
from registry.models import OverrideAudit, RegistryObject
from tests.factories.registry import (
    CodeUsageFactory,
    ColumnFactory,
    DependencyFactory,
    RegistryObjectFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/ops/source-registry"

# The seed's SourceRegistryRow fields: a public contract, kept stable.
SEED_FIELDS = {
    "schema_name",
    "object_name",
    "object_type",
    "layer",
    "role",
    "criticality",
    "should_monitor",
    "health_enabled",
    "is_expected",
    "is_critical",
    "description",
    "usage_context",
    "refresh_schedule",
    "depends_on",
    "notes",
    "discovered_at",
    "last_verified_at",
    "created_at",
    "updated_at",
}


def names(response) -> list[str]:
    return [row["qualified_name"] for row in response.json()["results"]]


def test_list_is_paginated_with_the_seed_fields(viewer_client):
    RegistryObjectFactory.create_batch(3)

    response = viewer_client.get(URL, {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]
    assert set(body["results"][0]) >= SEED_FIELDS


def test_list_shows_effective_description_and_dependencies(viewer_client):
    raw = RegistryObjectFactory(schema_name="raw", object_name="orders")
    view = RegistryObjectFactory(
        schema_name="mart", object_name="daily", db_comment="from the db", description="my words"
    )
    DependencyFactory(upstream=raw, downstream=view)

    row = next(r for r in viewer_client.get(URL).json()["results"] if r["id"] == view.pk)

    assert row["description"] == "my words"
    assert row["db_comment"] == "from the db"
    assert row["depends_on"] == ["raw.orders"]
    assert row["overrides"] == {"description": "my words"}


def test_read_token_can_list(read_client):
    RegistryObjectFactory()

    assert read_client.get(URL).status_code == 200


def test_anonymous_gets_401(anon_client):
    response = anon_client.get(URL)

    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"schema_name": "raw"}, ["raw.events"]),
        ({"object_type": "matview"}, ["mart.mv_sales"]),
        ({"layer": "MV"}, ["mart.mv_sales"]),
        ({"role": "PRIMARY"}, ["raw.events"]),
        ({"criticality": "critical"}, ["mart.mv_sales"]),
        ({"should_monitor": "true"}, ["mart.mv_sales"]),
        ({"health_enabled": "false"}, ["mart.report"]),
        ({"health_enabled": "null"}, ["mart.mv_sales", "raw.events"]),
        ({"exists_in_db": "false"}, ["mart.report"]),
        ({"needs_review": "true"}, ["raw.events"]),
        ({"has_override": "true"}, ["mart.report"]),
        ({"source": "other"}, ["raw.events"]),
        ({"search": "revenue"}, ["mart.mv_sales"]),
        ({"search": "EVENTS"}, ["raw.events"]),
    ],
)
def test_filters_and_search(viewer_client, params, expected):
    other = SourceFactory(name="other")
    RegistryObjectFactory(
        source=other,
        schema_name="raw",
        object_name="events",
        layer="RAW",
        role="PRIMARY",
        needs_review=True,
    )
    RegistryObjectFactory(
        schema_name="mart",
        object_name="mv_sales",
        object_type="matview",
        layer="MV",
        criticality="critical",
        should_monitor=True,
        db_comment="daily revenue",
    )
    RegistryObjectFactory(schema_name="mart", object_name="report", health_enabled=False, exists_in_db=False)

    response = viewer_client.get(URL, {**params, "ordering": "schema_name,object_name"})

    assert response.status_code == 200, response.json()
    assert names(response) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"should_monitor": "maybe"}, "should_monitor"),
        ({"health_enabled": "sometimes"}, "health_enabled"),
        ({"criticality": "urgent"}, "criticality"),
        ({"layer": "GOLD"}, "layer"),
        ({"object_type": "index"}, "object_type"),
        ({"source": "no-such-source"}, "source"),
    ],
)
def test_invalid_filter_value_is_a_400_naming_the_field(viewer_client, params, field):
    response = viewer_client.get(URL, params)

    assert response.status_code == 400
    assert field in response.json()


def test_ordering(viewer_client):
    for name, rows in (("small", 10), ("big", 1000), ("mid", 100)):
        RegistryObjectFactory(object_name=name, estimated_rows=rows)

    response = viewer_client.get(URL, {"ordering": "-estimated_rows"})

    assert names(response) == ["mart.big", "mart.mid", "mart.small"]


def test_list_query_count_is_constant(viewer_client, django_assert_num_queries):
    def fill(n: int) -> None:
        for obj in RegistryObjectFactory.create_batch(n):
            DependencyFactory(upstream=RegistryObjectFactory(source=obj.source), downstream=obj)

    # session, user, the registry's state (cache key), the count per source, the page's
    # ids (one UNION ALL of index scans, one per source the page spans: here every object
    # has a source of its own), the page with its source (JOIN), the upstream edges with
    # their objects (one prefetch query)
    fill(5)
    with django_assert_num_queries(7):
        assert viewer_client.get(URL, {"limit": 50}).status_code == 200
    fill(45)
    with django_assert_num_queries(7):
        response = viewer_client.get(URL, {"limit": 50})
    assert len(response.json()["results"]) == 50


def test_detail_has_columns_lineage_usages_provenance_and_audit(viewer_client, staff_user):
    raw = RegistryObjectFactory(schema_name="raw", object_name="orders")
    obj = RegistryObjectFactory(
        schema_name="canon",
        object_name="orders",
        object_type="view",
        provenance={"layer": {"rule": "schema canon", "evidence": "schema_name = canon"}},
    )
    mart = RegistryObjectFactory(schema_name="mart", object_name="sales")
    DependencyFactory(upstream=raw, downstream=obj)
    DependencyFactory(upstream=obj, downstream=mart)
    ColumnFactory(object=obj, name="order_id", position=1, data_type="bigint", is_primary_key=True)
    ColumnFactory(object=obj, name="customer_id", position=2, fk_target="canon.customers.id")
    CodeUsageFactory(object=obj, file="api/orders.py", line=42, context="endpoint", route="GET /orders")
    OverrideAudit.objects.create(object=obj, field="notes", new_value="x", changed_by=staff_user, via="admin")

    body = viewer_client.get(f"{URL}/{obj.pk}").json()

    assert [c["name"] for c in body["columns"]] == ["order_id", "customer_id"]
    assert body["columns"][0]["is_primary_key"] is True
    assert body["columns"][1]["fk_target"] == "canon.customers.id"
    assert [u["qualified_name"] for u in body["upstream"]] == ["raw.orders"]
    assert [d["qualified_name"] for d in body["downstream"]] == ["mart.sales"]
    assert body["usages"] == [
        {
            "raw_name": "canon.orders",
            "code_path": "app",
            "file": "api/orders.py",
            "line": 42,
            "kind": "read",
            "context": "endpoint",
            "route": "GET /orders",
            "function": "",
            "columns": [],
            "evidence": "",
        }
    ]
    assert body["column_usages"] == []
    assert body["provenance"]["layer"]["rule"] == "schema canon"
    assert body["audit"][0]["field"] == "notes"
    assert body["audit"][0]["changed_by_name"] == ""


def test_detail_of_unknown_object_is_404(viewer_client):
    assert viewer_client.get(f"{URL}/999999").status_code == 404


def test_staff_patch_changes_overrides_audited_via_api(staff_client, staff_user):
    obj = RegistryObjectFactory(criticality="normal", health_enabled=None, should_monitor=False)

    response = staff_client.patch(
        f"{URL}/{obj.pk}", {"health_enabled": True, "notes": "watch it"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["health_enabled"], body["notes"], body["should_monitor"]) == (True, "watch it", True)
    assert {a["field"] for a in body["audit"]} == {"health_enabled", "notes"}
    audits = OverrideAudit.objects.filter(object=obj)
    assert {(a.field, a.via, a.changed_by_id) for a in audits} == {
        ("health_enabled", "api", staff_user.pk),
        ("notes", "api", staff_user.pk),
    }


def test_patch_of_a_duration_override(staff_client):
    obj = RegistryObjectFactory()

    response = staff_client.patch(f"{URL}/{obj.pk}", {"refresh_schedule": "06:00:00"}, format="json")

    assert response.status_code == 200
    assert response.json()["refresh_schedule"] == "06:00:00"
    assert OverrideAudit.objects.get(object=obj).new_value == "06:00:00"


@pytest.mark.parametrize(
    ("text", "stored"), [("2 hours", "02:00:00"), ("90m", "01:30:00"), ("P1D", "1 00:00:00")]
)
def test_duration_overrides_take_the_common_syntax(staff_client, text, stored):
    obj = RegistryObjectFactory()

    response = staff_client.patch(f"{URL}/{obj.pk}", {"max_staleness": text}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["max_staleness"] == stored


@pytest.mark.parametrize("bad", ["-1 days", "0m", "3600", "soon"])
def test_a_bad_duration_override_is_a_400_naming_the_field(staff_client, bad):
    obj = RegistryObjectFactory()

    response = staff_client.patch(f"{URL}/{obj.pk}", {"max_staleness": bad}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["max_staleness"]
    assert RegistryObject.objects.get(pk=obj.pk).max_staleness is None


def test_admin_token_changes_overrides(admin_token_client):
    obj = RegistryObjectFactory()

    response = admin_token_client.patch(f"{URL}/{obj.pk}", {"notes": "by the admin token"}, format="json")

    assert response.status_code == 200
    assert OverrideAudit.objects.get(object=obj).changed_by_name == "token:admin-test"


def test_patch_with_non_override_fields_is_a_400_naming_them(staff_client):
    obj = RegistryObjectFactory(layer="RAW")

    response = staff_client.patch(
        f"{URL}/{obj.pk}", {"layer": "MV", "criticality": "critical", "notes": "x"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"layer", "criticality"}
    obj.refresh_from_db()
    assert (obj.layer, obj.notes) == ("RAW", "")
    assert not OverrideAudit.objects.exists()


def test_patch_with_a_bad_value_is_a_400(staff_client):
    obj = RegistryObjectFactory()

    response = staff_client.patch(f"{URL}/{obj.pk}", {"is_expected": "perhaps"}, format="json")

    assert response.status_code == 400
    assert "is_expected" in response.json()


def test_non_staff_patch_is_403(viewer_client, read_client, ingest_client, staff_user):
    obj = RegistryObjectFactory()
    staff_ingest = APIClient()
    staff_ingest.credentials(
        HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue('staff-ingest', ApiToken.SCOPE_INGEST, user=staff_user)[1]}"
    )

    for client in (viewer_client, read_client, ingest_client, staff_ingest):
        assert client.patch(f"{URL}/{obj.pk}", {"notes": "x"}, format="json").status_code == 403
    assert not OverrideAudit.objects.exists()


def test_anonymous_patch_is_401(anon_client):
    obj = RegistryObjectFactory()

    assert anon_client.patch(f"{URL}/{obj.pk}", {"notes": "x"}, format="json").status_code == 401
    assert RegistryObject.objects.get(pk=obj.pk).notes == ""


def test_put_and_delete_are_not_allowed(staff_client):
    obj = RegistryObjectFactory()

    assert staff_client.put(f"{URL}/{obj.pk}", {"notes": "x"}, format="json").status_code == 405
    assert staff_client.delete(f"{URL}/{obj.pk}").status_code == 405


def test_no_dsn_in_responses(staff_client):
    obj = RegistryObjectFactory()

    for response in (staff_client.get(URL), staff_client.get(f"{URL}/{obj.pk}")):
        assert "s3cr3t-pw" not in response.content.decode()
        assert "postgresql://" not in response.content.decode()


def test_patch_with_a_staff_users_token_is_audited_with_user_and_token(staff_user):
    _, raw = ApiToken.issue("ops-laptop", ApiToken.SCOPE_ADMIN, user=staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    obj = RegistryObjectFactory()

    response = client.patch(f"{URL}/{obj.pk}", {"is_critical": False}, format="json")

    assert response.status_code == 200
    audit = OverrideAudit.objects.get(object=obj)
    assert (audit.changed_by, audit.changed_by_name, audit.via) == (
        staff_user,
        "staff (token:ops-laptop)",
        "api",
    )
    assert raw not in response.content.decode()
