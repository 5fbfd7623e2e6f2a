"""`/api/v1/resolvers`: rule CRUD (staff), validation, and the simulate endpoint."""

from __future__ import annotations

import pytest

from registry.models import ResolverRule
from tests.factories.registry import RegistryObjectFactory, ResolverRuleFactory, SourceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/resolvers"


@pytest.fixture
def warehouse():
    demo = SourceFactory(name="demo", search_path=["mart", "public"])
    other = SourceFactory(name="other")
    return {
        "raw.orders": RegistryObjectFactory(source=demo, schema_name="raw", object_name="orders"),
        "mart.daily_sales": RegistryObjectFactory(source=demo, schema_name="mart", object_name="daily_sales"),
        "other.stuff": RegistryObjectFactory(source=other, schema_name="public", object_name="stuff"),
    }


def test_staff_creates_a_rule_by_source_name(staff_client, warehouse):
    response = staff_client.post(
        URL,
        {"kind": "alias", "match": "orders_legacy", "target": "raw.orders", "source": "demo", "priority": 5},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["source"], body["priority"]) == ("alias", "demo", 5)
    assert ResolverRule.objects.get(pk=body["id"]).source.name == "demo"


def test_list_is_in_the_order_rules_are_tried(viewer_client):
    ResolverRuleFactory(kind="transform", priority=50, options={"lower": True})
    ResolverRuleFactory(kind="alias", priority=10, match="a", target="raw.a")

    response = viewer_client.get(URL)

    assert response.status_code == 200
    assert [(r["kind"], r["priority"]) for r in response.json()["results"]] == [
        ("alias", 10),
        ("transform", 50),
    ]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"kind": "pattern", "match": "raw\\.((", "target": "\\1"},
            "match",
            "Not a valid regular expression",
        ),
        ({"kind": "pattern", "match": "^x\\.(\\w+)$", "target": "raw.\\2"}, "target", "no group \\2"),
        ({"kind": "pattern", "match": "^x$", "target": "raw.\\g<name>"}, "target", "no group \\g<name>"),
        ({"kind": "alias", "match": "", "target": "raw.orders"}, "match", "needs a match"),
        ({"kind": "alias", "match": "o", "target": 'raw."open'}, "target", "Not a valid name"),
        ({"kind": "transform", "options": {"uppercase": True}}, "options", "Unknown option 'uppercase'"),
        ({"kind": "transform", "options": {"lower": "yes"}}, "options", "must be a bool"),
        ({"kind": "transform", "options": {}}, "options", "at least one option"),
        (
            {"kind": "alias", "match": "a", "target": "raw.a", "options": {"lower": True}},
            "options",
            "Only transform",
        ),
        ({"kind": "rename", "match": "a", "target": "raw.a"}, "kind", "not a valid choice"),
        ({"kind": "alias", "match": "a", "target": "raw.a", "source": "nope"}, "source", "does not exist"),
    ],
)
def test_invalid_rule_is_a_400_naming_the_field(staff_client, body, field, message):
    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not ResolverRule.objects.exists()


def test_partial_update_is_validated_against_the_stored_rule(staff_client):
    rule = ResolverRuleFactory(kind="pattern", match="^x\\.(\\w+)$", target="raw.\\1")

    bad = staff_client.patch(f"{URL}/{rule.pk}", {"target": "raw.\\3"}, format="json")
    good = staff_client.patch(f"{URL}/{rule.pk}", {"priority": 1, "is_active": False}, format="json")

    assert bad.status_code == 400
    assert good.status_code == 200
    rule.refresh_from_db()
    assert (rule.target, rule.priority, rule.is_active) == ("raw.\\1", 1, False)


def test_staff_deletes_a_rule(staff_client):
    rule = ResolverRuleFactory(match="a", target="raw.a")

    assert staff_client.delete(f"{URL}/{rule.pk}").status_code == 204
    assert not ResolverRule.objects.exists()


