"""OpsHealth's own jobs (evaluate_health, refresh_matviews): never twice at once, and
each recorded in the ledger like any other pipeline, so a stopped scheduler shows up as
`pipeline_overdue` (spec §7).

The ledger's RunLogger is built on the `ledger` branch; until it is merged here,
`JobRun` writes the same rows (Run, RunAsset) through the ledger models.
"""

from __future__ import annotations

import hashlib
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import connection
from django.utils import timezone

from ledger.models import Pipeline, Run, RunAsset


@contextmanager
def exclusive(job_name: str) -> Iterator[bool]:
    """Hold a session-level PostgreSQL advisory lock on `job_name` while the body runs.

    Yields False (and the body should skip its work) when another session holds it.
    Session-level, not transaction-level: the refresh job commits once per view.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [job_name])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [job_name])


class JobRun:
    """A ledger Run of one of OpsHealth's own jobs, with its run assets."""

    def __init__(self, pipeline_name: str, *, triggered_by: str = "cli", started_at: datetime | None = None):
        self.pipeline, _ = Pipeline.objects.get_or_create(namespace="", name=pipeline_name)
        started = started_at or timezone.now()
        self.run = Run.objects.create(
            pipeline=self.pipeline,
            external_run_id=str(uuid.uuid4()),
            triggered_by=triggered_by,
            status=Run.RUNNING,
            started_at=started,
            last_event_at=started,
        )

    def log_asset(
        self,
        asset_key: str,
        *,
        kind: str,
        status: str,
        started_at: datetime,
        ended_at: datetime,
        error: str = "",
        extra: dict | None = None,
    ) -> RunAsset:
        return RunAsset.objects.create(
            run=self.run,
            asset_key=asset_key,
            normalized_key=asset_key.lower(),
            kind=kind,
            status=status,
            started_at=started_at,
            ended_at=ended_at,
            duration_ms=int((ended_at - started_at).total_seconds() * 1000),
            error_message=error,
            extra=extra or {},
        )

    def finish(
        self,
        status: str,
        *,
        ended_at: datetime | None = None,
        error: BaseException | None = None,
        args: dict | None = None,
    ) -> None:
        run = self.run
        run.status = status
        run.ended_at = ended_at or timezone.now()
        run.last_event_at = run.ended_at
        run.duration_ms = int((run.ended_at - run.started_at).total_seconds() * 1000)
        if args:
            run.args = args
        if error is not None:
            run.error_type = type(error).__name__
            run.error_message = str(error)[:2000]
            run.error_stack_hash = _stack_hash(error)
        run.save()

    @classmethod
    def skipped(cls, pipeline_name: str, *, triggered_by: str = "cli") -> Run:
        """Record an overlap: another instance held the lock. `aborted`, not `failed`."""
        job = cls(pipeline_name, triggered_by=triggered_by)
        job.run.error_type = "SkippedOverlap"
        job.run.error_message = "another instance of this job was running (advisory lock held)"
        job.finish(Run.ABORTED, args={"skipped": "overlap"})
        return job.run


def _stack_hash(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    key = type(error).__name__ + "|" + "|".join(f"{f.filename}:{f.name}" for f in frames)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
