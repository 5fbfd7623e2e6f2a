"""MV: the materialized views, worst first: populated, last refresh and its status,
duration history, stale by age or relative to their inputs."""

from __future__ import annotations

from django.utils import timezone

from checks.staleness import object_staleness, refresh_history
from opshealth.dashboard import svg
from opshealth.dashboard.recent import recent
from opshealth.dashboard.tabs.base import Tab, page_of
from registry.models import RegistryObject

HISTORY = 30
ORDER = {"FAILED": 0, "NOT_POPULATED": 1, "STALE": 2, "NEVER_REFRESHED": 3, "OK": 4}


class Mv(Tab):
    key = "mv"
    title = "MV"
    params = frozenset({"page"})
    cached = True

    def context(self, request, evaluation):
        (staleness, populated), as_of = recent("mv", self.states)
        rows = sorted(
            ((r, r.mv_status(populated.get(r.object_id)), populated.get(r.object_id)) for r in staleness),
            key=lambda row: (ORDER[row[1]], not row[0].is_critical, row[0].qualified_name),
        )
        page = page_of(rows, request.GET.get("page"))
        history = refresh_history([r.object_id for r, _, _ in page], last=HISTORY)
        return {
            "page": page,
            "rows": [
                (r, status, pop, self.durations(r.qualified_name, history.get(r.object_id, [])))
                for r, status, pop in page
            ],
            "counts": {status: sum(1 for _, s, _ in rows if s == status) for status in ORDER},
            "history": HISTORY,
            "as_of": as_of,
        }

    @staticmethod
    def states() -> tuple[list, dict[int, bool | None]]:
        """Every materialized view's staleness, and its populated flag as of the last
        discovery (what /api/v1/ops/mv-health reads too)."""
        staleness = object_staleness(timezone.now(), only="matview")
        populated = dict(
            RegistryObject.objects.filter(object_type="matview", exists_in_db=True).values_list(
                "id", "is_populated"
            )
        )
        return staleness, populated

    @staticmethod
    def durations(name: str, refreshes: list[tuple]):
        """The refreshes' durations, oldest first, failed ones in the failure colour."""
        refreshes = refreshes[::-1]
        labels = [f"{ended:%Y-%m-%d %H:%M}" for ended, *_ in refreshes]
        seconds = [(duration or 0) / 1000 for _, _, duration, _ in refreshes]
        return svg.stacked_bars(
            labels,
            {
                status: [s if r[1] == status else 0 for r, s in zip(refreshes, seconds, strict=True)]
                for status in ("success", "failed")
            },
            label=f"Duration of the last {len(refreshes)} refreshes of {name}",
            width=180,
            height=28,
            unit=" s",
            slots=HISTORY,
        )


TAB = Mv
