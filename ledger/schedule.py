"""A pipeline's expected schedule and the state it implies, as cron monitors do.

Pure functions of (schedule, the pipeline's last runs, now): no database access, so the
API, the `checks` app (`pipeline_overdue`) and the tests all use the same rules.

States, most urgent first:

- `running_too_long`: a run that is not terminal started more than `max_duration` ago;
- `missing`: no run for a whole period past the expected start plus grace (two expected
  starts have passed without a run, or the pipeline has never run at all);
- `late`: the latest expected start plus grace has passed without a run for it, but the
  slot before it did get one;
- `ok`: the latest expected start (minus grace, once grace has elapsed) has a run;
- `unknown`: no schedule (neither cron nor interval) is configured.

A run "covers" an expected start E when it started at or after E - grace: jobs fired a
little early by clock skew must not read as late. While E + grace has not passed yet the
previous slot is the one judged, so a job inside its grace period is still `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

OK, LATE, MISSING, RUNNING_TOO_LONG, UNKNOWN = "ok", "late", "missing", "running_too_long", "unknown"
STATES = (OK, LATE, MISSING, RUNNING_TOO_LONG, UNKNOWN)


@dataclass(frozen=True)
class Schedule:
    cron: str = ""
    interval: timedelta | None = None
    timezone: str = "UTC"
    grace: timedelta = timedelta(0)
    max_duration: timedelta | None = None

    @classmethod
    def of(cls, pipeline) -> Schedule:
        """The schedule of a `ledger.models.Pipeline` (or anything with its fields)."""
        return cls(
            cron=pipeline.schedule_cron or "",
            interval=pipeline.schedule_interval,
            timezone=pipeline.schedule_timezone or "UTC",
            grace=pipeline.grace or timedelta(0),
            max_duration=pipeline.max_duration,
        )

    def previous_ticks(self, before: datetime) -> tuple[datetime, datetime]:
        """The two latest cron ticks at or before `before`, newest first, in UTC.

        Ticks are computed in the schedule's time zone, so "0 2 * * *" in Europe/Paris
        follows DST. On the autumn night that repeats 02:00-03:00, croniter yields the
        wall-clock time twice; cron runs the job once, at the first, so the repeat is
        skipped.
        """
        zone = ZoneInfo(self.timezone)
        it = croniter(self.cron, before.astimezone(zone))
        newest = it.get_prev(datetime)
        older = it.get_prev(datetime)
        while older.replace(tzinfo=None) == newest.replace(tzinfo=None):
            newest, older = older, it.get_prev(datetime)
        return newest.astimezone(ZoneInfo("UTC")), older.astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class ScheduleState:
    state: str
    # The expected start being judged (the latest one whose grace has elapsed).
    expected_at: datetime | None = None
    # When the next expected start becomes overdue (expected start + grace).
    next_due_at: datetime | None = None
    last_started_at: datetime | None = None
    running_since: datetime | None = None
    reason: str = ""


def state_of(pipeline, now: datetime) -> ScheduleState:
    """The state of a pipeline annotated by `Pipeline.objects.with_latest_run()`."""
    return evaluate(
        Schedule.of(pipeline),
        now=now,
        last_started_at=getattr(pipeline, "latest_started_at", None),
        running_since=getattr(pipeline, "running_since", None),
        created_at=pipeline.created_at,
    )


def validate_cron(expr: str) -> str | None:
    """An error message for a bad cron expression, or None."""
    if expr and not croniter.is_valid(expr):
        return f"'{expr}' is not a valid cron expression."
    return None


def validate_period(value: timedelta | None, *, allow_zero: bool = False) -> str | None:
    """An error message for a schedule interval, grace or maximum run time that is
    negative (or zero, where a zero makes no sense), or None."""
    if value is None or value > timedelta(0) or (allow_zero and value == timedelta(0)):
        return None
    return "Must be positive." if not allow_zero else "Must not be negative."


def validate_timezone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"'{name}' is not a known time zone."
    return None


def evaluate(
    schedule: Schedule,
    *,
    now: datetime,
    last_started_at: datetime | None,
    running_since: datetime | None = None,
    created_at: datetime | None = None,
) -> ScheduleState:
    """The schedule state of one pipeline.

    `last_started_at`: start of its newest run, whatever its status; `running_since`:
    start of its oldest run that is not terminal; `created_at`: when the pipeline was
    registered (a pipeline never run is only missing once a slot has passed since then).
    """
    if running_since and schedule.max_duration and now - running_since > schedule.max_duration:
        return ScheduleState(
            RUNNING_TOO_LONG,
            last_started_at=last_started_at,
            running_since=running_since,
            reason=f"a run started {_ago(now - running_since)} ago, longer than the maximum "
            f"{_ago(schedule.max_duration)}",
        )
    if schedule.cron:
        return _evaluate_cron(schedule, now, last_started_at, running_since, created_at)
    if schedule.interval:
        return _evaluate_interval(schedule, now, last_started_at, running_since, created_at)
    return ScheduleState(
        UNKNOWN, last_started_at=last_started_at, running_since=running_since, reason="no schedule"
    )


def _evaluate_cron(schedule, now, last_started_at, running_since, created_at) -> ScheduleState:
    grace = schedule.grace
    # 1. The slot being judged is the newest one whose grace has elapsed.
    expected, previous = schedule.previous_ticks(now - grace)
    # 2. The slot after it is the next to become overdue, once its own grace elapses.
    zone = ZoneInfo(schedule.timezone)
    it = croniter(schedule.cron, expected.astimezone(zone))
    following = it.get_next(datetime)
    while following.replace(tzinfo=None) == expected.astimezone(zone).replace(tzinfo=None):
        following = it.get_next(datetime)  # the repeated autumn hour again
    next_due = following.astimezone(ZoneInfo("UTC")) + grace
    # 3. Judge the slot against the newest run start.
    return _judge(schedule, now, expected, previous, next_due, last_started_at, running_since, created_at)


def _evaluate_interval(schedule, now, last_started_at, running_since, created_at) -> ScheduleState:
    grace, interval = schedule.grace, schedule.interval
    anchor = last_started_at or created_at
    if anchor is None:
        return ScheduleState(MISSING, reason="never ran", running_since=running_since)
    expected = anchor + interval
    if now <= expected + grace:
        # The next run is not overdue yet: the last one (or registration) covers us.
        return ScheduleState(
            OK,
            expected_at=anchor,
            next_due_at=expected + grace,
            last_started_at=last_started_at,
            running_since=running_since,
            reason="on schedule" if last_started_at else "not due yet",
        )
    state = LATE if now <= expected + interval + grace else MISSING
    if last_started_at is None:
        state = MISSING
    return ScheduleState(
        state,
        expected_at=expected,
        next_due_at=expected + grace,
        last_started_at=last_started_at,
        running_since=running_since,
        reason=_overdue_reason(state, expected, now, last_started_at),
    )


def _judge(schedule, now, expected, previous, next_due, last_started_at, running_since, created_at):
    grace = schedule.grace
    covered = last_started_at is not None and last_started_at >= expected - grace
    if covered or (last_started_at is None and created_at is not None and created_at > expected):
        state = OK
        reason = "on schedule" if covered else "not due yet"
    elif last_started_at is not None and last_started_at >= previous - grace:
        state, reason = LATE, _overdue_reason(LATE, expected, now, last_started_at)
    elif last_started_at is None and created_at is not None and created_at > previous:
        # Registered between the two slots: only one expected start was missed.
        state, reason = LATE, _overdue_reason(LATE, expected, now, None)
    else:
        state, reason = MISSING, _overdue_reason(MISSING, expected, now, last_started_at)
    return ScheduleState(
        state,
        expected_at=expected,
        next_due_at=next_due,
        last_started_at=last_started_at,
        running_since=running_since,
        reason=reason,
    )


def _overdue_reason(state: str, expected: datetime, now: datetime, last: datetime | None) -> str:
    since = f"last run started {_ago(now - last)} ago" if last else "never ran"
    if state == LATE:
        return f"expected a run at {expected.isoformat()}; {since}"
    return f"no run for a whole period since {expected.isoformat()}; {since}"


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    return f"{seconds // 60}m{seconds % 60}s"
