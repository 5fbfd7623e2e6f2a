"""The resolver: rules in priority order, then PostgreSQL's own name resolution."""

from __future__ import annotations

import pytest

from common.identifiers import InvalidName, split_identifier
from registry.resolver import Resolver, last_path_segment
from tests.factories.registry import RegistryObjectFactory, ResolverRuleFactory, SourceFactory


@pytest.fixture
def source(db):
    return SourceFactory(name="wh", search_path=["mart", "public"])


@pytest.fixture
def objects(source):
    names = [
        ("raw", "orders"),
        ("canon", "orders"),
        ("mart", "daily_sales"),
        ("public", "app_users"),
        ("raw", "CamelCaseImport"),
        ("public", "Daily.Stats"),
    ]
    return {f"{s}.{n}": RegistryObjectFactory(source=source, schema_name=s, object_name=n) for s, n in names}


def test_split_identifier_folds_unquoted_and_keeps_quoted():
    assert split_identifier('DB.Raw."CamelCaseImport"') == ["db", "raw", "CamelCaseImport"]
    assert split_identifier('public."Daily.Stats"') == ["public", "Daily.Stats"]
    assert split_identifier('"a""b"') == ['a"b']
    with pytest.raises(InvalidName):
        split_identifier('raw."open')
    with pytest.raises(InvalidName):
        split_identifier("raw..orders")


def test_last_path_segment_ignores_slashes_inside_quotes():
    assert last_path_segment("postgres://h:5432/db.raw.orders") == "db.raw.orders"
    assert last_path_segment('raw."a/b"') == 'raw."a/b"'


def test_qualified_name_resolves_exactly(source, objects):
    r = Resolver(source).resolve("RAW.Orders")
    assert (r.resolved, r.schema_name, r.object_name, r.rule) == (True, "raw", "orders", "exact")
    assert r.object_id == objects["raw.orders"].id
    assert r.name == "RAW.Orders"


def test_quoted_identifiers_are_kept_exact(source, objects):
    resolver = Resolver(source)
    assert resolver.resolve('raw."CamelCaseImport"').object_id == objects["raw.CamelCaseImport"].id
    assert resolver.resolve('public."Daily.Stats"').object_id == objects["public.Daily.Stats"].id
    # Unquoted, PostgreSQL folds to lower case: no such object.
    folded = resolver.resolve("raw.CamelCaseImport")
    assert (folded.resolved, folded.schema_name, folded.object_name) == (False, "raw", "camelcaseimport")


def test_unqualified_name_goes_through_the_search_path(source, objects):
    resolver = Resolver(source)
    r = resolver.resolve("daily_sales")
    assert (r.schema_name, r.rule, r.resolved) == ("mart", "search_path", True)
    assert resolver.resolve("app_users").schema_name == "public"
    # Through a passed search path (a .sql file's SET search_path) instead.
    assert resolver.resolve("orders", search_path=["canon", "raw"]).object_id == objects["canon.orders"].id
    assert not resolver.resolve("orders").resolved


def test_database_part_is_dropped(source, objects):
    r = Resolver(source).resolve("warehouse.raw.orders")
    assert r.object_id == objects["raw.orders"].id


def test_namespace_before_the_last_slash_is_ignored(source, objects):
    r = Resolver(source).resolve("postgresql://db:5432/warehouse.canon.orders")
    assert r.object_id == objects["canon.orders"].id


def test_alias_rule_fires_before_plain_matching(source, objects):
    rule = ResolverRuleFactory(source=source, kind="alias", match="orders", target="canon.orders")
    r = Resolver(source).resolve("orders")
    assert r.object_id == objects["canon.orders"].id
    assert r.rule == f"alias #{rule.id}: orders → canon.orders"


def test_pattern_rule_rewrites_with_groups(source, objects):
    rule = ResolverRuleFactory(kind="pattern", match=r"s3://lake/(\w+)/(\w+)\.parquet", target=r"\1.\2")
    # Alias and pattern rules see the whole name, namespace included.
    r = Resolver(source).resolve("s3://lake/raw/orders.parquet")
    assert (r.resolved, r.object_id, r.rule) == (True, objects["raw.orders"].id, f"pattern #{rule.id}")
    rule2 = ResolverRuleFactory(kind="pattern", match=r"stg_(\w+)", target=r"raw.\1")
    r2 = Resolver(source).resolve("stg_orders")
    assert (r2.resolved, r2.object_id, r2.rule) == (True, objects["raw.orders"].id, f"pattern #{rule2.id}")


