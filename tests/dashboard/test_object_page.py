"""The object page: status with the deciding signal, lineage graph (two hops, expandable),
columns, usages, runs, data-check results, overrides; within the query budget."""

from __future__ import annotations

import pytest

from checks.evaluate import evaluate_as_job
from registry.models import RegistryObject
from tests.factories.registry import CodeUsageFactory, DependencyFactory, RegistryObjectFactory

MAX_QUERIES = 12


def test_the_object_page_shows_what_is_wrong_and_why(viewer, platform, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = viewer.get(f"/ops/health/objects/{platform.raw.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "raw.events" in html and ">ERROR</span>" in html
    assert "from the <strong>watermark</strong>" in html and "stale" in html
    assert "data_check_failed" in html and "freshness_sla_breach" in html
    assert "jobs/load_events.py:12</code>" in html  # code usage
    assert "event_id" in html and "timestamptz" in html  # columns
    assert "load_events" in html  # the run that wrote it
    assert "not_null(event_id)" in html and "3 nulls" in html  # data-check result
    assert f'href="/admin/registry/registryobject/{platform.raw.pk}/change/"' in html
    assert "health_enabled" in html  # the override set on it


def test_lineage_spans_two_hops_and_expands(viewer, platform):
    deeper = RegistryObjectFactory(source=platform.raw.source, schema_name="mart", object_name="report")
    DependencyFactory(upstream=platform.matview, downstream=deeper)
    html = viewer.get(f"/ops/health/objects/{platform.raw.pk}").content.decode()
    assert "0 upstream and 2 downstream objects" in html
    assert f'href="/ops/health/objects/{platform.matview.pk}"' in html
    assert "mart.report" not in html
    assert 'href="?hops=3"' in html
    html = viewer.get(f"/ops/health/objects/{platform.raw.pk}?hops=3").content.decode()
    assert "0 upstream and 3 downstream objects" in html
    assert f'href="/ops/health/objects/{deeper.pk}?hops=3"' in html


def test_lineage_of_the_middle_object_goes_both_ways(viewer, platform):
    html = viewer.get(f"/ops/health/objects/{platform.view.pk}").content.decode()
    assert "1 upstream and 1 downstream objects" in html
    assert html.count('class="edge"') == 2


def test_a_crowded_lineage_column_is_cut_with_a_count(viewer, platform, django_assert_max_num_queries):
    readers = RegistryObjectFactory.create_batch(40, source=platform.raw.source, schema_name="mart")
    for reader in readers:
        DependencyFactory(upstream=platform.raw, downstream=reader)
    with django_assert_max_num_queries(MAX_QUERIES):
        html = viewer.get(f"/ops/health/objects/{platform.raw.pk}").content.decode()
    assert "+16 more" in html  # 41 objects one hop down, 25 drawn


@pytest.mark.parametrize("hops", ["0", "7", "two"])
def test_bad_hops_are_a_400(viewer, platform, hops):
    response = viewer.get(f"/ops/health/objects/{platform.raw.pk}?hops={hops}")
    assert response.status_code == 400
    assert "hops must be a number from 1 to 6" in response.content.decode()


def test_an_unknown_object_is_a_404(viewer, platform):
    response = viewer.get("/ops/health/objects/999999")
    assert response.status_code == 404
    assert "No registry object 999999" in response.content.decode()


def test_unknown_parameters_are_a_400(viewer, platform):
    response = viewer.get(f"/ops/health/objects/{platform.raw.pk}?depth=3")
    assert response.status_code == 400


def test_an_edge_inside_a_lineage_column_is_drawn_and_named(viewer, platform):
    # raw → view → matview, and raw → matview: view and matview are both one hop down.
    DependencyFactory(upstream=platform.raw, downstream=platform.matview)
    html = viewer.get(f"/ops/health/objects/{platform.raw.pk}").content.decode()
    assert html.count('class="edge"') == 2
    assert html.count('class="edge inner"') == 1
    assert "<title>mart.v_events → mart.daily_events</title>" in html


def test_code_usage_evidence_reads_as_words_not_data(viewer, platform):
    CodeUsageFactory(
        object=platform.raw,
        file="app/api.py",
        line=7,
        kind="read",
        context="endpoint",
        route="GET /events",
        columns=["event_id", "ghost"],
        evidence="import db in app/api.py: app/db.py (nearest on sys.path), not lib/db.py",
    )
    RegistryObject.objects.filter(pk=platform.raw.pk).update(
        provenance={
            "criticality": {
                "value": "important",
                "rule": "#4 used by an endpoint",
                "evidence": "used by endpoint `GET /events` in `app/api.py:7`",
            }
        }
    )
    evaluate_as_job(trigger="api")  # used_column_missing: ghost
    html = viewer.get(f"/ops/health/objects/{platform.raw.pk}").content.decode()
    # The check's item: one line per field, the object's columns one per line.
    assert "location: app/api.py:7\n" in html
    assert "columns:\n  - event_id\n  - happened_at\n" in html
    assert "[&#x27;event_id&#x27;" not in html and "{&#x27;" not in html  # no Python reprs
    # The usage: its columns and how the scan resolved it.
    assert "<code>event_id</code>, <code>ghost</code>" in html
    assert "<li>import db in app/api.py: app/db.py (nearest on sys.path), not lib/db.py</li>" in html
    # The inferred value's evidence, its code names as code.
    assert "used by endpoint <code>GET /events</code> in <code>app/api.py:7</code>" in html
