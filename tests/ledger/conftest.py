"""Ledger read-side fixtures: runs of a pipeline written as a status string."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.models import Pipeline, Run
from tests.factories.ledger import RunFactory

STATUS_CODES = {"S": Run.SUCCESS, "F": Run.FAILED, "A": Run.ABORTED, "R": Run.RUNNING}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def make_runs(db):
    """make_runs(pipeline, "SSFS", start=T0, every=1h, duration=5min) -> runs, oldest first.

    S success, F failed, A aborted, R running (not terminal).
    """

    def make(
        pipeline: Pipeline,
        codes: str,
        start: datetime = T0,
        every: timedelta = timedelta(hours=1),
        duration: timedelta = timedelta(minutes=5),
        **fields,
    ) -> list[Run]:
        runs = []
        for i, code in enumerate(codes):
            status = STATUS_CODES[code]
            started = start + i * every
            ended = started + duration if status in Run.TERMINAL else None
            runs.append(
                RunFactory(
                    pipeline=pipeline,
                    status=status,
                    started_at=started,
                    ended_at=ended,
                    duration_ms=int(duration.total_seconds() * 1000) if ended else None,
                    error_type="ValueError" if status == Run.FAILED else "",
                    error_message="boom" if status == Run.FAILED else "",
                    **fields,
                )
            )
        return runs

    return make