def test_transform_rule_options(source, objects):
    rule = ResolverRuleFactory(
        kind="transform",
        options={"strip_prefix": "warehouse:", "strip_quotes": True, "lower": True, "default_schema": "raw"},
    )
    r = Resolver(source).resolve('warehouse:"ORDERS"')
    assert (r.resolved, r.object_id, r.rule) == (True, objects["raw.orders"].id, f"transform #{rule.id}")


def test_rules_follow_priority_and_kind_order(source, objects):
    ResolverRuleFactory(kind="transform", priority=10, options={"default_schema": "raw"})
    alias = ResolverRuleFactory(kind="alias", priority=10, match="orders", target="canon.orders")
    ResolverRuleFactory(kind="alias", priority=5, match="orders", target="mart.nothing_here")
    r = Resolver(source).resolve("orders")
    # priority 5 fires first but names no object; the next rule that resolves wins.
    assert r.rule == f"alias #{alias.id}: orders → canon.orders"


def test_rule_pointing_nowhere_is_reported_unresolved(source, objects):
    rule = ResolverRuleFactory(kind="alias", match="legacy_orders", target="raw.gone")
    r = Resolver(source).resolve("legacy_orders")
    assert (r.resolved, r.schema_name, r.object_name, r.object_id) == (False, "raw", "gone", None)
    assert r.rule.startswith(f"alias #{rule.id}")


def test_inactive_and_other_sources_rules_are_ignored(source, objects):
    ResolverRuleFactory(kind="alias", match="o", target="raw.orders", is_active=False)
    ResolverRuleFactory(kind="alias", match="o", target="raw.orders", source=SourceFactory(name="other"))
    assert not Resolver(source).resolve("o").resolved


def test_invalid_regex_never_fires(source, objects):
    ResolverRuleFactory(kind="pattern", match="(unclosed", target="raw.orders")
    assert Resolver(source).resolve("(unclosed").resolved is False


def test_unparseable_names_are_unresolved_not_errors(source, objects):
    resolver = Resolver(source)
    for name in ['raw."open', "a.b.c.d", "", "{table}"]:
        r = resolver.resolve(name)
        assert r.resolved is False and r.object_id is None


def test_case_fallback_only_when_asked_and_unambiguous(source, objects):
    assert not Resolver(source).resolve("raw.camelcaseimport").resolved
    r = Resolver(source, fold_case_fallback=True).resolve("raw.camelcaseimport")
    assert (r.object_id, r.rule) == (objects["raw.CamelCaseImport"].id, "case_insensitive")
    RegistryObjectFactory(source=source, schema_name="raw", object_name="CAMELCASEIMPORT")
    assert not Resolver(source, fold_case_fallback=True).resolve("raw.camelcaseimport").resolved


def test_resolver_without_source_sees_every_source(source, objects):
    other = RegistryObjectFactory(source=SourceFactory(name="other"), schema_name="x", object_name="y")
    assert Resolver().resolve("x.y").object_id == other.id
    assert Resolver().resolve("raw.orders").object_id == objects["raw.orders"].id


def test_resolve_many_costs_two_queries_whatever_the_number_of_names(
    source, objects, django_assert_num_queries
):
    with django_assert_num_queries(2):  # the active rules; the object index
        resolver = Resolver(source)
    with django_assert_num_queries(0):
        results = resolver.resolve_many(["raw.orders", "daily_sales", "nope"] * 100)
    assert [r.resolved for r in results[:3]] == [True, True, False]


def test_names_in_other_namespaces_resolve_only_through_rules(source, objects):
    resolver = Resolver(source)
    assert not resolver.resolve("s3://lake/raw.orders").resolved
    assert not resolver.resolve("opshealth://registry/app_users").resolved
    assert resolver.resolve("postgres://db:5432/shop/raw.orders").resolved
