"""Runs: the latest outcome and schedule state of every pipeline, runs per day stacked by
status, and the flaky ranking with its evidence, broken pipelines kept apart."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ledger import schedule
from ledger.analytics import BROKEN, flaky_ranking, flaky_window_start, runs_per_day, schedule_states
from ledger.models import Pipeline, Run
from opshealth.dashboard import svg
from opshealth.dashboard.recent import recent
from opshealth.dashboard.tabs.base import Tab, page_of

WINDOW_DAYS = 30
RANKED = 25  # rows of the flaky ranking shown
# Bottom-up order of the stacked bars.
STACK = (Run.FAILED, Run.ABORTED, Run.SUCCESS, Run.RUNNING, Run.STARTED)
# Schedule states that need a person, most urgent first.
ATTENTION = (schedule.RUNNING_TOO_LONG, schedule.MISSING, schedule.LATE)


class Runs(Tab):
    key = "runs"
    title = "Runs"
    params = frozenset({"page"})
    cached = True

    def context(self, request, evaluation):
        now = timezone.now()
        since = now - timedelta(days=WINDOW_DAYS)
        states = schedule_states(now, Pipeline.objects.select_related("client").with_latest_outcome())
        # Failing (latest outcome failed, as pipeline_run_failed) and overdue pipelines
        # first, then by name.
        states.sort(
            key=lambda ps: (
                ps[0].latest_outcome_status != Run.FAILED,
                ps[1].state not in ATTENTION,
                str(ps[0]),
            )
        )
        flaky_since = flaky_window_start(now)  # the window /ledger/flaky and /metrics use
        (days, ranking), as_of = recent(
            f"runs:{WINDOW_DAYS}", lambda: (runs_per_day(since, now), flaky_ranking(flaky_since))
        )
        return {
            "pipelines": page_of(states, request.GET.get("page")),
            "attention": [ps for ps in states if ps[1].state in ATTENTION],
            "runs_svg": svg.stacked_bars(
                [d.day.isoformat() for d in days],
                {status: [d.counts.get(status, 0) for d in days] for status in STACK},
                label=f"Runs per day by status, last {WINDOW_DAYS} days",
                width=720,
                height=120,
            ),
            "stack": STACK,
            "first_day": days[0].day,
            "last_day": days[-1].day,
            "failed_total": sum(d.counts.get(Run.FAILED, 0) for d in days),
            "runs_total": sum(d.total for d in days),
            # Most flaky first: the head of the ranking; /api/v1/ledger/flaky has it all.
            "flaky": [f for f in ranking if f.classification != BROKEN][:RANKED],
            "ranked_total": sum(1 for f in ranking if f.classification != BROKEN),
            "broken": [f for f in ranking if f.classification == BROKEN],
            "window_days": WINDOW_DAYS,
            "flaky_days": (now - flaky_since).days,
            "as_of": as_of,
        }


TAB = Runs
