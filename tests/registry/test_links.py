"""Asset links: ledger keys → registry objects, set-based, refreshed after ingestion."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.logger import RunLogger
from registry.links import refresh_asset_links
from registry.models import AssetLink
from tests.factories.ledger import CheckResultFactory, RunAssetFactory, WatermarkFactory
from tests.factories.registry import RegistryObjectFactory, ResolverRuleFactory, SourceFactory


@pytest.fixture
def objects(db):
    source = SourceFactory(name="wh")
    return {
        "raw.orders": RegistryObjectFactory(source=source, schema_name="raw", object_name="orders"),
        "mart.daily": RegistryObjectFactory(source=source, schema_name="mart", object_name="daily"),
        "raw.Camel": RegistryObjectFactory(source=source, schema_name="raw", object_name="Camel"),
    }


def _links() -> dict[str, tuple[int | None, str]]:
    return {link.normalized_key: (link.object_id, link.resolver_rule) for link in AssetLink.objects.all()}


def test_every_distinct_ledger_key_is_linked(objects, django_assert_num_queries):
    RunAssetFactory(asset_key="raw.orders", normalized_key="raw.orders", run__pipeline__namespace="")
    RunAssetFactory(asset_key="raw.orders", normalized_key="raw.orders", run__pipeline__namespace="")
    WatermarkFactory(asset_key="x", normalized_key="postgresql://db:5432/shop/mart.daily")
    CheckResultFactory(asset_key="y", normalized_key='raw."Camel"')
    RunAssetFactory(asset_key="z", normalized_key="raw.unknown", run__pipeline__namespace="")
    # distinct keys (one UNION); resolver rules; object index; known links; upsert
    with django_assert_num_queries(5):
        assert refresh_asset_links() == 4
    assert _links() == {
        "raw.orders": (objects["raw.orders"].id, "exact"),
        "postgresql://db:5432/shop/mart.daily": (objects["mart.daily"].id, "exact"),
        'raw."Camel"': (objects["raw.Camel"].id, "exact"),
        "raw.unknown": (None, ""),
    }


def test_unchanged_links_are_not_rewritten(objects):
    RunAssetFactory(asset_key="raw.orders", normalized_key="raw.orders", run__pipeline__namespace="")
    refresh_asset_links()
    stamp = AssetLink.objects.get().resolved_at
    assert refresh_asset_links() == 0
    assert AssetLink.objects.get().resolved_at == stamp


def test_a_new_rule_relinks_a_key(objects):
    RunAssetFactory(asset_key="orders", normalized_key="orders", run__pipeline__namespace="")
    refresh_asset_links()
    assert _links()["orders"] == (None, "")
    rule = ResolverRuleFactory(kind="transform", options={"default_schema": "raw"})
    assert refresh_asset_links() == 1
    assert _links()["orders"] == (objects["raw.orders"].id, f"transform #{rule.id}")


def test_lower_cased_keys_match_a_unique_object_ignoring_case(objects):
    RunAssetFactory(asset_key="raw.camel", normalized_key="raw.camel", run__pipeline__namespace="")
    refresh_asset_links()
    assert _links()["raw.camel"] == (objects["raw.Camel"].id, "case_insensitive")


def test_ingestion_links_the_keys_it_wrote(objects, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), RunLogger("load_orders") as run:
        run.log_asset("RAW.Orders")
        run.update_watermark("mart.daily", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    assert _links() == {
        "raw.orders": (objects["raw.orders"].id, "exact"),
        "mart.daily": (objects["mart.daily"].id, "exact"),
    }


def test_ingesting_an_already_linked_key_costs_one_lookup_then_none(objects, django_assert_num_queries):
    from ledger.signals import assets_ingested

    refresh_asset_links(["raw.orders"])
    # 1. SELECT the keys among those ingested that already have a link (all of them).
    with django_assert_num_queries(1):
        assets_ingested.send(sender=None, keys={"raw.orders"})
    # The process remembers that the key is linked; a new key is still looked up and linked.
    with django_assert_num_queries(0):
        assets_ingested.send(sender=None, keys={"raw.orders"})
    assets_ingested.send(sender=None, keys={"raw.orders", "mart.daily"})
    assert _links()["mart.daily"] == (objects["mart.daily"].id, "exact")


def test_the_memory_of_linked_keys_is_bounded(objects, monkeypatch):
    from ledger.signals import assets_ingested
    from registry import links

    monkeypatch.setattr(links, "LINKED_KEYS_MAX", 1)
    assets_ingested.send(sender=None, keys={"raw.orders"})
    assets_ingested.send(sender=None, keys={"mart.daily"})
    assert links._linked_keys == {"mart.daily"}


def test_a_resolver_rule_change_relinks_every_key(objects, django_capture_on_commit_callbacks):
    RunAssetFactory(asset_key="orders", normalized_key="orders", run__pipeline__namespace="")
    refresh_asset_links()
    assert _links()["orders"] == (None, "")
    with django_capture_on_commit_callbacks(execute=True):
        rule = ResolverRuleFactory(kind="alias", match="orders", target="raw.orders")
    assert _links()["orders"] == (objects["raw.orders"].id, f"alias #{rule.id}: orders → raw.orders")
    with django_capture_on_commit_callbacks(execute=True):
        rule.delete()
    assert _links()["orders"] == (None, "")
