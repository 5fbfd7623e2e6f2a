"""OpsHealth monitors itself: is its own scheduler running? Judged on read, from the ledger.

OpsHealth's jobs are ledger pipelines named `opshealth.*` whose expected schedule and
grace `setup_schedules` keeps equal to the job table (opshealth/schedules.py). When the
task cluster is down, nothing evaluates, so the latest evaluation would go on saying
what it said; the web process therefore judges these pipelines itself, on read of
`ops/health-global`, `/metrics` and the dashboard (one query), with the ledger's
schedule rules (`ledger/schedule.py`, the ones `pipeline_overdue` applies). The
judgement is kept for `JUDGED_SECONDS` in the cache: judging (the annotated query,
croniter's ticks for each job) made a poll of `ops/health-global` cost three times
as much CPU (bench/health.py: 4.0 against 1.3 ms), and a stopped job shows at most
that many seconds later, against a grace of minutes.

The scheduler is *stopped* when one of its scheduled jobs is late or missing; the global
status then reads at least WARN, whatever the latest evaluation said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache

from checks.models import OK, WARN
from ledger import schedule
from ledger.models import Pipeline

PREFIX = "opshealth."
OVERDUE = (schedule.LATE, schedule.MISSING)
RUNNING, STOPPED, NOT_SET_UP = "running", "stopped", "not_set_up"
JUDGED_SECONDS = 5
_CACHE_KEY = "selfmonitor:scheduler_state"


@dataclass(frozen=True)
class JobState:
    job: str
    state: str  # ledger/schedule.py: ok | late | missing | running_too_long | unknown
    reason: str
    expected_at: datetime | None
    last_started_at: datetime | None
    last_success_at: datetime | None

    @property
    def overdue(self) -> bool:
        return self.state in OVERDUE


@dataclass(frozen=True)
class SchedulerState:
    jobs: list[JobState]

    @property
    def status(self) -> str:
        if any(j.overdue for j in self.jobs):
            return STOPPED
        if not any(j.state != schedule.UNKNOWN for j in self.jobs):
            return NOT_SET_UP
        return RUNNING

    @property
    def message(self) -> str:
        overdue = [j for j in self.jobs if j.overdue]
        if overdue:
            return "the scheduler stopped: " + "; ".join(f"{j.job} {j.state} ({j.reason})" for j in overdue)
        if self.status == NOT_SET_UP:
            return "no OpsHealth job is scheduled (run manage.py setup_schedules)"
        return "the scheduler is running: every OpsHealth job ran on time"

    @property
    def fingerprint(self) -> str:
        """Changes whenever what `as_dict` shows may change (cache keys)."""
        return " ".join(f"{j.job}:{j.state}:{j.expected_at}:{j.last_success_at}" for j in self.jobs)

    def global_status(self, evaluated: str) -> str:
        """The latest evaluation's global status, at least WARN while the scheduler is stopped."""
        return WARN if self.status == STOPPED and evaluated == OK else evaluated

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "message": self.message,
            "jobs": [
                {
                    "job": j.job,
                    "state": j.state,
                    "reason": j.reason,
                    "expected_at": j.expected_at,
                    "last_started_at": j.last_started_at,
                    "last_success_at": j.last_success_at,
                }
                for j in self.jobs
            ],
        }


def scheduler_state(now: datetime) -> SchedulerState:
    """The state of each of OpsHealth's own jobs at `now`, as judged at most
    `JUDGED_SECONDS` before it (by any process sharing the cache)."""
    hit = cache.get(_CACHE_KEY)
    if hit is not None and hit[0] <= now < hit[0] + timedelta(seconds=JUDGED_SECONDS):
        return hit[1]
    state = _judge(now)
    cache.set(_CACHE_KEY, (now, state), JUDGED_SECONDS)
    return state


def _judge(now: datetime) -> SchedulerState:
    """The state of each of OpsHealth's own jobs at `now`: one query."""
    pipelines = (
        Pipeline.objects.filter(namespace="", name__startswith=PREFIX)
        .order_by("name")
        .with_latest_run()
        .with_last_success()
    )
    jobs = []
    for p in pipelines:
        st = schedule.state_of(p, now)
        jobs.append(
            JobState(p.name, st.state, st.reason, st.expected_at, st.last_started_at, p.last_success_at)
        )
    return SchedulerState(jobs)
