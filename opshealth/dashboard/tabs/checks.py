"""Checks: every check of the latest evaluation with its status, message and since when
it fails; `?check=<key>` drills down to its offending items, each linked to its object."""

from __future__ import annotations

from checks.health import CHECKS
from checks.models import ERROR, INFO, WARN, CheckRun
from opshealth.dashboard.tabs.base import BadParameter, Tab, page_of

STATUS_ORDER = {ERROR: 0, WARN: 1}


class Checks(Tab):
    key = "checks"
    title = "Checks"
    params = frozenset({"check", "level", "page"})
    cached = True

    def context(self, request, evaluation):
        if evaluation is None:
            return {}
        key = request.GET.get("check")
        if key is None:
            results = sorted(
                evaluation.results.all(), key=lambda r: (STATUS_ORDER.get(r.status, 2), r.check_key)
            )
            since = CheckRun.failing_since([r.check_key for r in results if r.status != "OK"])
            return {"results": [(r, since.get(r.check_key)) for r in results]}
        if key not in CHECKS:
            raise BadParameter(f"Unknown check {key!r}; the checks are: {', '.join(CHECKS)}.")
        result = evaluation.results.filter(check_key=key).first()
        if result is None:
            raise BadParameter(f"The latest evaluation has no result for {key!r}.")
        level = request.GET.get("level", "")
        items = result.violations.worst_first()
        if level:
            if level not in (ERROR, WARN, INFO):
                raise BadParameter(f"level must be ERROR, WARN or INFO, not {level!r}.")
            items = items.filter(level=level)
        page = page_of(items, request.GET.get("page"))
        return {
            "result": result,
            "check": CHECKS[key](),
            "level": level,
            "page": page,
            "since": CheckRun.failing_since([key]).get(key) if result.status != "OK" else None,
        }


TAB = Checks
