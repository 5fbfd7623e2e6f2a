"""The dashboard's pages: login, redirects, every tab's content and query count, bad input."""

from __future__ import annotations

import pytest
from django.test import Client

from checks.alerts.cycle import run_cycle
from opshealth.dashboard.tabs import TABS
from tests.factories.alerts import AlertRuleFactory

# Session + user (2), the latest evaluation (1), and the tab's own queries.
MAX_QUERIES = 12


def test_root_redirects_to_the_dashboard(client: Client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/ops/health"


def test_anonymous_users_go_to_the_admin_login(client: Client):
    response = client.get("/ops/health?tab=registry")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/ops/health")


def test_the_tab_bar_lists_every_tab_with_a_module(viewer, platform):
    html = viewer.get("/ops/health").content.decode()
    for key, tab in TABS.items():
        assert f'href="/ops/health?tab={key}"' in html
        assert f">{tab.title}</a>" in html
    assert 'aria-current="page">Overview' in html


@pytest.mark.parametrize("key", list(TABS))
def test_each_tab_renders_within_the_query_budget(viewer, platform, key, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = viewer.get(f"/ops/health?tab={key}")
    assert response.status_code == 200
    assert f'aria-current="page">{TABS[key].title}' in response.content.decode()


def test_overview_says_what_is_failing_why_and_since_when(viewer, platform):
    html = viewer.get("/ops/health").content.decode()
    e = platform.evaluation
    assert e.global_status == "ERROR"
    assert f"{e.health_score:g} %" in html
    for contributing in e.explanation["contributing"]:
        assert f"?tab=checks&amp;check={contributing['check_key']}" in html
    assert "failing since" in html
    assert "To turn it green:" in html
    assert "raw.events" in html  # named by freshness_sla_breach's remedy
    assert "opshealth.evaluate_health" in html  # OpsHealth's own jobs
    assert 'role="img"' in html  # the trend sparkline


def test_checks_lists_every_check_worst_first(viewer, platform):
    html = viewer.get("/ops/health?tab=checks").content.decode()
    statuses = [r.status for r in sorted(platform.evaluation.results.all(), key=lambda r: r.check_key)]
    assert "ERROR" in statuses and "OK" in statuses
    assert html.index(">ERROR</span>") < html.index(">OK</span>")


def test_a_check_drills_down_to_items_linked_to_their_objects(
    viewer, platform, django_assert_max_num_queries
):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = viewer.get("/ops/health?tab=checks&check=freshness_sla_breach")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/ops/health/objects/{platform.raw.pk}">raw.events</a>' in html
    assert "decided_by" in html


def test_the_drilldown_filters_by_level(viewer, platform):
    html = viewer.get("/ops/health?tab=checks&check=data_check_failed&level=WARN").content.decode()
    assert "No item at level WARN" in html


def test_registry_rows_carry_health_and_staleness(viewer, platform):
    html = viewer.get("/ops/health?tab=registry&layer=RAW").content.decode()
    assert f'href="/ops/health/objects/{platform.raw.pk}">raw.events</a>' in html
    assert "mart.daily_events" not in html  # filtered out
    assert "3d 0h stale" in html
    assert 'title="data_check_failed ERROR' in html


def test_registry_search(viewer, platform):
    html = viewer.get("/ops/health?tab=registry&q=daily").content.decode()
    assert "mart.daily_events" in html
    assert "raw.events</a>" not in html


def test_runs_shows_failures_flakiness_and_schedules(viewer, platform):
    html = viewer.get("/ops/health?tab=runs").content.decode()
    assert "load_events" in html
    assert 'class="s-failed"' in html  # the stacked bars
    assert "Flaky ranking" in html


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/ops/health?tab=nope", "Unknown tab"),
        ("/ops/health?tab=registry&colour=red", "Unknown query parameter colour"),
        ("/ops/health?tab=registry&layer=GOLD", "layer:"),
        ("/ops/health?tab=registry&should_monitor=maybe", "should_monitor:"),
        ("/ops/health?tab=registry&page=two", "page must be a positive number"),
        ("/ops/health?tab=checks&check=nope", "Unknown check"),
        ("/ops/health?tab=checks&check=data_check_failed&level=LOUD", "level must be"),
    ],
)
def test_bad_parameters_get_a_clear_error_page(viewer, platform, url, message):
    response = viewer.get(url)
    assert response.status_code in (400, 404)
    assert message in response.content.decode()


def test_a_page_past_the_end_is_the_last_page(viewer, platform):
    response = viewer.get("/ops/health?tab=registry&page=99")
    assert response.status_code == 200
    assert "raw.events" in response.content.decode()


def test_tabs_explain_when_nothing_was_evaluated_yet(viewer, db):
    html = viewer.get("/ops/health?tab=checks").content.decode()
    assert "No health evaluation yet" in html


def test_pages_load_nothing_from_another_host(viewer, platform):
    html = viewer.get("/ops/health").content.decode()
    assert 'href="/static/opshealth/dashboard.css"' in html
    assert 'src="/static/opshealth/dashboard.js"' in html
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", "")


def test_raw_ranks_objects_by_lateness_with_watermarks_and_ingestion(viewer, platform):
    html = viewer.get("/ops/health?tab=raw").content.decode()
    assert "1 stale, 0 with no signal, 0 fresh" in html
    assert f'href="/ops/health/objects/{platform.raw.pk}">raw.events</a>' in html
    assert '<strong class="error">2d 0h</strong>' in html  # 3 days old, 1 day allowed
    assert "<code>raw.events</code>" in html  # its watermark
    assert "Rows inserted into raw.events per day" in html
    assert "10 rows inserted" in html


def test_mv_shows_refresh_state_and_duration_history(viewer, platform):
    html = viewer.get("/ops/health?tab=mv").content.decode()
    assert f'href="/ops/health/objects/{platform.matview.pk}">mart.daily_events</a>' in html
    assert ">OK</span>" in html and "1.2 s" in html
    assert "Duration of the last 1 refreshes of mart.daily_events" in html


def test_overview_lists_the_open_incidents(viewer, platform):
    AlertRuleFactory(name="loads must pass", kind="run_failed")
    run_cycle()
    html = viewer.get("/ops/health").content.decode()
    assert "Open incidents" in html
    assert "load_events" in html and "loads must pass" in html
