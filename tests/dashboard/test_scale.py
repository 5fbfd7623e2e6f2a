"""At 10,000 registry objects every page stays within the query budget and 300 KB."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checks.evaluate import evaluate
from opshealth.dashboard.tabs import TABS
from registry.models import Dependency, RegistryObject

OBJECTS, EDGES = 10_000, 20_000
MAX_QUERIES, MAX_BYTES = 12, 300 * 1024


@pytest.fixture
def big_registry(platform):
    """10,000 more objects (a third RAW, half monitored, a quarter health-enabled) and
    20,000 edges, inserted set-based (bulk INSERTs), then evaluated."""
    source = platform.raw.source
    layers = ("RAW", "CANON", "DERIVED")
    objects = RegistryObject.objects.bulk_create(
        RegistryObject(
            source=source,
            schema_name=f"s{i % 20}",
            object_name=f"object_{i:05d}",
            object_type="table",
            layer=layers[i % 3],
            should_monitor=i % 2 == 0,
            health_enabled=True if i % 4 == 0 else None,  # unmeasured: monitored_not_in_health_views
        )
        for i in range(OBJECTS)
    )
    rng = random.Random(13)
    ids = [o.pk for o in objects]
    pairs = {tuple(sorted(rng.sample(ids, 2))) for _ in range(EDGES)}
    Dependency.objects.bulk_create(
        Dependency(source=source, upstream_id=u, downstream_id=d) for u, d in pairs
    )
    evaluate()
    return objects


def get(client, url: str):
    """One page, its queries counted (at most MAX_QUERIES) and its size bounded."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    assert len(queries) <= MAX_QUERIES, (url, [q["sql"][:120] for q in queries])
    assert len(response.content) <= MAX_BYTES, (url, len(response.content))
    return response.content.decode()


def test_every_page_at_ten_thousand_objects(viewer, big_registry):
    # One test, one 10,000-object registry: building it is the expensive part.
    for key in TABS:
        get(viewer, f"/ops/health?tab={key}")
    html = get(viewer, "/ops/health?tab=registry&layer=RAW&page=3")
    assert "page 3 of 67" in html  # 3,334 + raw.events RAW objects, 50 a page
    assert html.count('href="/ops/health/objects/') == 50
    html = get(viewer, "/ops/health?tab=checks&check=monitored_not_in_health_views")
    assert "page 1 of 50 (2500 rows)" in html
    hub = big_registry[0]
    for hops in (2, 6):
        get(viewer, f"/ops/health/objects/{hub.pk}?hops={hops}")
