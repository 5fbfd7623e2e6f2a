"""Health evaluations: one snapshot per run of `evaluate_health`, the result of each
check in it, and the offending items (violations) behind each result.

Append-only history (kept for trends and audit), bounded by `Evaluation.prune`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

OK, WARN, ERROR, INFO = "OK", "WARN", "ERROR", "INFO"
STATUSES = [(OK, OK), (WARN, WARN), (ERROR, ERROR)]
# INFO items are listed in a check's drilldown but never make it fail.
ITEM_LEVELS = [(INFO, INFO), (WARN, WARN), (ERROR, ERROR)]
SEVERITIES = [("info", "info"), ("warning", "warning"), ("error", "error")]
BANDS = [("healthy", "healthy"), ("degraded", "degraded"), ("critical", "critical")]
LEVEL_RANK = {OK: 0, INFO: 0, WARN: 1, ERROR: 2}


def band_for(score: float) -> str:
    """healthy ≥ OPSHEALTH_HEALTHY_THRESHOLD %, degraded ≥ OPSHEALTH_DEGRADED_THRESHOLD %, else critical."""
    if score >= settings.OPSHEALTH_HEALTHY_THRESHOLD:
        return "healthy"
    if score >= settings.OPSHEALTH_DEGRADED_THRESHOLD:
        return "degraded"
    return "critical"


def global_status_for(results: list[tuple[str, str]]) -> str:
    """(severity, status) pairs → ERROR if an error-severity check is ERROR; else WARN if
    any check is WARN or ERROR; else OK (the seed's v_health_global rule)."""
    if any(sev == "error" and st == ERROR for sev, st in results):
        return ERROR
    if any(st in (WARN, ERROR) for _, st in results):
        return WARN
    return OK


class EvaluationQuerySet(models.QuerySet):
    def latest_one(self) -> EvaluationQuerySet:
        """The latest evaluation, by time then id (two in one microsecond are told apart):
        the one definition behind `Evaluation.latest()`, `latest_version()` and alerting's
        statements over the latest evaluation (`checks.queries.latest_evaluation_sql`).
        One probe of checks_eval_time."""
        return self.order_by("-evaluated_at", "-id")[:1]

    def since(self, start: datetime) -> EvaluationQuerySet:
        return self.filter(evaluated_at__gte=start)

    def trend(self) -> dict:
        """Figures over these evaluations: count, mean and lowest score, counts by band
        and by global status, and the score of each in time order (four queries)."""
        points = list(
            self.order_by("evaluated_at").values(
                "evaluated_at", "health_score", "band", "global_status", "violation_count"
            )
        )
        scores = [p["health_score"] for p in points]
        return {
            "evaluations": len(points),
            "avg_consistency_rate": round(sum(scores) / len(scores), 2) if scores else None,
            "min_consistency_rate": min(scores, default=None),
            "evaluations_by_band": self._count_by("band"),
            "evaluations_by_global_status": self._count_by("global_status"),
            "trend": points,
        }

    def _count_by(self, field: str) -> dict[str, int]:
        return dict(self.values_list(field).annotate(n=models.Count("id")).order_by())


class Evaluation(models.Model):
    """A snapshot of the whole platform's health at one moment."""

    evaluated_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.IntegerField(default=0)
    trigger = models.CharField(max_length=10, default="cli")  # cli | api | schedule | demo
    global_status = models.CharField(max_length=5, choices=STATUSES)
    error_count = models.IntegerField(default=0)  # checks ERROR with error severity
    warn_count = models.IntegerField(default=0)  # checks WARN, or ERROR of a lesser severity
    ok_count = models.IntegerField(default=0)
    monitored_count = models.IntegerField(default=0)
    failing_monitored_count = models.IntegerField(default=0)
    violation_count = models.IntegerField(default=0)  # WARN/ERROR items over all checks
    # Share (%) of monitored objects with no failing check; 100 when nothing is monitored.
    health_score = models.FloatField(default=100.0)
    band = models.CharField(max_length=10, choices=BANDS)
    healthy_threshold = models.FloatField()
    degraded_threshold = models.FloatField()
    # {"contributing": [...], "to_turn_green": [...]}: computed once, served as is.
    explanation = models.JSONField(default=dict)

    objects = EvaluationQuerySet.as_manager()

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        # latest evaluation; trends over a time window; prune by age
        indexes = [models.Index(fields=["-evaluated_at", "-id"], name="checks_eval_time")]

    def __str__(self) -> str:
        return f"{self.evaluated_at:%Y-%m-%d %H:%M:%S} {self.global_status} {self.health_score:.1f}%"

    @classmethod
    def latest(cls) -> Evaluation | None:
        return next(iter(cls.objects.latest_one()), None)

    @classmethod
    def latest_version(cls) -> tuple[int, datetime] | None:
        """The latest evaluation's id and time, for the API's polled endpoints: one indexed
        read (checks_eval_time), without the ORM's query compilation. An evaluation never
        changes once saved, so the pair names its content (the time tells apart an id
        reused after the table was emptied)."""
        from checks import queries  # checks.queries reads this module's models

        return queries.latest_evaluation_version()

    def failing_violations(self) -> ViolationQuerySet:
        """Its WARN and ERROR items, worst first."""
        return self.violations.failing().worst_first()

    @property
    def consistent_count(self) -> int:
        return self.monitored_count - self.failing_monitored_count

    @property
    def thresholds(self) -> dict:
        return {"healthy": self.healthy_threshold, "degraded": self.degraded_threshold}

    @property
    def requires_attention(self) -> bool:
        return self.global_status == ERROR or self.band != "healthy"

    @classmethod
    def prune(cls, *, now=None) -> int:
        """Delete evaluations older than OPSHEALTH_HEALTH_HISTORY_DAYS; the latest is always kept.

        Results and violations go with them (ON DELETE CASCADE).
        """
        now = now or timezone.now()
        latest = cls.latest()
        cutoff = now - timedelta(days=settings.OPSHEALTH_HEALTH_HISTORY_DAYS)
        qs = cls.objects.filter(evaluated_at__lt=cutoff)
        if latest is not None:
            qs = qs.exclude(pk=latest.pk)
        _deleted, per_model = qs.delete()
        return per_model.get(cls._meta.label, 0)


class CheckRun(models.Model):
    """One check's result in one evaluation."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="results")
    check_key = models.CharField(max_length=60)
    # The check's declared severity, raised to "error" when an item escalated it
    # (e.g. an unregistered object used by an endpoint).
    severity = models.CharField(max_length=10, choices=SEVERITIES)
    status = models.CharField(max_length=5, choices=STATUSES)
    message = models.TextField()
    drilldown_url = models.CharField(max_length=300)
    offending_count = models.IntegerField(default=0)
    info_count = models.IntegerField(default=0)
    evaluated_at = models.DateTimeField()
    duration_ms = models.IntegerField(default=0)

    class Meta:
        ordering = ["check_key"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "check_key"], name="checks_checkrun_uniq")
        ]
        # a check's history over time (trends per check)
        indexes = [models.Index(fields=["check_key", "-evaluated_at"], name="checks_checkrun_key_time")]

    def __str__(self) -> str:
        return f"{self.check_key}: {self.status}"

    @classmethod
    def failing_since(cls, check_keys: list[str]) -> dict[str, datetime]:
        """When each check's current failing streak began: its first result after its
        latest OK one (its oldest kept result when it never was OK). One statement; each
        key costs two probes of checks_checkrun_key_time, whatever the history's length."""
        from checks import queries  # checks.queries reads this module's models

        return {key: since for key, since in queries.failing_since(list(check_keys), OK) if since is not None}


class ViolationQuerySet(models.QuerySet):
    def failing(self) -> ViolationQuerySet:
        """WARN and ERROR items: INFO items are listed in a drilldown but never fail."""
        return self.exclude(level=INFO)

    def worst_first(self) -> ViolationQuerySet:
        """ERROR, then WARN, then INFO; by check, subject and id within a level."""
        rank = models.Case(
            models.When(level=ERROR, then=models.Value(0)),
            models.When(level=WARN, then=models.Value(1)),
            default=models.Value(2),
            output_field=models.IntegerField(),
        )
        return self.annotate(rank=rank).order_by("rank", "check_key", "subject", "id")


class Violation(models.Model):
    """An offending item behind a check result: the drilldown, kept for audit."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="violations")
    check_run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="violations")
    check_key = models.CharField(max_length=60)
    level = models.CharField(max_length=5, choices=ITEM_LEVELS)
    # The registry object when there is one; `subject` names the item either way
    # ("mart.daily_sales", a pipeline, a source, an unresolved asset key).
    object = models.ForeignKey(
        "registry.RegistryObject", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_type = models.CharField(max_length=20)  # object | asset | pipeline | source | name
    subject = models.CharField(max_length=600)
    detail = models.JSONField(default=dict)

    objects = ViolationQuerySet.as_manager()

    class Meta:
        ordering = ["evaluation", "check_key", "-level", "subject"]
        # violations of one evaluation, filtered by check (drilldown, /health/violations)
        indexes = [models.Index(fields=["evaluation", "check_key"], name="checks_violation_eval_key")]

    def __str__(self) -> str:
        return f"{self.check_key} {self.level} {self.subject}"


class Action(models.Model):
    """A request to rerun a job now (checks/actions.py): from the API or the admin, or a
    retry planned by the control loop (checks/retry.py). Every one is kept: who asked,
    when, what, and the outcome, with the ledger run it produced.

    Life cycle: queued → running → done | failed. At most one action of a kind and
    target is queued at a time (a partial unique index); a request for one already
    queued or running returns that one.
    """

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED)]
    IN_FLIGHT = (QUEUED, RUNNING)
    API, ADMIN, CONTROL_LOOP = "api", "admin", "control_loop"
    VIA = [(v, v) for v in (API, ADMIN, CONTROL_LOOP)]

    kind = models.CharField(max_length=40)  # a key of checks.actions.ACTIONS
    # Canonical text of the target (a source name, "source:schema.name", "" for evaluate).
    target = models.CharField(max_length=600, blank=True)
    source = models.ForeignKey(
        "registry.Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object = models.ForeignKey(
        "registry.RegistryObject", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=200)  # "alice", "token:ops-bot", "control loop"
    via = models.CharField(max_length=20, choices=VIA)
    requested_at = models.DateTimeField(default=timezone.now)
    # A retry waits for its cooldown: it is not run before this time.
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    run = models.ForeignKey("ledger.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Retries (control loop): the failed run this one retries, and which attempt it is.
    parent_run = models.ForeignKey(
        "ledger.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "target"], condition=models.Q(state="queued"), name="checks_action_one_queued"
            )
        ]
        indexes = [
            # the actions list, newest first
            models.Index(fields=["-requested_at", "-id"], name="checks_action_time"),
            # in flight per target (idempotent requests, retry states of the checks)
            models.Index(
                fields=["kind", "target"],
                condition=models.Q(state__in=["queued", "running"]),
                name="checks_action_in_flight",
            ),
            # the circuit breaker: recent auto-retries of a source
            models.Index(fields=["source", "via", "-requested_at"], name="checks_action_source_via"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.target or '-'} ({self.state})"

    @staticmethod
    def object_target(obj) -> str:
        """The canonical target of an action on a registry object."""
        return f"{obj.source.name}:{obj.qualified_name}"

    @property
    def trigger(self) -> str:
        """The job trigger of what this action runs (Run.triggered_by_for)."""
        return "schedule" if self.via == self.CONTROL_LOOP else "api"

    def enqueue(self) -> None:
        """Hand to the task cluster: now, or (a retry in cooldown) at `not_before`."""
        from django_q.models import Schedule
        from django_q.tasks import async_task, schedule

        if self.not_before and self.not_before > timezone.now():
            task = schedule(
                "checks.actions.perform", self.pk, schedule_type=Schedule.ONCE, next_run=self.not_before
            )
            task_id = f"schedule:{task.pk}"
        else:
            task_id = str(async_task("checks.actions.perform", self.pk))
        Action.objects.filter(pk=self.pk).update(task_id=task_id)
        self.task_id = task_id

    @classmethod
    def claim(cls, pk: int) -> Action | None:
        """queued → running, by a conditional UPDATE: of two workers handed the same
        action (a duplicate delivery, an expedited retry) only one runs it."""
        now = timezone.now()
        if not cls.objects.filter(pk=pk, state=cls.QUEUED).update(state=cls.RUNNING, started_at=now):
            return None
        return cls.objects.select_related("source", "object__source", "parent_run").get(pk=pk)

    def finish(self, state: str, outcome: str, run) -> None:
        self.state, self.outcome, self.run, self.finished_at = state, outcome, run, timezone.now()
        self.save(update_fields=["state", "outcome", "run", "finished_at"])


class RetryPolicy(models.Model):
    """An object's override of the control loop's retry policy (checks/retry.py); a NULL
    field takes the default from settings (OPSHEALTH_RETRY_MAX_ATTEMPTS, …_COOLDOWN)."""

    object = models.OneToOneField(
        "registry.RegistryObject", on_delete=models.CASCADE, related_name="retry_policy"
    )
    # Attempts in all, the first included: 1 never retries.
    max_attempts = models.PositiveSmallIntegerField(null=True, blank=True)
    # Wait before the first retry; it doubles for each further one.
    cooldown = models.DurationField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retry policies"

    def __str__(self) -> str:
        return f"retry policy of {self.object}"


# The alerting and data-check models live in their own packages (app label "checks");
# imported here so Django registers them.
from checks.alerts.models import (  # noqa: E402, F401
    AlertRule,
    Channel,
    Delivery,
    Incident,
    IncidentEvent,
    MaintenanceWindow,
    Notification,
    Silence,
    SubjectState,
)
from checks.datachecks.models import DataCheck  # noqa: E402, F401
