"""Data checks: every check OpsHealth runs, worst first, with its latest result, the pass
rate of its last 30 days as a sparkline and, when it fails, its sample rows (columns in
the table's order); above them, every opshealth.yml whose last load failed, with its
problems; `?check=<id>` shows one check's recent results."""

from __future__ import annotations

from checks.datachecks.models import DataCheck, DefinitionFile, trend_start
from checks.datachecks.queries import daily_results, data_checks_state
from opshealth.dashboard import svg
from opshealth.dashboard.tabs.base import BadParameter, Tab, page_of

DAYS = 30
RECENT = 20
# Worst first: could not run, failing at error severity, failing, not judged (never run,
# or skipped: nothing to compare with yet), passing.
ORDER = {"error": 0, "fail": 1, None: 3, "skip": 3, "pass": 4}
STATUSES = ("error", "fail", "skip", "pass", "never")


def rank(check: DataCheck) -> tuple:
    status = check.status
    order = ORDER.get(status, 3) - (0.5 if status == "fail" and check.last_result.severity == "error" else 0)
    return (order, check.object.qualified_name, check.name)


def sparkline(check: DataCheck, days: list[dict]) -> str:
    by_day = {d["day"]: d["pass_rate"] * 100 for d in days}
    start = trend_start(DAYS).date()
    values = [by_day.get(start.fromordinal(start.toordinal() + i)) for i in range(DAYS)]
    return svg.sparkline(
        values, label=f"Pass rate per day of {check.name} (%)", width=120, height=24, lo=0, hi=100
    )


class DataChecks(Tab):
    key = "data-checks"
    title = "Data checks"
    params = frozenset({"check", "status", "page"})
    cached = True

    def state(self, scheduler):
        return data_checks_state()  # a check edited or run shows at once

    def context(self, request, evaluation):
        checks = DataCheck.objects.with_latest()
        if request.GET.get("check") is not None:
            return self.detail(checks, request.GET["check"])
        status = request.GET.get("status", "")
        if status and status not in STATUSES:
            raise BadParameter(f"status must be one of {', '.join(STATUSES)}, not {status!r}.")
        everything = sorted(checks, key=rank)
        counts = {s: sum(1 for c in everything if (c.status or "never") == s) for s in STATUSES}
        shown = [c for c in everything if not status or (c.status or "never") == status]
        page = page_of(shown, request.GET.get("page"))
        trends = daily_results([c.pk for c in page], trend_start(DAYS))
        return {
            "page": page,
            "rows": [(c, sparkline(c, trends.get(c.pk, []))) for c in page],
            "counts": counts,
            "status": status,
            "statuses": STATUSES,
            "days": DAYS,
            "failed_files": list(DefinitionFile.objects.filter(status=DefinitionFile.FAILED)),
        }

    def detail(self, checks, value: str) -> dict:
        if not value.isdigit():
            raise BadParameter(f"check must be a data check id, not {value!r}.")
        check = checks.filter(pk=int(value)).first()
        if check is None:
            raise BadParameter(f"No data check {value}.")
        trend = check.trend(days=DAYS)
        return {
            "check": check,
            "spark": sparkline(check, trend),
            "results": list(check.results().order_by("-checked_at", "-id")[:RECENT]),
            "days": DAYS,
            "recent": RECENT,
        }


TAB = DataChecks
