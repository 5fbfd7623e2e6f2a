"""One health evaluation: run every check, persist the snapshot, results and violations.

Steps:
  0. re-infer the sources whose classification evidence is newer than their inference;
  1. evaluate each check of `CHECKS` against one shared `Context` (constant queries);
  2. aggregate: global status (seed rule), counts, health score over monitored objects,
     band from the thresholds in settings, explanation;
  3. persist in one transaction (bulk inserts: 3 INSERTs whatever the item count);
  4. prune history older than OPSHEALTH_HEALTH_HISTORY_DAYS.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checks.health import CHECKS, CheckOutcome, Context, HealthCheck
from checks.jobs import exclusive, record_skipped
from checks.models import ERROR, INFO, OK, WARN, CheckRun, Evaluation, Violation, band_for, global_status_for
from ledger.logger import RunLogger
from ledger.models import Run
from registry import inference

logger = logging.getLogger("opshealth.evaluate")

PIPELINE = "opshealth.evaluate_health"
MAX_NAMES_IN_REMEDY = 5


def effective_severity(check: HealthCheck, outcome: CheckOutcome) -> str:
    """A warning check whose items escalated to ERROR counts as error severity."""
    return "error" if outcome.status == ERROR else check.severity


def evaluate(*, now: datetime | None = None, trigger: str = "cli") -> Evaluation:
    """Evaluate all checks and persist the snapshot. Returns the saved Evaluation."""
    now = now or timezone.now()
    started = time.perf_counter()
    inference.infer_stale()  # judge the classification the evidence gives now
    ctx = Context(now)
    results: list[tuple[HealthCheck, CheckOutcome, int]] = []
    for cls in CHECKS.values():
        check = cls()
        t0 = time.perf_counter()
        outcome = check.evaluate(ctx)
        results.append((check, outcome, int((time.perf_counter() - t0) * 1000)))

    pairs = [(effective_severity(c, o), o.status) for c, o, _ in results]
    failing_objects = {
        item.object_id for _, o, _ in results for item in o.items if item.level != INFO and item.object_id
    }
    monitored = ctx.monitored_ids
    failing_monitored = len(monitored & failing_objects)
    score = (
        100.0 if not monitored else round(100.0 * (len(monitored) - failing_monitored) / len(monitored), 2)
    )

    evaluation = Evaluation(
        evaluated_at=now,
        trigger=trigger,
        global_status=global_status_for(pairs),
        error_count=sum(1 for sev, st in pairs if sev == "error" and st == ERROR),
        warn_count=sum(1 for sev, st in pairs if st == WARN or (st == ERROR and sev != "error")),
        ok_count=sum(1 for _, st in pairs if st == OK),
        monitored_count=len(monitored),
        failing_monitored_count=failing_monitored,
        violation_count=sum(1 for _, o, _ in results for i in o.items if i.level != INFO),
        health_score=score,
        band=band_for(score),
        healthy_threshold=settings.OPSHEALTH_HEALTHY_THRESHOLD,
        degraded_threshold=settings.OPSHEALTH_DEGRADED_THRESHOLD,
        explanation=explain(results),
    )
    with transaction.atomic():
        evaluation.duration_ms = int((time.perf_counter() - started) * 1000)
        evaluation.save()
        runs = CheckRun.objects.bulk_create(
            [
                CheckRun(
                    evaluation=evaluation,
                    check_key=check.check_key,
                    severity=effective_severity(check, outcome),
                    status=outcome.status,
                    message=outcome.message,
                    drilldown_url=check.drilldown_url,
                    offending_count=sum(1 for i in outcome.items if i.level != INFO),
                    info_count=sum(1 for i in outcome.items if i.level == INFO),
                    evaluated_at=now,
                    duration_ms=ms,
                )
                for check, outcome, ms in results
            ]
        )
        Violation.objects.bulk_create(
            [
                Violation(
                    evaluation=evaluation,
                    check_run=run,
                    check_key=run.check_key,
                    level=item.level,
                    object_id=item.object_id,
                    subject_type=item.subject_type,
                    subject=item.subject[:600],
                    detail=item.detail,
                )
                for run, (_, outcome, _) in zip(runs, results, strict=True)
                for item in outcome.items
            ],
            batch_size=2000,
        )
    Evaluation.prune(now=now)
    return evaluation


def explain(results: list[tuple[HealthCheck, CheckOutcome, int]]) -> dict:
    """Contributing checks (worst first) and, for each, what would turn it green."""
    failing = [(c, o) for c, o, _ in results if o.status != OK]
    failing.sort(key=lambda co: (co[1].status != ERROR, co[0].check_key))
    contributing, to_green = [], []
    for check, outcome in failing:
        bad = [i for i in outcome.items if i.level != INFO]
        names = [i.subject for i in bad[:MAX_NAMES_IN_REMEDY]]
        more = f" and {len(bad) - len(names)} more" if len(bad) > len(names) else ""
        contributing.append(
            {
                "check_key": check.check_key,
                "severity": effective_severity(check, outcome),
                "status": outcome.status,
                "message": outcome.message,
                "offending_count": len(bad),
                "drilldown_url": check.drilldown_url,
            }
        )
        to_green.append(
            {"check_key": check.check_key, "action": f"{check.remedy}: {', '.join(names)}{more}."}
        )
    return {"contributing": contributing, "to_turn_green": to_green}


def evaluate_as_job(*, trigger: str = "cli", now: datetime | None = None) -> Evaluation | None:
    """`evaluate` under the job's advisory lock, recorded in the ledger as a run of
    `opshealth.evaluate_health`. Returns None (and records the skip) on overlap."""
    ledger_trigger = Run.triggered_by_for(trigger)
    with exclusive(PIPELINE) as acquired:
        if not acquired:
            record_skipped(PIPELINE, triggered_by=ledger_trigger)
            return None
        with RunLogger(PIPELINE, triggered_by=ledger_trigger, args={"trigger": trigger}):
            evaluation = evaluate(now=now, trigger=trigger)
    ping_heartbeat()
    return evaluation


def ping_heartbeat() -> None:
    """The dead-man switch: GET OPSHEALTH_HEARTBEAT_URL (healthchecks.io or a compatible
    service) after each successful evaluation, so a scheduler that stopped, or a
    database that went away, pages from outside. A failed ping is logged (the URL's host
    only: the rest is a secret), never raised."""
    url = settings.OPSHEALTH_HEARTBEAT_URL
    if not url:
        return
    try:
        with urllib.request.urlopen(url, timeout=settings.OPSHEALTH_HEARTBEAT_TIMEOUT_S):
            pass
    except OSError as exc:
        logger.warning("heartbeat ping to %s failed: %s", urlsplit(url).hostname, type(exc).__name__)
