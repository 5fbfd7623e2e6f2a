"""Reliability figures over the run ledger: set-based SQL, one query per figure.

Every function takes a window start (`since`) and returns small dataclasses; none
loops over runs in Python. Only terminal runs count toward rates: `success` and
`failed` are the outcomes; `aborted` (usually a person cancelling) is reported apart
and neither a failure nor a flip. Runs are ordered by (started_at, id).

The same definitions back the `ops_reporting` views (see docs/reporting.md); a change
here needs a new versioned view there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate

from ledger import schedule
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
    rows = (
        Run.objects.filter(started_at__gte=since, started_at__lt=until)
        .annotate(day=TruncDate("started_at", tzinfo=zone))
        .values("day")
        .annotate(total=Count("id"), **{s: Count("id", filter=Q(status=s)) for s in statuses})
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
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


@dataclass(frozen=True)
class Recovery:
    pipeline_id: int | None
    pipeline: str
    incidents: int
    recovered: int
    mttr_seconds: float | None


# An incident starts at a failed run whose previous terminal run (in the window) was not
# a failure; it ends at the end of the next successful run. The next success is a running
# MIN over the runs in reverse order: a frame anchored at UNBOUNDED PRECEDING only grows,
# so PostgreSQL aggregates it incrementally (a frame "1 FOLLOWING … UNBOUNDED FOLLOWING"
# is recomputed per row: quadratic, 4 s instead of 0.3 s at 100k runs, see bench/).
# GROUPING SETS gives the overall row (pipeline NULL) as the mean over all incidents, not
# a mean of means.
MTTR_SQL = """
WITH terminal AS (
    SELECT r.pipeline_id, r.status, COALESCE(r.ended_at, r.started_at) AS at,
           LAG(r.status) OVER w AS prev_status,
           MIN(CASE WHEN r.status = 'success' THEN COALESCE(r.ended_at, r.started_at) END)
               OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at DESC, r.id DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS recovered_at
    FROM ledger_run r
    WHERE r.status IN ('success', 'failed') AND r.started_at >= %(since)s
    WINDOW w AS (PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id)
)
SELECT t.pipeline_id, MAX(p.namespace), MAX(p.name), COUNT(*), COUNT(t.recovered_at),
       EXTRACT(EPOCH FROM AVG(t.recovered_at - t.at))::float8
FROM terminal t JOIN ledger_pipeline p ON p.id = t.pipeline_id
WHERE t.status = 'failed' AND t.prev_status IS DISTINCT FROM 'failed'
GROUP BY GROUPING SETS ((t.pipeline_id), ())
ORDER BY t.pipeline_id NULLS FIRST
"""


def mean_time_to_recovery(since: datetime) -> tuple[Recovery, list[Recovery]]:
    """(overall, per pipeline) time from a failure to the next success, averaged."""
    with connection.cursor() as cursor:
        cursor.execute(MTTR_SQL, {"since": since})
        rows = cursor.fetchall()
    recoveries = [
        Recovery(
            pipeline_id=pid,
            pipeline=(f"{ns}/{name}" if ns else name) if pid else "overall",
            incidents=incidents,
            recovered=recovered,
            mttr_seconds=round(mttr, 3) if mttr is not None else None,
        )
        for pid, ns, name, incidents, recovered, mttr in rows
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


# 1. terminal: success/failed runs in the window, each with the previous status (LAG)
#    and its recency rank (1 = newest) within its pipeline.
# 2. per_pipeline: sample size, failures, flips (status differs from the previous run),
#    and the current failure streak (runs newer than the newest success).
# 3. logical: runs of one logical run (same nominal time, parent run and partition key)
#    where a failure was followed by a success: a retry that passed.
# 4. Classify: broken (the last N runs all failed) before flaky, so a pipeline that is
#    plainly down is never reported as merely flaky; nothing is flaky below min_sample.
FLAKY_SQL = """
WITH terminal AS (
    SELECT r.id, r.pipeline_id, r.status, r.started_at, r.nominal_time, r.parent_run_id,
           COALESCE(r.args ->> 'partition_key', '') AS partition_key,
           LAG(r.status) OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id) AS prev_status,
           ROW_NUMBER() OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at DESC, r.id DESC) AS recency
    FROM ledger_run r
    WHERE r.status IN ('success', 'failed') AND r.started_at >= %(since)s
),
per_pipeline AS (
    SELECT pipeline_id,
           COUNT(*) AS sample_size,
           COUNT(*) FILTER (WHERE status = 'failed') AS failures,
           COUNT(*) FILTER (WHERE prev_status IS NOT NULL AND status <> prev_status) AS flips,
           COALESCE(MIN(recency) FILTER (WHERE status = 'success') - 1, COUNT(*)) AS failure_streak,
           MAX(started_at) AS last_run_at
    FROM terminal
    GROUP BY pipeline_id
),
logical AS (
    SELECT pipeline_id
    FROM terminal
    WHERE nominal_time IS NOT NULL OR parent_run_id IS NOT NULL OR partition_key <> ''
    GROUP BY pipeline_id, nominal_time, parent_run_id, partition_key
    HAVING MIN(started_at) FILTER (WHERE status = 'failed')
         < MAX(started_at) FILTER (WHERE status = 'success')
),
retries AS (
    SELECT pipeline_id, COUNT(*) AS retry_successes FROM logical GROUP BY pipeline_id
),
measured AS (
    SELECT pp.*, COALESCE(rt.retry_successes, 0) AS retry_successes,
           ROUND(pp.flips::numeric / NULLIF(pp.sample_size - 1, 0), 4)::float8 AS flip_rate
    FROM per_pipeline pp LEFT JOIN retries rt USING (pipeline_id)
)
SELECT m.pipeline_id, p.namespace, p.name, c.name, m.sample_size, m.failures, m.flips,
       m.flip_rate, m.retry_successes, m.failure_streak, m.last_run_at,
       CASE WHEN m.failure_streak >= %(broken_streak)s THEN 'broken'
            WHEN m.sample_size < %(min_sample)s THEN 'insufficient_data'
            WHEN m.flip_rate >= %(flip_rate)s OR m.retry_successes >= %(min_retry_successes)s THEN 'flaky'
            ELSE 'healthy' END AS classification
FROM measured m
JOIN ledger_pipeline p ON p.id = m.pipeline_id
LEFT JOIN ledger_client c ON c.id = p.client_id
ORDER BY CASE WHEN m.sample_size >= %(min_sample)s THEN 0 ELSE 1 END,
         m.flip_rate DESC NULLS LAST, m.retry_successes DESC, m.sample_size DESC, p.name
"""


def flaky_window_start(now: datetime) -> datetime:
    """Where the default flakiness window (OPSHEALTH_FLAKY_WINDOW_DAYS) starts: the same for
    `/ledger/flaky` and `/metrics`, so that they agree."""
    return now - timedelta(days=settings.OPSHEALTH_FLAKY_WINDOW_DAYS)


def flaky_ranking(since: datetime, criteria: FlakyCriteria | None = None) -> list[Flakiness]:
    """Every pipeline with terminal runs in the window, most flaky first, with its evidence.

    The one definition of the flip rate: flips between consecutive success/failed runs
    over (runs - 1)."""
    criteria = criteria or FlakyCriteria.from_settings()
    params = {"since": since, **criteria.__dict__}
    with connection.cursor() as cursor:
        cursor.execute(FLAKY_SQL, params)
        rows = cursor.fetchall()
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
        for row in rows
    ]
