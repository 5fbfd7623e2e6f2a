"""Reliability figures over the run ledger: set-based SQL, one query per figure (the raw
statements in `ledger.queries`).

Every function takes a window start (`since`) and returns small dataclasses; none
loops over runs in Python. Only outcomes count toward rates (`Run.objects.outcomes()`:
`success` and `failed`); `aborted` (usually a person cancelling) is reported apart
and neither a failure nor a flip. Runs are ordered by (started_at, id).

The same definitions back the `ops_reporting` views (see docs/reporting.md); a change
here needs a new versioned view there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate

from ledger import queries, schedule
from ledger.models import Pipeline, Run

BROKEN, FLAKY, HEALTHY, INSUFFICIENT = "broken", "flaky", "healthy", "insufficient_data"


def schedule_states(
    now: datetime, pipelines: QuerySet[Pipeline] | None = None
) -> list[tuple[Pipeline, schedule.ScheduleState]]:
    """Every pipeline with its schedule state at `now`, in one query.

    What the `checks` app's pipeline_overdue reads: states other than ok/unknown are
    overdue (late, missing) or stuck (running_too_long).
    """
    pipelines = Pipeline.objects.all() if pipelines is None else pipelines
    return [(p, schedule.state_of(p, now)) for p in pipelines.with_latest_run()]


@dataclass(frozen=True)
class FailureRate:
    key: int | None
    label: str
    runs: int
    success: int
    failed: int
    aborted: int

    @property
    def failure_rate(self) -> float | None:
        decided = self.success + self.failed
        return round(self.failed / decided, 4) if decided else None


def failure_rates(since: datetime, by: str) -> list[FailureRate]:
    """Failure rate over terminal runs started since `since`, by pipeline, client or overall."""
    groups = {
        "pipeline": ("pipeline_id", "pipeline__namespace", "pipeline__name"),
        "client": ("pipeline__client_id", "pipeline__client__name"),
        "overall": (),
    }[by]
    counts = {
        "runs": Count("id"),
        "success": Count("id", filter=Q(status=Run.SUCCESS)),
        "failed": Count("id", filter=Q(status=Run.FAILED)),
        "aborted": Count("id", filter=Q(status=Run.ABORTED)),
    }
    runs = Run.objects.filter(started_at__gte=since, status__in=Run.TERMINAL)
    # values() with no field names would select every column: overall is an aggregate.
    rows = runs.values(*groups).annotate(**counts).order_by(*groups) if groups else [runs.aggregate(**counts)]
    result = [
        FailureRate(
            key=row.get(groups[0]) if groups else None,
            label=_label(by, row),
            runs=row["runs"],
            success=row["success"],
            failed=row["failed"],
            aborted=row["aborted"],
        )
        for row in rows
    ]
    return sorted(result, key=lambda r: (-(r.failure_rate or 0), r.label))


def _label(by: str, row: dict) -> str:
    if by == "pipeline":
        ns, name = row["pipeline__namespace"], row["pipeline__name"]
        return f"{ns}/{name}" if ns else name
    if by == "client":
        return row["pipeline__client__name"] or "(no client)"
    return "overall"


@dataclass(frozen=True)
class DayCount:
    day: date
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def runs_per_day(since: datetime, until: datetime, tz: str = "UTC") -> list[DayCount]:
    """Runs started per calendar day (in `tz`) by status; days without runs are zeros."""
    zone = ZoneInfo(tz)
    statuses = [s for s, _ in Run.STATUSES]
    by_day = {row["day"]: row for row in day_counts(since, until, zone)}
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [
        DayCount(
            day=d,
            total=by_day.get(d, {}).get("total", 0),
            counts={s: by_day.get(d, {}).get(s, 0) for s in statuses},
        )
        for d in days
    ]


def day_counts(since: datetime, until: datetime, zone: ZoneInfo) -> QuerySet:
    """runs_per_day's rows: per day (in `zone`) with runs, the runs and their count by
    status. In UTC, the migration ledger 0008's statistics on the day tell PostgreSQL how
    few days there are: it hashes the runs into them instead of sorting them all."""
    return (
        Run.objects.filter(started_at__gte=since, started_at__lt=until)
        .annotate(day=TruncDate("started_at", tzinfo=zone))
        .values("day")
        .annotate(total=Count("id"), **{s: Count("id", filter=Q(status=s)) for s, _ in Run.STATUSES})
        .order_by("day")
    )


@dataclass(frozen=True)
class Recovery:
    pipeline_id: int | None
    pipeline: str
    incidents: int
    recovered: int
    mttr_seconds: float | None


def mean_time_to_recovery(since: datetime) -> tuple[Recovery, list[Recovery]]:
    """(overall, per pipeline) time from a failure to the next success, averaged."""
    recoveries = [
        Recovery(
            pipeline_id=pid,
            pipeline=(f"{ns}/{name}" if ns else name) if pid else "overall",
            incidents=incidents,
            recovered=recovered,
            mttr_seconds=round(mttr, 3) if mttr is not None else None,
        )
        for pid, ns, name, incidents, recovered, mttr in queries.recoveries(since)
    ]
    if recoveries and recoveries[0].pipeline_id is None:
        return recoveries[0], recoveries[1:]
    return Recovery(None, "overall", 0, 0, None), recoveries


@dataclass(frozen=True)
class Flakiness:
    pipeline_id: int
    pipeline: str
    client: str | None
    sample_size: int
    failures: int
    flips: int
    flip_rate: float | None
    retry_successes: int
    failure_streak: int
    last_run_at: datetime | None
    classification: str


@dataclass(frozen=True)
class FlakyCriteria:
    min_sample: int
    flip_rate: float
    min_retry_successes: int
    broken_streak: int

    @classmethod
    def from_settings(cls) -> FlakyCriteria:
        return cls(
            min_sample=settings.OPSHEALTH_FLAKY_MIN_SAMPLE,
            flip_rate=settings.OPSHEALTH_FLAKY_FLIP_RATE,
            min_retry_successes=settings.OPSHEALTH_FLAKY_MIN_RETRY_SUCCESSES,
            broken_streak=settings.OPSHEALTH_BROKEN_STREAK,
        )


def flaky_window_start(now: datetime) -> datetime:
    """Where the default flakiness window (OPSHEALTH_FLAKY_WINDOW_DAYS) starts: the same for
    `/ledger/flaky` and `/metrics`, so that they agree."""
    return now - timedelta(days=settings.OPSHEALTH_FLAKY_WINDOW_DAYS)


def flaky_ranking(since: datetime, criteria: FlakyCriteria | None = None) -> list[Flakiness]:
    """Every pipeline with terminal runs in the window, most flaky first, with its evidence.

    The one definition of the flip rate: flips between consecutive success/failed runs
    over (runs - 1)."""
    criteria = criteria or FlakyCriteria.from_settings()
    return [
        Flakiness(
            pipeline_id=row[0],
            pipeline=f"{row[1]}/{row[2]}" if row[1] else row[2],
            client=row[3],
            sample_size=row[4],
            failures=row[5],
            flips=row[6],
            flip_rate=row[7],
            retry_successes=row[8],
            failure_streak=row[9],
            last_run_at=row[10],
            classification=row[11],
        )
        for row in queries.flakiness(since, criteria.__dict__)
    ]
