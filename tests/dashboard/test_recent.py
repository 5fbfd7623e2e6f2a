"""Figures and tab contents are computed at most once a minute, by one caller at a time:
a stale value is served while a thread recomputes it, a value of another state is
recomputed at once (the others serve the previous value meanwhile); each says when it was."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.evaluate import evaluate_as_job
from checks.models import Action
from opshealth.dashboard.recent import _revalidations, recent

# Session, user and the latest evaluation: the page around the content, rendered per
# request (the scheduler's state, judged by the first view, is reused for a few seconds:
# checks/selfmonitor.py).
HEADER_QUERIES = 3


def main(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


def recomputed() -> None:
    """Wait until the revalidation thread has done what was queued (it runs one thing at a
    time, in order)."""
    _revalidations.submit(lambda: None).result(10)


def test_figures_are_reused_within_the_minute_then_recomputed(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    calls = []
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = recent("k", lambda: calls.append(1) or len(calls))
        assert recent("k", lambda: calls.append(1) or len(calls)) == first == (1, start)
    later = start + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert recent("k", lambda: calls.append(1) or len(calls)) == first  # and recomputed
        recomputed()
        assert recent("k", lambda: calls.append(1) or len(calls)) == (2, later)


def test_another_state_recomputes_at_once(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    assert recent("k", lambda: "first", state="evaluation 1")[0] == "first"
    assert recent("k", lambda: "second", state="evaluation 1")[0] == "first"
    assert recent("k", lambda: "third", state="evaluation 2")[0] == "third"


def test_zero_seconds_computes_every_time(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 0
    calls = []
    recent("k", lambda: calls.append(1))
    recent("k", lambda: calls.append(1))
    assert len(calls) == 2


def test_a_stale_value_is_served_while_one_thread_recomputes_it(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        recent("k", lambda: "old")
    computing, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> str:
        calls.append(threading.current_thread().name)
        computing.set()
        release.wait(10)
        return "new"

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        # The caller that finds it stale is not kept waiting either.
        assert recent("k", slow)[0] == "old"
        assert computing.wait(10)
        # Meanwhile: the previous value, without computing it again.
        assert recent("k", slow)[0] == "old"
        release.set()
        recomputed()
        assert recent("k", slow) == ("new", start + timedelta(seconds=61))
    assert calls == ["dashboard-revalidate_0"]


def test_a_recompute_in_the_background_uses_one_core_and_closes_its_connection(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    seen = []

    def parallel_workers() -> str:
        with connection.cursor() as cur:
            cur.execute("SHOW max_parallel_workers_per_gather")
            seen.append((cur.fetchone()[0], connections["default"]))  # this thread's
        return seen[-1][0]

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        # The first computation has nothing to serve meanwhile: its caller waits, and
        # PostgreSQL may use its parallel workers.
        assert recent("k", parallel_workers)[0] == "2"
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        recent("k", parallel_workers)
        recomputed()
        assert recent("k", parallel_workers)[0] == "0"
    (_, main), (_, background) = seen
    assert background is not main and background.connection is None  # closed
    assert main.connection is not None


def test_a_failed_recompute_keeps_the_previous_value_served(db, settings, caplog):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        recent("k", lambda: "old")

    def failing() -> str:
        raise RuntimeError("the database went away")

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert recent("k", failing)[0] == "old"
        recomputed()
        assert "recomputing dashboard:k failed" in caplog.text
        # The lock is released: the next caller tries again.
        assert recent("k", lambda: "new")[0] == "old"
        recomputed()
        assert recent("k", lambda: "again")[0] == "new"


def test_figures_nested_in_a_recomputed_content_are_recomputed_in_its_thread(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    threads = []

    def figures() -> str:
        threads.append(threading.current_thread().name)
        return f"figures {len(threads)}"

    def content() -> str:
        return "content of " + recent("figures", figures)[0]

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert recent("content", content)[0] == "content of figures 1"
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert recent("content", content)[0] == "content of figures 1"
        recomputed()
        # One thread recomputed both: the content never shows figures older than itself.
        assert recent("content", content)[0] == "content of figures 2"
    assert threads == ["MainThread", "dashboard-revalidate_0"]


def test_with_nothing_cached_the_others_wait_for_the_one_computing(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    computing, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> str:
        calls.append(1)
        computing.set()
        release.wait(10)
        return "value"

    results = []
    first = threading.Thread(target=lambda: results.append(recent("k", slow)[0]))
    first.start()
    assert computing.wait(10)
    waiting = threading.Thread(target=lambda: results.append(recent("k", slow)[0]))
    waiting.start()
    release.set()
    first.join(10)
    waiting.join(10)
    assert results == ["value", "value"] and len(calls) == 1


def test_a_tab_is_served_from_the_cache_until_a_new_evaluation(viewer, platform, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    first = viewer.get("/ops/health?tab=checks").content.decode()
    assert "As of <time" in first
    with CaptureQueriesContext(connection) as queries:
        again = viewer.get("/ops/health?tab=checks").content.decode()
    assert len(queries) == HEADER_QUERIES
    assert main(again) == main(first)
    evaluation = evaluate_as_job(trigger="api")
    with CaptureQueriesContext(connection) as queries:
        viewer.get("/ops/health?tab=checks")
    assert len(queries) > HEADER_QUERIES
    assert evaluation.evaluated_at > platform.evaluation.evaluated_at


def test_a_stale_tab_costs_its_viewer_only_the_header_while_a_thread_renders_it(
    transactional_db, viewer, platform, settings
):
    # transactional_db: the thread's own connection sees the platform's committed rows.
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = viewer.get("/ops/health?tab=runs").content.decode()
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        with CaptureQueriesContext(connection) as queries:
            stale = viewer.get("/ops/health?tab=runs").content.decode()
        # The header, and the scheduler judged again (a minute later); the tab's own
        # queries run in the thread.
        assert len(queries) == HEADER_QUERIES + 1, [q["sql"][:80] for q in queries]
        assert main(stale) == main(first)
        recomputed()
        with CaptureQueriesContext(connection) as queries:
            fresh = viewer.get("/ops/health?tab=runs").content.decode()
        assert len(queries) == HEADER_QUERIES
    assert main(fresh) != main(first)  # as of 61 s later
    assert "failed" in main(fresh)  # the platform's failed run, seen by the thread's connection


def test_each_staff_user_gets_a_working_csrf_token_from_a_cached_page(platform, staff_user, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    other = get_user_model().objects.create_user("other", "other@example.com", "pw", is_staff=True)
    for user in (staff_user, other):  # the second page comes from the cache
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        html = client.get("/ops/health?tab=mv").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]
        response = client.post(
            "/ops/health/actions",
            {"csrfmiddlewaretoken": token, "action": "refresh", "target": platform.matview.pk},
        )
        assert response.status_code == 302, user
    assert Action.objects.filter(kind="refresh").count() == 1  # queued once, then "already queued"


def test_the_registry_list_shows_a_registry_change_at_once(viewer, platform, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    url = "/ops/health?tab=registry&criticality=critical"
    assert "raw.events" not in viewer.get(url).content.decode()
    platform.raw.criticality = "critical"
    platform.raw.save(update_fields=["criticality"])
    assert "raw.events" in viewer.get(url).content.decode()
