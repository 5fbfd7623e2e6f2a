"""OpsHealth's own jobs: one table, applied to django-q2 by `manage.py setup_schedules`.

Each row is a job: a django-q2 schedule of the same name (the task `opshealth.schedules.run`
with the job's name as its argument) and a ledger pipeline of the same name, whose
expected schedule and grace `setup_schedules` keeps equal to the table's, so a stopped
cluster shows up as `pipeline_overdue` (self-monitoring).

The function of a row is the one its management command calls. It is called as
`func(trigger="schedule", **kwargs)`; it records its run in the ledger under the job's
name (RunLogger) and returns a short summary (stored as the task's result). The task
holds the job's advisory lock around it, so a job never runs twice at once, across
processes and machines; a tick that finds the lock held is recorded as a skipped run.

Adding a job is adding a row. Each cadence is a cron expression (in TIME_ZONE, as
django-q2 evaluates it) that the environment variable `OPSHEALTH_SCHEDULE_<NAME>`
overrides (`OPSHEALTH_SCHEDULE_EVALUATE_HEALTH="* * * * *"`), or switches `off`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from croniter import croniter
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from checks.jobs import exclusive, record_skipped
from ledger.models import Pipeline

logger = logging.getLogger("opshealth.schedules")

TASK = "opshealth.schedules.run"
PREFIX = "opshealth."


@dataclass(frozen=True)
class Job:
    name: str
    cron: str  # default cadence
    func: str  # dotted path of the function the task and the management command call
    # How late a run may start before the job is overdue. Shorter than the interval: a
    # run covers the tick `grace` after it (ledger/schedule.py), so a stopped cluster
    # shows as overdue one interval plus grace after its last run.
    grace: timedelta
    description: str
    kwargs: dict = field(default_factory=dict)

    @property
    def env_var(self) -> str:
        return "OPSHEALTH_SCHEDULE_" + self.name.removeprefix(PREFIX).upper()

    def cadence(self) -> str | None:
        """The effective cron expression; None when switched off."""
        value = os.environ.get(self.env_var, "").strip() or self.cron
        if value.lower() == "off":
            return None
        if not croniter.is_valid(value):
            raise ImproperlyConfigured(f"{self.env_var}={value!r} is not a cron expression (or 'off')")
        return value

    def next_run(self, after: datetime) -> datetime | None:
        cron = self.cadence()
        if cron is None:
            return None
        return croniter(cron, timezone.localtime(after)).get_next(datetime)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "opshealth.discover",
            "15 3 * * *",
            "registry.discovery.discover_sources",
            timedelta(hours=2),
            "discover every active source",
        ),
        Job(
            "opshealth.evaluate_health",
            "*/5 * * * *",
            "checks.evaluate.evaluate_as_job",
            timedelta(minutes=2),
            "evaluate every health and coverage check",
        ),
        Job(
            "opshealth.refresh_matviews",
            "0 * * * *",
            "checks.refresh.refresh_matviews",
            timedelta(minutes=15),
            "refresh the materialized views that are due by their refresh schedule",
            kwargs={"due": True},
        ),
        Job(
            "opshealth.data_checks",
            "* * * * *",
            "checks.datachecks.runner.run_due",
            timedelta(seconds=30),
            "run the data checks that are due by their own cron schedule",
        ),
        Job(
            "opshealth.prune",
            "30 4 * * *",
            "checks.jobs.prune",
            timedelta(hours=1),
            "prune the ledger and the evaluation history",
        ),
        Job(
            "opshealth.dispatch_alerts",
            "* * * * *",
            "checks.alerts.cycle.run_cycle_as_job",
            timedelta(minutes=5),
            "evaluate the alert rules, deliver the due notifications",
        ),
    )
}


def run(name: str) -> str | None:
    """The django-q2 task of every schedule: run job `name` under its advisory lock."""
    job = JOBS.get(name)
    if job is None:
        # A schedule left from an older table; setup_schedules removes it.
        logger.warning("no job named %s in opshealth.schedules.JOBS; run setup_schedules", name)
        return None
    with exclusive(job.name) as acquired:
        if not acquired:
            record_skipped(job.name, triggered_by="scheduler")
            return "skipped: another run of this job holds its lock"
        result = import_string(job.func)(trigger="schedule", **job.kwargs)
    return None if result is None else str(result)


@dataclass(frozen=True)
class Change:
    name: str
    action: str  # created | updated | removed | unchanged | off
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action:9} {self.name}{' ' + self.detail if self.detail else ''}"


def apply() -> list[Change]:
    """Make django-q2's OpsHealth schedules and the jobs' pipelines match the table.

    Schedules are matched by name (django-q2 refuses duplicate names); one whose cron is
    unchanged keeps its next run, so applying twice changes nothing. Schedules named
    `opshealth.*` that are not in the table (or are off) are removed.
    """
    changes = []
    with transaction.atomic():
        existing = {s.name: s for s in Schedule.objects.select_for_update().filter(name__startswith=PREFIX)}
        for job in JOBS.values():
            cron = job.cadence()
            _sync_pipeline(job, cron)
            current = existing.pop(job.name, None)
            if cron is None:
                if current is not None:
                    current.delete()
                    changes.append(Change(job.name, "removed", f"({job.env_var}=off)"))
                else:
                    changes.append(Change(job.name, "off", f"({job.env_var}=off)"))
                continue
            wanted = {"func": TASK, "args": repr(job.name), "schedule_type": Schedule.CRON, "cron": cron}
            if current is None:
                Schedule.objects.create(name=job.name, repeats=-1, **wanted)
                changes.append(Change(job.name, "created", cron))
                continue
            differs = {k: v for k, v in wanted.items() if getattr(current, k) != v}
            if not differs and current.repeats == -1:
                changes.append(Change(job.name, "unchanged", cron))
                continue
            for key, value in wanted.items():
                setattr(current, key, value)
            current.repeats = -1
            if "cron" in differs or "schedule_type" in differs:
                current.next_run = job.next_run(timezone.now())
            current.save()
            changes.append(Change(job.name, "updated", f"{', '.join(sorted(differs)) or 'repeats'} → {cron}"))
        for name, stale in sorted(existing.items()):
            stale.delete()
            changes.append(Change(name, "removed", "(no longer in the table)"))
    return changes


def _sync_pipeline(job: Job, cron: str | None) -> None:
    """The job's ledger pipeline expects what the table says (none when off)."""
    wanted = {
        "schedule_cron": cron or "",
        "schedule_interval": None,
        "schedule_timezone": settings.TIME_ZONE,
        "grace": job.grace,
        "description": job.description,
        "owner": "opshealth",
    }
    pipeline, created = Pipeline.objects.get_or_create(namespace="", name=job.name, defaults=wanted)
    if not created and any(getattr(pipeline, k) != v for k, v in wanted.items()):
        Pipeline.objects.filter(pk=pipeline.pk).update(**wanted)


def listing() -> list[tuple[Job, str | None, datetime | None]]:
    """Each job with its effective cadence and its schedule's next run (None: not set up)."""
    next_runs = dict(Schedule.objects.filter(name__in=list(JOBS)).values_list("name", "next_run"))
    return [(job, job.cadence(), next_runs.get(job.name)) for job in JOBS.values()]
