"""OpsHealth's own jobs (evaluate_health, refresh_matviews) never run twice at once;
`prune` is the retention job.

Each job is recorded in the ledger through `RunLogger`, like any other pipeline, so a
stopped scheduler shows up as `pipeline_overdue` (spec §7). A run skipped because
another instance held the lock is recorded too, as an `aborted` run with
`error_type = "SkippedOverlap"`: aborted, not failed, and an aborted run is no outcome
(`Run.objects.outcomes()`): it neither fails pipeline_run_failed nor clears a failure
before it, which stays the job's latest outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from checks import queries
from checks.models import Evaluation
from ledger import ingest, retention
from ledger.logger import RunLogger
from ledger.models import Run

PRUNE_PIPELINE = "opshealth.prune"


@contextmanager
def exclusive(job_name: str) -> Iterator[bool]:
    """Hold a session-level PostgreSQL advisory lock on `job_name` while the body runs.

    Yields False (the body should then skip its work) when another session holds it.
    Session-level, not transaction-level: refresh_matviews commits once per view.
    """
    acquired = queries.try_job_lock(job_name)
    try:
        yield acquired
    finally:
        if acquired:
            queries.release_job_lock(job_name)


def record_skipped(pipeline: str, *, triggered_by: str = "cli") -> Run:
    """Record an overlap in the ledger: one terminal `aborted` run."""
    now = timezone.now()
    (outcome,) = ingest.ingest_events(
        [
            ingest.RunEvent(
                pipeline=pipeline,
                external_run_id=str(uuid.uuid4()),
                status=Run.ABORTED,
                event_time=now,
                started_at=now,
                ended_at=now,
                triggered_by=triggered_by,
                args={"skipped": "overlap"},
                error_type="SkippedOverlap",
                error_message="another instance of this job was running (advisory lock held)",
            )
        ]
    )
    return outcome.run


def prune(*, trigger: str = "cli") -> dict[str, int]:
    """The retention job `opshealth.prune`: the ledger's history older than
    OPSHEALTH_LEDGER_RETENTION_DAYS (what `manage.py prune_ledger` deletes) and health
    evaluations older than OPSHEALTH_HEALTH_HISTORY_DAYS; one ledger run. Returns the
    number of rows deleted of each kind."""
    with RunLogger(PRUNE_PIPELINE, triggered_by=Run.triggered_by_for(trigger)):
        now = timezone.now()
        counts = retention.prune(now - timedelta(days=settings.OPSHEALTH_LEDGER_RETENTION_DAYS))
        counts["evaluations"] = Evaluation.prune(now=now)
    return counts
