"""Long-window figures are computed at most once a minute and say when they were."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from opshealth.dashboard.recent import recent


def test_figures_are_reused_within_the_minute_then_recomputed(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 60
    calls = []
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = recent("k", lambda: calls.append(1) or len(calls))
        assert recent("k", lambda: calls.append(1) or len(calls)) == first == (1, start)
    later = start + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert recent("k", lambda: calls.append(1) or len(calls)) == (2, later)


def test_zero_seconds_computes_every_time(db, settings):
    settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS = 0
    calls = []
    recent("k", lambda: calls.append(1))
    recent("k", lambda: calls.append(1))
    assert len(calls) == 2


def test_the_runs_tab_says_how_old_its_figures_are(viewer, platform):
    html = viewer.get("/ops/health?tab=runs").content.decode()
    assert "Figures over days of runs as of <time" in html
