"""Admins of inference rules, resolver rules (editable data), asset links and the
override audit (read-only)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from registry.models import AssetLink, InferenceRule, OverrideAudit, ResolverRule
from tests.factories.registry import RegistryObjectFactory, ResolverRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_user) -> Client:
    staff_user.user_permissions.add(*Permission.objects.filter(content_type__app_label="registry"))
    client = Client()
    client.force_login(staff_user)
    return client


def inference_rule_post(**overrides) -> dict:
    return {
        "attribute": "layer",
        "value": "RAW",
        "priority": "10",
        "schema_pattern": "^raw$",
        "name_pattern": "",
        "object_types": "",
        "when_layers": "",
        "evidence": "",
        "description": "schema raw is RAW",
        "is_active": "on",
        **overrides,
    }


def test_inference_rule_is_created_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/registry/inferencerule/add/", inference_rule_post(description="our raw rule")
    )

    assert response.status_code == 302
    rule = InferenceRule.objects.get(description="our raw rule")
    assert (rule.attribute, rule.value, rule.schema_pattern) == ("layer", "RAW", "^raw$")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"schema_pattern": "raw("}, "schema_pattern", "Not a valid regular expression"),
        ({"name_pattern": "[a-"}, "name_pattern", "Not a valid regular expression"),
        ({"value": "GOLD"}, "value", "layer takes one of: RAW, CANON, DERIVED, MV"),
        ({"attribute": "criticality", "value": "urgent"}, "value", "criticality takes one of"),
    ],
)
def test_inference_rule_form_rejects_rules_that_cannot_work(admin_client, overrides, field, message):
    before = InferenceRule.objects.count()  # the default rules, from a data migration

    response = admin_client.post("/admin/registry/inferencerule/add/", inference_rule_post(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert InferenceRule.objects.count() == before


def test_inference_rules_list_is_editable_in_place(admin_client):
    rule = InferenceRule.objects.create(attribute="layer", value="RAW", priority=10, description="mine")

    response = admin_client.get("/admin/registry/inferencerule/")

    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(rf'name="form-(\d+)-id" value="{rule.pk}"', page)
    row = re.search(rf'name="form-(\d+)-id" value="{rule.pk}"', page).group(1)
    assert f'name="form-{row}-priority" value="10"' in page
    assert f'name="form-{row}-is_active"' in page


def resolver_rule_post(**overrides) -> dict:
    return {
        "source": "",
        "kind": "pattern",
        "priority": "10",
        "match": r"^warehouse\.(\w+)\.(\w+)$",
        "target": r"\1.\2",
        "options": "{}",
        "description": "",
        "is_active": "on",
        **overrides,
    }


def test_resolver_rule_is_created_in_the_admin(admin_client):
    response = admin_client.post("/admin/registry/resolverrule/add/", resolver_rule_post())

    assert response.status_code == 302
    assert ResolverRule.objects.get().target == r"\1.\2"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"match": "warehouse.(("}, "match", "Not a valid regular expression"),
        ({"target": r"\1.\3"}, "target", "no group \\3"),
        (
            {"kind": "transform", "match": "", "target": "", "options": '{"upper": true}'},
            "options",
            "Unknown option",
        ),
        ({"kind": "alias", "match": "orders", "target": 'raw."orders'}, "target", "Not a valid name"),
        (
            {"kind": "transform", "match": "((", "target": "", "options": '{"lower": true}'},
            "match",
            "regular",
        ),
    ],
)
def test_resolver_rule_form_rejects_rules_that_cannot_work(admin_client, overrides, field, message):
    response = admin_client.post("/admin/registry/resolverrule/add/", resolver_rule_post(**overrides))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert not ResolverRule.objects.exists()


def test_resolver_rules_list_renders(admin_client):
    ResolverRuleFactory(match="orders", target="raw.orders", description="legacy orders name")

    response = admin_client.get("/admin/registry/resolverrule/")

    assert response.status_code == 200
    assert "legacy orders name" in response.content.decode()


def test_audit_admin_lists_changes_with_object_links_and_is_read_only(admin_client):
    obj = RegistryObjectFactory(schema_name="raw", object_name="orders")
    audit = OverrideAudit.objects.create(
        object=obj, field="is_expected", old_value="false", new_value="true", changed_by_name="bob", via="api"
    )

    page = admin_client.get("/admin/registry/overrideaudit/").content.decode()

    assert f'href="/admin/registry/registryobject/{obj.pk}/change/"' in page
    assert "bob" in page
    assert admin_client.get("/admin/registry/overrideaudit/add/").status_code == 403
    assert admin_client.get(f"/admin/registry/overrideaudit/{audit.pk}/delete/").status_code == 403
    # view-only: the page renders without a form to save
    detail = admin_client.get(f"/admin/registry/overrideaudit/{audit.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    admin_client.post(f"/admin/registry/overrideaudit/{audit.pk}/change/", {"new_value": "false"})
    audit.refresh_from_db()
    assert audit.new_value == "true"


def test_asset_link_admin_is_read_only_and_filters_unresolved(admin_client):
    obj = RegistryObjectFactory(schema_name="raw", object_name="orders")
    AssetLink.objects.create(normalized_key="raw.orders", object=obj)
    AssetLink.objects.create(normalized_key="s3://bucket/file.csv", object=None)

    response = admin_client.get("/admin/registry/assetlink/", {"resolved": "no"})

    assert response.status_code == 200
    assert [link.normalized_key for link in response.context["cl"].result_list] == ["s3://bucket/file.csv"]
    assert admin_client.get("/admin/registry/assetlink/add/").status_code == 403
