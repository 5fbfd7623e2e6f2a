"""The run ledger: a plain record of what happened.

The bottom layer of OpsHealth: it imports nothing from `registry` or `checks`. Asset
keys are stored as received plus a normalized form (see `ledger.keys`); mapping them to
registry objects is the registry's job.

Idempotency lives in the schema: unique (pipeline, external_run_id), unique (run,
asset_key, partition_key), unique (asset_key, scope_key), unique event content hash.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token for the API; also the OpenLineage API key.

    Only a SHA-256 of the token is stored: the clear token is shown once, at creation.
    """

    SCOPE_INGEST = "ingest"
    SCOPE_READ = "read"
    SCOPE_ADMIN = "admin"
    SCOPES = [
        (SCOPE_INGEST, "ingest (write runs, events, results)"),
        (SCOPE_READ, "read"),
        (SCOPE_ADMIN, "admin (staff writes: sources, overrides, resolvers, actions)"),
    ]

    name = models.SlugField(max_length=100, unique=True)
    scope = models.CharField(max_length=20, choices=SCOPES, default=SCOPE_READ)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to recognise a token."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope}, {self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, scope: str, user=None) -> tuple[ApiToken, str]:
        """Create a token; returns it with the clear value, which is never stored."""
        raw = "oh_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            name=name, scope=scope, user=user, token_hash=cls.hash(raw), prefix=raw[:10]
        )
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """Every scope may read; besides, an ingest token ingests and an admin token
        makes the staff writes. Neither includes the other (see `common.auth`)."""
        return self.is_active and scope in (self.scope, self.SCOPE_READ)


