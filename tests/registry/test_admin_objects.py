"""The registry object admin, driven through Django's test client as a staff user."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from registry.models import AssetLink, OverrideAudit, RegistryObject, SchemaChange
from tests.factories.ledger import CheckResultFactory, RunAssetFactory
from tests.factories.registry import (
    CodeUsageFactory,
    ColumnFactory,
    DependencyFactory,
    RegistryObjectFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db
LIST = "/admin/registry/registryobject/"


def change_url(obj: RegistryObject) -> str:
    return f"{LIST}{obj.pk}/change/"


@pytest.fixture
def admin_client(staff_user) -> Client:
    """A staff member with the registry permissions an operator is given."""
    staff_user.user_permissions.add(*Permission.objects.filter(content_type__app_label="registry"))
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def warehouse():
    demo = SourceFactory(name="demo")
    other = SourceFactory(name="other")
    return {
        "orders": RegistryObjectFactory(
            source=demo, schema_name="raw", object_name="orders", layer="RAW", db_comment="orders as loaded"
        ),
        "sales": RegistryObjectFactory(
            source=demo,
            schema_name="mart",
            object_name="mv_sales",
            object_type="matview",
            layer="MV",
            criticality="critical",
            should_monitor=True,
        ),
        "gone": RegistryObjectFactory(
            source=other, schema_name="mart", object_name="old_report", exists_in_db=False, is_expected=True
        ),
        "flagged": RegistryObjectFactory(
            source=other, schema_name="canon", object_name="customers", needs_review=True, is_expected=False
        ),
    }


def listed(response) -> set[str]:
    return {obj.qualified_name for obj in response.context["cl"].result_list}


def test_list_renders_with_columns_and_filters(admin_client, warehouse):
    response = admin_client.get(LIST)

    assert response.status_code == 200
    assert listed(response) == {"raw.orders", "mart.mv_sales", "mart.old_report", "canon.customers"}
    page = response.content.decode()
    for heading in (
        "qualified name",
        "Layer",
        "Criticality",
        "overrides",
        "Needs review",
        "Last verified at",
    ):
        assert heading.lower() in page.lower()
    assert "has override" in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source__id__exact": "demo"}, {"raw.orders", "mart.mv_sales"}),
        ({"schema_name": "mart"}, {"mart.mv_sales", "mart.old_report"}),
        ({"object_type__exact": "matview"}, {"mart.mv_sales"}),
        ({"layer__exact": "RAW"}, {"raw.orders"}),
        ({"criticality__exact": "critical"}, {"mart.mv_sales"}),
        ({"should_monitor__exact": "1"}, {"mart.mv_sales"}),
        ({"exists_in_db__exact": "0"}, {"mart.old_report"}),
        ({"needs_review__exact": "1"}, {"canon.customers"}),
        ({"has_override": "yes"}, {"mart.old_report", "canon.customers"}),
        ({"has_override": "no"}, {"raw.orders", "mart.mv_sales"}),
        ({"q": "loaded"}, {"raw.orders"}),
        ({"q": "mv_sales"}, {"mart.mv_sales"}),
    ],
)
def test_list_filters_and_search(admin_client, warehouse, params, expected):
    if "source__id__exact" in params:
        params = {"source__id__exact": warehouse["orders"].source_id}

    response = admin_client.get(LIST, params)

    assert response.status_code == 200
    assert listed(response) == expected


def test_list_query_count_does_not_grow_with_rows(admin_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    RegistryObjectFactory.create_batch(3)
    few = queries()
    RegistryObjectFactory.create_batch(40)

    # The page is one query with its source joined (list_select_related), whatever its size.
    assert queries() == few


def formset_post(objects: list[RegistryObject], **values) -> dict:
    """The changelist's list_editable formset, as the browser posts it."""
    data = {
        "form-TOTAL_FORMS": str(len(objects)),
        "form-INITIAL_FORMS": str(len(objects)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, obj in enumerate(objects):
        data[f"form-{i}-id"] = str(obj.pk)
        for field in ("health_enabled", "is_expected", "is_critical"):
            current = getattr(obj, field)
            data[f"form-{i}-{field}"] = {None: "unknown", True: "true", False: "false"}[current]
        for field, value in values.get(obj.object_name, {}).items():
            data[f"form-{i}-{field}"] = value
    return data


def test_list_editable_save_is_audited_with_the_user(admin_client, staff_user, warehouse):
    page = admin_client.get(LIST).context["cl"].result_list
    objects = list(page)

    response = admin_client.post(LIST, formset_post(objects, orders={"health_enabled": "true"}))

    assert response.status_code == 302
    orders = RegistryObject.objects.get(pk=warehouse["orders"].pk)
    assert orders.health_enabled is True
    assert orders.should_monitor is True
    (audit,) = OverrideAudit.objects.all()
    assert (audit.object_id, audit.field, audit.old_value, audit.new_value) == (
        orders.pk,
        "health_enabled",
        None,
        "true",
    )
    assert (audit.changed_by, audit.via) == (staff_user, "admin")


@pytest.mark.parametrize(
    ("action", "field", "value"),
    [
        ("mark_expected", "is_expected", True),
        ("mark_critical", "is_critical", True),
        ("enable_health", "health_enabled", True),
    ],
)
def test_bulk_action_sets_the_override_and_audits_each_change(
    admin_client, staff_user, warehouse, action, field, value
):
    selected = [warehouse["orders"], warehouse["sales"]]

    response = admin_client.post(LIST, {"action": action, "_selected_action": [o.pk for o in selected]})

    assert response.status_code == 302
    for obj in selected:
        assert getattr(RegistryObject.objects.get(pk=obj.pk), field) is value
    audits = OverrideAudit.objects.filter(field=field)
    assert {a.object_id for a in audits} == {o.pk for o in selected}
    assert {(a.changed_by_id, a.via) for a in audits} == {(staff_user.pk, "admin")}
    assert not OverrideAudit.objects.exclude(object__in=selected).exists()  # unselected untouched


def test_bulk_clear_overrides_is_audited_and_keeps_notes(admin_client, warehouse):
    gone = warehouse["gone"]
    RegistryObject.objects.filter(pk=gone.pk).update(notes="why", max_staleness="1 day")

    admin_client.post(LIST, {"action": "clear_overrides", "_selected_action": [gone.pk]})

    gone.refresh_from_db()
    assert (gone.is_expected, gone.max_staleness, gone.notes) == (None, None, "why")
    assert set(OverrideAudit.objects.filter(object=gone).values_list("field", flat=True)) == {
        "is_expected",
        "max_staleness",
    }


def test_bulk_mark_reviewed_clears_the_flag_and_is_audited(admin_client, staff_user, warehouse):
    flagged = warehouse["flagged"]

    admin_client.post(
        LIST, {"action": "mark_reviewed", "_selected_action": [flagged.pk, warehouse["orders"].pk]}
    )

    flagged.refresh_from_db()
    assert (flagged.needs_review, flagged.is_expected) == (False, False)
    (audit,) = OverrideAudit.objects.all()
    assert (audit.object_id, audit.field, audit.changed_by) == (flagged.pk, "needs_review", staff_user)


def test_detail_page_shows_columns_lineage_usages_provenance_and_audit(admin_client, staff_user):
    raw = RegistryObjectFactory(schema_name="raw", object_name="orders")
    obj = RegistryObjectFactory(
        schema_name="canon",
        object_name="orders_clean",
        object_type="view",
        criticality="critical",
        provenance={
            "criticality": {"rule": "upstream of critical", "evidence": ["upstream of critical `mart.daily`"]}
        },
    )
    mart = RegistryObjectFactory(schema_name="mart", object_name="daily")
    DependencyFactory(upstream=raw, downstream=obj)
    DependencyFactory(upstream=obj, downstream=mart)
    ColumnFactory(object=obj, name="order_id", position=1, data_type="bigint", is_primary_key=True)
    ColumnFactory(object=obj, name="customer_id", position=2, fk_target="canon.customers.id")
    CodeUsageFactory(
        object=obj, file="api/orders.py", line=42, kind="read", context="endpoint", route="GET /orders"
    )
    SchemaChange.objects.create(object=obj, change="added", column_name="customer_id", new_type="integer")
    OverrideAudit.objects.create(
        object=obj, field="is_expected", old_value=None, new_value="true", changed_by_name="alice", via="api"
    )

    response = admin_client.get(change_url(obj))

    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "order_id",
        "bigint",
        "canon.customers.id",
        f'href="{change_url(raw)}"',
        f'href="{change_url(mart)}"',
        "api/orders.py:42",
        "GET /orders",
        "upstream of critical `mart.daily`",
        "alice",
        "(no override)",
        "customer_id",
        "No ledger asset key maps to this object.",
    ):
        assert text in page, text


def test_detail_page_shows_runs_and_check_results_through_asset_links(admin_client):
    obj = RegistryObjectFactory(schema_name="raw", object_name="orders")
    AssetLink.objects.create(normalized_key="raw.orders", object=obj)
    RunAssetFactory(
        asset_key="raw.orders",
        run__pipeline__namespace="",
        run__pipeline__name="ingest_orders",
        rows_inserted=1234,
    )
    RunAssetFactory(
        asset_key="raw.other", run__pipeline__namespace="", run__pipeline__name="unrelated_pipeline"
    )
    CheckResultFactory(
        asset_key="raw.orders", check_name="not_null(order_id)", status="fail", message="3 nulls"
    )

    page = admin_client.get(change_url(obj)).content.decode()

    assert "ingest_orders" in page
    assert "1234" in page
    assert "unrelated_pipeline" not in page
    assert "not_null(order_id)" in page
    assert "3 nulls" in page


def test_detail_page_query_count_is_bounded(admin_client):
    obj = RegistryObjectFactory()
    AssetLink.objects.create(normalized_key="mart.x", object=obj)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(change_url(obj)).status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for _ in range(10):
        DependencyFactory(upstream=RegistryObjectFactory(source=obj.source), downstream=obj)
        DependencyFactory(upstream=obj, downstream=RegistryObjectFactory(source=obj.source))
        CodeUsageFactory(object=obj)
        ColumnFactory(object=obj)
        RunAssetFactory(asset_key="mart.x", run__pipeline__namespace="")
        CheckResultFactory(asset_key="mart.x")

    assert queries() == few


def test_detail_save_changes_overrides_audited_and_ignores_discovered_fields(admin_client, staff_user):
    obj = RegistryObjectFactory(layer="RAW", criticality="normal")

    response = admin_client.post(
        change_url(obj),
        {
            "health_enabled": "true",
            "is_expected": "unknown",
            "is_critical": "unknown",
            "refresh_schedule": "06:00:00",
            "max_staleness": "",
            "description": "",
            "notes": "owned by finance",
            "layer": "MV",  # read-only: ignored
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert (obj.health_enabled, obj.notes, obj.layer, obj.should_monitor) == (
        True,
        "owned by finance",
        "RAW",
        True,
    )
    rows = {a.field: a.new_value for a in OverrideAudit.objects.filter(object=obj)}
    assert rows == {"health_enabled": "true", "refresh_schedule": "06:00:00", "notes": "owned by finance"}
    assert set(OverrideAudit.objects.values_list("changed_by", flat=True)) == {staff_user.pk}


def test_objects_cannot_be_added_or_deleted(admin_client, warehouse):
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.get(f"{LIST}{warehouse['orders'].pk}/delete/").status_code == 403


def test_non_staff_is_redirected_to_login(viewer_user, warehouse):
    client = Client()
    client.force_login(viewer_user)

    for url in (LIST, change_url(warehouse["orders"])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")


def test_no_dsn_on_any_registry_page(admin_client, warehouse):
    obj = warehouse["orders"]
    OverrideAudit.objects.create(object=obj, field="notes", new_value="x", via="admin")
    AssetLink.objects.create(normalized_key="raw.orders", object=obj)

    for url in (
        LIST,
        change_url(obj),
        "/admin/registry/overrideaudit/",
        "/admin/registry/assetlink/",
        "/admin/registry/resolverrule/",
        "/admin/registry/inferencerule/",
    ):
        page = admin_client.get(url).content.decode()
        assert "s3cr3t-pw" not in page, url
        assert "warehouse:" not in page, url