def test_writes_need_staff_and_reads_need_authentication(viewer_client, read_client, anon_client):
    rule = ResolverRuleFactory(match="a", target="raw.a")
    body = {"kind": "alias", "match": "b", "target": "raw.b"}

    for client in (viewer_client, read_client):
        assert client.get(URL).status_code == 200
        assert client.post(URL, body, format="json").status_code == 403
        assert client.delete(f"{URL}/{rule.pk}").status_code == 403
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(URL, body, format="json").status_code == 401
    assert ResolverRule.objects.count() == 1


def test_simulate_shows_each_resolution_and_the_rule_that_fired(viewer_client, warehouse):
    demo = warehouse["raw.orders"].source
    alias = ResolverRuleFactory(source=demo, kind="alias", match="orders_legacy", target="raw.orders")
    ResolverRuleFactory(kind="pattern", priority=20, match=r"warehouse\.(\w+)\.(\w+)", target=r"\1.\2")

    response = viewer_client.post(
        f"{URL}/simulate",
        {
            "names": ["orders_legacy", "warehouse.raw.orders", "daily_sales", "RAW.Orders", "raw.missing"],
            "source": "demo",
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["source"], body["search_path"]) == ("demo", ["mart", "public"])
    rows = {r["name"]: r for r in body["results"]}
    orders_id = warehouse["raw.orders"].pk
    assert rows["orders_legacy"] == {
        "name": "orders_legacy",
        "schema_name": "raw",
        "object_name": "orders",
        "object_id": orders_id,
        "rule": f"alias #{alias.pk}: orders_legacy → raw.orders",
        "resolved": True,
    }
    assert (rows["warehouse.raw.orders"]["object_id"], rows["warehouse.raw.orders"]["rule"]) == (
        orders_id,
        f"pattern #{ResolverRule.objects.get(kind='pattern').pk}",
    )
    assert (rows["daily_sales"]["object_id"], rows["daily_sales"]["rule"]) == (
        warehouse["mart.daily_sales"].pk,
        "search_path",
    )
    assert (rows["RAW.Orders"]["resolved"], rows["RAW.Orders"]["rule"]) == (True, "exact")
    assert rows["raw.missing"] == {
        "name": "raw.missing",
        "schema_name": "raw",
        "object_name": "missing",
        "object_id": None,
        "rule": "",
        "resolved": False,
    }


def test_simulate_with_a_search_path_and_no_source(read_client, warehouse):
    response = read_client.post(
        f"{URL}/simulate", {"names": ["stuff", "orders"], "search_path": ["public", "raw"]}, format="json"
    )

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["object_id"] for r in rows] == [warehouse["other.stuff"].pk, warehouse["raw.orders"].pk]
    assert response.json()["source"] is None


def test_simulate_query_count_does_not_grow_with_names(
    staff_client, warehouse, django_assert_max_num_queries
):
    # session, user, the rules, the object index: whatever the number of names
    with django_assert_max_num_queries(4):
        response = staff_client.post(
            f"{URL}/simulate", {"names": [f"raw.t{i}" for i in range(200)]}, format="json"
        )
    assert response.status_code == 200
    assert len(response.json()["results"]) == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"names": []}, "names"),
        ({}, "names"),
        ({"names": "raw.orders"}, "names"),
        ({"names": ["raw.orders"], "source": "nope"}, "source"),
        ({"names": ["raw.orders"], "search_path": "public"}, "search_path"),
    ],
)
def test_simulate_bad_input_is_a_400(viewer_client, body, field):
    response = viewer_client.post(f"{URL}/simulate", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_simulate_needs_authentication(anon_client):
    assert anon_client.post(f"{URL}/simulate", {"names": ["a"]}, format="json").status_code == 401


def test_a_nul_byte_in_the_source_is_a_400(staff_client):
    # JSON only: the API takes no form or multipart bodies (tests/opshealth/test_request_bodies.py).
    simulate = staff_client.post(f"{URL}/simulate", {"names": ["raw.orders"], "source": "de\x00mo"})
    assert simulate.status_code == 400
    rule = {"kind": "alias", "match": "orders", "target": "raw.orders", "source": "\x00"}
    assert staff_client.post(URL, rule).status_code == 400
