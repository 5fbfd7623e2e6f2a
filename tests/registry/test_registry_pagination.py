"""`/api/v1/ops/source-registry` pages in the default order come from the natural-key index
(RegistryPagination): same rows, order, count and links as sorting the whole join."""

from __future__ import annotations

import pytest

from registry.models import RegistryObject
from tests.factories.registry import RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/ops/source-registry"


@pytest.fixture
def three_sources() -> list[str]:
    """Sources created in reverse name order (ids do not follow names), 4-6 objects each,
    schemas and names interleaved; returns the expected default order."""
    for name, schemas in (("zeta", ["raw", "mart"]), ("alpha", ["mart", "canon", "raw"]), ("mid", ["a"])):
        source = SourceFactory(name=name)
        for schema in schemas:
            for object_name in ("orders", "Customers", "b_events"):
                critical = "critical" if object_name == "orders" else "normal"
                RegistryObjectFactory(
                    source=source, schema_name=schema, object_name=object_name, criticality=critical
                )
    rows = RegistryObject.objects.order_by("source__name", "schema_name", "object_name")
    return [f"{o.source.name}:{o.qualified_name}" for o in rows.select_related("source")]


def page(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.json()


def keys(body: dict) -> list[str]:
    return [f"{row['source']}:{row['qualified_name']}" for row in body["results"]]


@pytest.mark.parametrize(("offset", "limit"), [(0, 50), (0, 4), (5, 5), (8, 3), (9, 9), (17, 5), (18, 5)])
def test_default_order_pages_match_sorting_the_whole_join(viewer_client, three_sources, offset, limit):
    body = page(viewer_client, offset=offset, limit=limit)

    assert keys(body) == three_sources[offset : offset + limit]
    assert body["count"] == 18
    assert (body["next"] is not None) == (offset + limit < 18)
    assert (body["previous"] is not None) == (offset > 0)


def test_default_order_pages_follow_filters_and_search(viewer_client, three_sources):
    critical = [key for key in three_sources if key.endswith(".orders")]

    body = page(viewer_client, criticality="critical", offset=1, limit=3)
    assert body["count"] == len(critical) == 6
    assert keys(body) == critical[1:4]

    body = page(viewer_client, search="events", limit=50)
    assert keys(body) == [key for key in three_sources if key.endswith(".b_events")]


def test_page_past_the_end_is_empty(viewer_client, three_sources):
    body = page(viewer_client, offset=40, limit=10)

    assert body["results"] == []
    assert body["count"] == 18


def test_explicit_ordering_takes_the_plain_path(viewer_client, three_sources):
    body = page(viewer_client, ordering="-object_name,source__name,schema_name", limit=3)

    assert keys(body) == ["alpha:canon.orders", "alpha:mart.orders", "alpha:raw.orders"]
    assert body["count"] == 18


def test_single_source_page_query_count(viewer_client, three_sources, django_assert_num_queries):
    # session, user, the registry's state (cache key), the count per source, the page's
    # ids (one index scan: the page lies in one source), the page with its source (JOIN),
    # the upstream edges (prefetch)
    with django_assert_num_queries(7):
        body = page(viewer_client, offset=0, limit=5)
    assert len(body["results"]) == 5
