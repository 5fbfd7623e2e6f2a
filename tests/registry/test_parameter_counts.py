"""No statement's parameter count grows with the data: with 70,000 distinct ledger keys
(more than PostgreSQL's 65,535 parameters per statement) discovery, linking, a resolver
change and the ingestion signal all work, and none sends more than a handful."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connection

from ledger.models import Watermark
from ledger.signals import assets_ingested
from registry.discovery import discover
from registry.links import refresh_asset_links
from registry.models import AssetLink, RegistryObject
from tests.factories.registry import RegistryObjectFactory

KEYS = 70_000
MAX_PARAMS = 50


@pytest.fixture
def many_keys(db) -> None:
    """70,000 watermarks on distinct keys, one statement (raw.orders among them)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {Watermark._meta.db_table} (asset_key, normalized_key, scope_key, watermark_ts, updated_at)
            SELECT k, k, '', now(), now()
            FROM (SELECT CASE WHEN g = 1 THEN 'raw.orders' ELSE 'raw.k' || g END AS k
                  FROM generate_series(1, %s) g) keys
            """,
            [KEYS],
        )


@contextlib.contextmanager
def largest_parameter_count():
    """Yields a list whose one element ends as the most parameters a statement had."""
    seen = [0]

    def record(execute, sql, params, many, context):
        if params and not many:
            seen[0] = max(seen[0], len(params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def test_linking_70000_keys_sends_a_few_parameters(many_keys):
    orders = RegistryObjectFactory(schema_name="raw", object_name="orders")
    with largest_parameter_count() as seen:
        assert refresh_asset_links() == KEYS
        assert refresh_asset_links() == 0  # nothing changed: nothing written
    assert seen[0] <= MAX_PARAMS
    assert AssetLink.objects.count() == KEYS
    assert AssetLink.objects.get(normalized_key="raw.orders").object_id == orders.pk


def test_discovery_with_70000_ledger_keys(many_keys, wh_source):
    with largest_parameter_count() as seen:
        discover(wh_source, code_scan=False)
    assert seen[0] <= MAX_PARAMS
    orders = RegistryObject.objects.get(source=wh_source, schema_name="raw", object_name="orders")
    assert AssetLink.objects.get(normalized_key="raw.orders").object_id == orders.pk


def test_a_resolver_rule_saved_with_70000_keys_is_201_and_relinks(
    many_keys, staff_client, django_capture_on_commit_callbacks
):
    RegistryObjectFactory(schema_name="raw", object_name="orders")
    rule = {"kind": "alias", "match": "raw.k2", "target": "raw.orders"}
    with largest_parameter_count() as seen, django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/v1/resolvers", rule, format="json")
    assert response.status_code == 201, response.content
    assert seen[0] <= MAX_PARAMS
    assert AssetLink.objects.get(normalized_key="raw.k2").resolver_rule.startswith("alias")


def test_ingesting_70000_new_keys_links_them(many_keys):
    keys = set(Watermark.objects.values_list("normalized_key", flat=True))
    with largest_parameter_count() as seen:
        assets_ingested.send(sender=Watermark, keys=keys)
    assert seen[0] <= MAX_PARAMS
    assert AssetLink.objects.count() == KEYS
