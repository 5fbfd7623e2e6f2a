"""Overview: the global status and band, the score's 30-day trend, what is failing, why
and since when, what would turn it green, the open incidents, and whether OpsHealth's own jobs run on time
(the page header's scheduler state, checks/selfmonitor.py)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Min
from django.db.models.functions import TruncDay
from django.utils import timezone

from checks.alerts.models import Incident
from checks.models import CheckRun, Evaluation
from opshealth.dashboard import svg
from opshealth.dashboard.tabs.alerts import incidents_state
from opshealth.dashboard.tabs.base import Tab

TREND_DAYS = 30
OPEN_INCIDENTS = 10  # the newest unresolved incidents listed


def score_trend(now, days: int = TREND_DAYS) -> list[float | None]:
    """The lowest health score of each of the last `days` days (None: no evaluation)."""
    first = (now - timedelta(days=days - 1)).date()
    rows = (
        Evaluation.objects.filter(evaluated_at__date__gte=first)
        .annotate(day=TruncDay("evaluated_at"))
        .values("day")
        .annotate(score=Min("health_score"))
        .order_by()
    )
    by_day = {row["day"].date(): row["score"] for row in rows}
    return [by_day.get(first + timedelta(days=i)) for i in range(days)]


class Overview(Tab):
    key = "overview"
    title = "Overview"
    cached = True

    def state(self, scheduler):
        return f"{scheduler.fingerprint} {incidents_state()}"

    def context(self, request, evaluation):
        if evaluation is None:
            return {}
        now = timezone.now()
        explanation = evaluation.explanation or {}
        contributing = explanation.get("contributing", [])
        since = CheckRun.failing_since([c["check_key"] for c in contributing])
        remedies = {r["check_key"]: r["action"] for r in explanation.get("to_turn_green", [])}
        failing = [
            c | {"since": since.get(c["check_key"]), "remedy": remedies.get(c["check_key"], "")}
            for c in contributing
        ]
        trend = score_trend(now)
        incidents = Incident.objects.unresolved()
        return {
            "incidents": list(incidents.inbox()[:OPEN_INCIDENTS]),
            "incidents_by_severity": incidents.open_by_severity(),
            "failing": failing,
            "trend_svg": svg.sparkline(
                trend, label=f"Health score, lowest per day, last {TREND_DAYS} days", lo=0, hi=100, width=600
            ),
            "trend_known": sum(1 for v in trend if v is not None),
        }


TAB = Overview