class Client(models.Model):
    """A customer, account or team: the scope pipelines and alerts belong to."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PipelineQuerySet(models.QuerySet):
    def with_latest_run(self) -> PipelineQuerySet:
        """Annotated with the newest run and the oldest unfinished run.

        Adds latest_run_id (uuid), latest_status, latest_started_at, latest_ended_at and
        running_since. Correlated subqueries in one statement, each an index probe on
        ledger_run_pipe_started (pipeline, -started_at): no N+1, no scan of all runs.
        """
        latest = Run.objects.filter(pipeline=OuterRef("pk"), started_at__isnull=False).order_by(
            "-started_at", "-id"
        )
        running = Run.objects.filter(
            pipeline=OuterRef("pk"), status__in=[Run.STARTED, Run.RUNNING], started_at__isnull=False
        ).order_by("started_at")
        return self.annotate(
            latest_run_id=Subquery(latest.values("run_id")[:1]),
            latest_status=Subquery(latest.values("status")[:1]),
            latest_started_at=Subquery(latest.values("started_at")[:1]),
            latest_ended_at=Subquery(latest.values("ended_at")[:1]),
            running_since=Subquery(running.values("started_at")[:1]),
        )


class Pipeline(models.Model):
    """A stable job name. OpenLineage jobs map here by (namespace, name)."""

    namespace = models.CharField(max_length=300, blank=True, default="")
    name = models.CharField(max_length=300)
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.SET_NULL, related_name="pipelines"
    )
    owner = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    # Expected schedule: a cron expression or a fixed interval, plus a grace period
    # (as cron monitors do) and an optional maximum run time.
    schedule_cron = models.CharField(max_length=100, blank=True)
    schedule_interval = models.DurationField(null=True, blank=True)
    schedule_timezone = models.CharField(max_length=64, default="UTC")
    grace = models.DurationField(null=True, blank=True)
    max_duration = models.DurationField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="ledger_pipeline_ns_name_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class RunQuerySet(models.QuerySet):
    def terminal(self) -> RunQuerySet:
        """Finished runs (success, failed, aborted) with a start time."""
        return self.filter(status__in=Run.TERMINAL, started_at__isnull=False)

    def latest_terminal(self) -> RunQuerySet:
        """The latest terminal run of each pipeline (by start time, then id), the one
        definition behind `pipeline_run_failed`, `/metrics` and the dashboard.

        One index probe of ledger_run_pipe_started per pipeline, never a sort of every
        run; `started_at IS NOT NULL` matches the index's DESC (NULLS FIRST) order.
        """
        latest = (
            Run.objects.terminal().filter(pipeline=OuterRef("pk")).order_by("-started_at", "-id").values("pk")
        )
        return self.filter(pk__in=Pipeline.objects.values(latest=Subquery(latest[:1])))


class Run(models.Model):
    STARTED, RUNNING, SUCCESS, FAILED, ABORTED = (
        "started",
        "running",
        "success",
        "failed",
        "aborted",
    )
    STATUSES = [(s, s) for s in (STARTED, RUNNING, SUCCESS, FAILED, ABORTED)]
    TERMINAL = frozenset({SUCCESS, FAILED, ABORTED})
    TRIGGERS = [(t, t) for t in ("cli", "cron", "scheduler", "api", "manual", "openlineage")]

    run_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    # The idempotent ingestion key: a replayed event names the same run.
    external_run_id = models.CharField(max_length=200)
    external_run_id_is_uuid = models.BooleanField(default=True)
    triggered_by = models.CharField(max_length=20, choices=TRIGGERS, default="api")
    status = models.CharField(max_length=10, choices=STATUSES, default=STARTED)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    # Event time of the newest event applied: run state is ordered by it, not arrival.
    last_event_at = models.DateTimeField(null=True, blank=True)
    nominal_time = models.DateTimeField(
        null=True, blank=True, help_text="Logical time (OpenLineage nominalTime)."
    )
    provider = models.CharField(max_length=100, blank=True)
    storage_backend = models.CharField(max_length=100, blank=True)
    args = models.JSONField(default=dict, blank=True)
    git_sha = models.CharField(max_length=64, blank=True)
    app_version = models.CharField(max_length=64, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    error_stack_hash = models.CharField(max_length=64, blank=True)
    # Events that arrived but could not be applied (a START after a terminal state…).
    anomalies = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "external_run_id"], name="ledger_run_pipeline_extid_uniq"
            )
        ]
        indexes = [
            # latest run per pipeline; runs of a pipeline over time
            models.Index(fields=["pipeline", "-started_at"], name="ledger_run_pipe_started"),
            # runs list / runs per day, cursor pagination on time
            models.Index(fields=["-started_at", "-id"], name="ledger_run_started"),
            models.Index(fields=["status", "-started_at"], name="ledger_run_status_started"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} {self.external_run_id} {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class RunAsset(models.Model):
    KINDS = [(k, k) for k in ("table", "view", "matview", "file", "dataset")]
    STATUSES = [(s, s) for s in ("success", "failed", "skipped")]
    DIRECTIONS = [("output", "output"), ("input", "input")]

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="assets")
    asset_key = models.CharField(max_length=500)
    normalized_key = models.CharField(max_length=500, db_index=True)
    kind = models.CharField(max_length=10, choices=KINDS, default="table")
    direction = models.CharField(max_length=6, choices=DIRECTIONS, default="output")
    partition_key = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=STATUSES, default="success")
    rows_inserted = models.BigIntegerField(null=True, blank=True)
    rows_updated = models.BigIntegerField(null=True, blank=True)
    rows_deleted = models.BigIntegerField(null=True, blank=True)
    bytes_written = models.BigIntegerField(null=True, blank=True)
    min_event_time = models.DateTimeField(null=True, blank=True)
    max_event_time = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "asset_key", "partition_key"], name="ledger_runasset_uniq")
        ]
        indexes = [
            # newest successful write per asset (staleness)
            models.Index(fields=["normalized_key", "status", "-ended_at"], name="ledger_asset_key_status"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_key} ({self.status})"


class Watermark(models.Model):
    """How far an asset has been loaded. Monotonic: never moves back."""

    asset_key = models.CharField(max_length=500)
    normalized_key = models.CharField(max_length=500, db_index=True)
    scope_key = models.CharField(max_length=200, blank=True, default="")
    watermark_ts = models.DateTimeField()
    updated_at = models.DateTimeField(default=timezone.now)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset_key", "scope_key"], name="ledger_watermark_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.asset_key}[{self.scope_key}] @ {self.watermark_ts}"


class CheckResult(models.Model):
    """A persisted data-check result. Every result is kept, pass and fail, for trends."""

    SEVERITIES = [(s, s) for s in ("error", "warn", "info")]
    STATUSES = [(s, s) for s in ("pass", "fail", "skip")]

    asset_key = models.CharField(max_length=500)
    normalized_key = models.CharField(max_length=500)
    partition_key = models.CharField(max_length=200, blank=True, default="")
    check_name = models.CharField(max_length=200)
    severity = models.CharField(max_length=5, choices=SEVERITIES, default="error")
    status = models.CharField(max_length=4, choices=STATUSES)
    metrics = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="check_results"
    )
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Idempotent ingestion: a replayed event cannot add the same result twice.
            models.UniqueConstraint(
                fields=["run", "asset_key", "partition_key", "check_name", "checked_at"],
                name="ledger_check_replay_uniq",
                nulls_distinct=False,
            )
        ]
        indexes = [
            # latest result per (asset, check); trends per check
            models.Index(fields=["normalized_key", "check_name", "-checked_at"], name="ledger_check_latest"),
            models.Index(fields=["-checked_at"], name="ledger_check_time"),
        ]

    def __str__(self) -> str:
        return f"{self.check_name} on {self.asset_key}: {self.status}"


class LineageEvent(models.Model):
    """Every raw OpenLineage event, stored once (unique content hash).

    `manage.py rebuild_ledger` re-derives runs from this log deterministically.
    """

    content_hash = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now)
    event_time = models.DateTimeField()
    event_type = models.CharField(max_length=10, blank=True)
    job_namespace = models.CharField(max_length=300)
    job_name = models.CharField(max_length=300)
    run_external_id = models.CharField(max_length=200)
    payload = models.JSONField()
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="lineage_events"
    )

    class Meta:
        indexes = [models.Index(fields=["event_time", "id"], name="ledger_lineage_replay")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.job_namespace}/{self.job_name} {self.run_external_id}"
