"""Staff regular expressions cannot hang a worker: rules match with RE2 (linear time),
catastrophic patterns are refused when saved (API and admin), and a simulate call
takes a bounded number of names."""

from __future__ import annotations

import time

import pytest

from registry.models import InferenceRule, ResolverRule
from registry.resolver import Resolver
from tests.factories.registry import RegistryObjectFactory, ResolverRuleFactory
from tests.registry.test_admin_rules import inference_rule_post, resolver_rule_post

pytestmark = pytest.mark.django_db

CATASTROPHIC = r"^(a+)+$"
# 30 characters: Python's backtracking `re` needs minutes for this name; RE2, microseconds.
HOSTILE_NAME = "a" * 30 + "!"


def test_a_stored_catastrophic_pattern_matches_in_linear_time(read_client):
    ResolverRuleFactory(kind="pattern", match=CATASTROPHIC, target="raw.orders")
    RegistryObjectFactory(schema_name="raw", object_name="orders")
    started = time.perf_counter()
    response = read_client.post("/api/v1/resolvers/simulate", {"names": [HOSTILE_NAME, "aaa"]}, format="json")
    assert time.perf_counter() - started < 5  # a backtracking engine would not return for minutes
    assert response.status_code == 200
    assert [r["resolved"] for r in response.json()["results"]] == [False, True]


@pytest.mark.parametrize(
    "pattern, message",
    [(CATASTROPHIC, "repetition inside a repetition"), (r"(\w*)*x", "repetition"), (r"(a)\1", "RE2")],
)
def test_catastrophic_or_backtracking_only_patterns_are_refused_when_saved(staff_client, pattern, message):
    response = staff_client.post(
        "/api/v1/resolvers", {"kind": "pattern", "match": pattern, "target": "raw.x"}, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["match"][0]
    assert not ResolverRule.objects.exists()


def test_a_pattern_with_a_separator_between_repetitions_is_accepted(staff_client):
    rule = {"kind": "pattern", "match": r"(\w+\.)*(\w+)", "target": r"raw.\2"}
    assert staff_client.post("/api/v1/resolvers", rule, format="json").status_code == 201
    assert Resolver().resolve("a.b.orders").rule.startswith("pattern")


def test_the_admin_refuses_catastrophic_patterns(admin_client):
    response = admin_client.post("/admin/registry/resolverrule/add/", resolver_rule_post(match=CATASTROPHIC))
    assert "repetition inside a repetition" in " ".join(response.context["adminform"].form.errors["match"])
    before = InferenceRule.objects.count()
    response = admin_client.post(
        "/admin/registry/inferencerule/add/", inference_rule_post(name_pattern="(x+)*")
    )
    assert "repetition" in " ".join(response.context["adminform"].form.errors["name_pattern"])
    assert InferenceRule.objects.count() == before


def test_simulate_takes_at_most_1000_names(read_client):
    response = read_client.post("/api/v1/resolvers/simulate", {"names": ["x"] * 1001}, format="json")
    assert response.status_code == 400 and "names" in response.json()
