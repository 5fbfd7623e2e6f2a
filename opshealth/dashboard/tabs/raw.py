"""RAW: the RAW objects ranked by how late they are, their watermarks, and ingestion per
day (all RAW objects, and per object of the page)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from checks.staleness import ingestion_daily, object_staleness, watermarks
from opshealth.dashboard import svg
from opshealth.dashboard.recent import recent
from opshealth.dashboard.tabs.base import Tab, page_of

DAYS = 14


def by_lateness(row) -> tuple:
    """Stale objects first, latest first; then those with no signal; then the fresh ones,
    closest to their limit first."""
    if row.lateness is None:
        return (1, 0.0)
    late = row.lateness.total_seconds()
    return (0 if late > 0 else 2, -late)


class Raw(Tab):
    key = "raw"
    title = "RAW"
    params = frozenset({"page"})
    cached = True

    def context(self, request, evaluation):
        now = timezone.now()
        since = (now - timedelta(days=DAYS - 1)).date()
        (rows, daily), as_of = recent(
            f"raw:{DAYS}",
            lambda: (
                sorted(object_staleness(now, only="raw"), key=by_lateness),
                ingestion_daily(since, per_object=False),
            ),
        )
        page = page_of(rows, request.GET.get("page"))
        ids = [r.object_id for r in page]
        days = [since + timedelta(days=i) for i in range(DAYS)]
        marks: dict[int, list[tuple]] = {}
        for mark in watermarks(ids) if ids else []:
            marks.setdefault(mark[4], []).append(mark)
        per_object: dict[int, dict] = {}
        for row in ingestion_daily(since, object_ids=ids) if ids else []:
            per_object.setdefault(row["object_id"], {})[row["day"]] = row
        totals = {row["day"]: row for row in daily}
        return {
            "page": page,
            "rows": [
                (
                    r,
                    marks.get(r.object_id, []),
                    self.bars(r.qualified_name, days, per_object.get(r.object_id, {})),
                )
                for r in page
            ],
            "counts": {
                status: sum(1 for r in rows if r.status == status) for status in ("STALE", "NO_SIGNAL", "OK")
            },
            "ingestion_svg": svg.stacked_bars(
                [d.isoformat() for d in days],
                {
                    "failed": [totals.get(d, {}).get("failed", 0) for d in days],
                    "success": [totals[d]["runs"] - totals[d]["failed"] if d in totals else 0 for d in days],
                },
                label=f"Run assets written to RAW objects per day, last {DAYS} days",
                width=720,
                height=100,
            ),
            "rows_total": sum(row["rows_inserted"] for row in totals.values()),
            "first_day": days[0],
            "last_day": days[-1],
            "days": DAYS,
            "as_of": as_of,
        }

    @staticmethod
    def bars(name: str, days, by_day: dict):
        return svg.bars(
            [(d.isoformat(), by_day[d]["rows_inserted"] if d in by_day else 0) for d in days],
            label=f"Rows inserted into {name} per day, last {DAYS} days",
            width=140,
            height=24,
            unit=" rows",
        )


TAB = Raw
