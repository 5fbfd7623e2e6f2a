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
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from ledger.queries import Write, execute_writes, watermark_upsert


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
    def by_key(self, key: str) -> PipelineQuerySet:
        """The pipelines `key` names: an id, a name (in any namespace) or
        `namespace/name`."""
        if key.isdigit():
            return self.filter(pk=int(key))
        namespace, _, name = key.rpartition("/")
        by_name = models.Q(name=key)
        return self.filter(by_name | models.Q(namespace=namespace, name=name) if namespace else by_name)

    def with_latest_run(self) -> PipelineQuerySet:
        """Annotated with the newest run, whatever its status, and the oldest unfinished run.

        Adds latest_run_id (uuid), latest_status, latest_started_at, latest_ended_at and
        running_since. Correlated subqueries in one statement, each an index probe on
        ledger_run_pipe_started (pipeline, -started_at): no N+1, no scan of all runs.
        The reporting view v1_latest_run_per_pipeline keeps a frozen copy of this rule
        (docs/reporting.md); a test checks that they agree. Whether a pipeline is failing
        is its latest *outcome* (`with_latest_outcome`), not this run.
        """
        latest = Run.objects.filter(pipeline=OuterRef("pk"), started_at__isnull=False).newest_first()
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

    def with_latest_outcome(self) -> PipelineQuerySet:
        """Annotated with the pipeline's latest outcome, the run `Run.objects.latest_outcome()`
        picks: latest_outcome_run_id, latest_outcome_status (success or failed),
        latest_outcome_started_at and latest_outcome_ended_at; NULL when none. Index probes
        on ledger_run_pipe_started, reading back past unfinished and aborted runs.
        The reporting view v2_latest_outcome_per_pipeline keeps a frozen copy of this rule
        (docs/reporting.md); a test checks that they agree."""
        latest = Run.objects.outcomes_of(OuterRef("pk"))
        return self.annotate(
            **{f"latest_outcome_{f}": Subquery(latest.values(f)[:1]) for f in LATEST_OUTCOME_FIELDS}
        )

    def with_last_success(self) -> PipelineQuerySet:
        """Annotated with last_success_at: the end of the newest successful run (an index
        probe on ledger_run_pipe_started, reading back to the newest success)."""
        success = Run.objects.filter(
            pipeline=OuterRef("pk"), status=Run.SUCCESS, started_at__isnull=False
        ).newest_first()
        return self.annotate(last_success_at=Subquery(success.values("ended_at")[:1]))


# The run fields `with_latest_outcome` annotates, as latest_outcome_<field>.
LATEST_OUTCOME_FIELDS = ("run_id", "status", "started_at", "ended_at")


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


@dataclass
class Transition:
    """What `Run.record_event` did: `changed` means the row must be written."""

    changed: bool
    anomaly: dict | None = None


class RunQuerySet(models.QuerySet):
    def outcomes(self) -> RunQuerySet:
        """Runs that decided something: success or failed, with a start time.

        The one definition of "a pipeline's runs" for every failure rule: the check
        pipeline_run_failed, the alert conditions, `/metrics`, the dashboard, the API's
        latest outcome and the reliability figures (`ledger.analytics`). An aborted run
        is no outcome: a person cancelling, or a skipped overlap OpsHealth's scheduler
        records (`checks.jobs.record_skipped`), proves neither a failure nor a recovery;
        an unfinished run has decided nothing yet.
        """
        return self.filter(status__in=Run.OUTCOMES, started_at__isnull=False)

    def newest_first(self) -> RunQuerySet:
        """By start time, then id (two runs started in the same microsecond are told apart):
        the order of "latest" everywhere, and ledger_run_pipe_started's."""
        return self.order_by("-started_at", "-id")

    def outcomes_of(self, pipeline) -> RunQuerySet:
        """The outcomes of `pipeline` (an id, an `OuterRef`, a `RawSQL` column), newest
        first: `latest_outcome`, `Pipeline.objects.with_latest_outcome` and the alert
        cycle's raw statement (`queries.recent_outcomes_sql`) all read this queryset."""
        return self.outcomes().filter(pipeline_id=pipeline).newest_first()

    def latest_outcome(self) -> RunQuerySet:
        """The latest outcome of each pipeline: its newest success-or-failed run. A
        pipeline whose latest outcome failed is failing, whatever aborted or unfinished
        runs came after.

        One index probe of ledger_run_pipe_started per pipeline, never a sort of every
        run; `started_at IS NOT NULL` matches the index's DESC (NULLS FIRST) order.
        """
        latest = Run.objects.outcomes_of(OuterRef("pk")).values("pk")
        return self.filter(pk__in=Pipeline.objects.values(latest=Subquery(latest[:1])))


class Run(models.Model):
    """A run of a pipeline, and its state machine: one for every ingestion path
    (RunLogger, REST, OpenLineage).

    `record_event(event)` folds one event into a locked row. The rules make the result
    independent of arrival order, so that out-of-order delivery, concurrent delivery and
    `rebuild_ledger` (which replays in event-time order) agree:

    1. A duplicate is a no-op: applying an event twice changes nothing the second time.
    2. OTHER never changes state (its assets and check results are still recorded).
    3. The earliest START sets `started_at` (min of the START event times).
    4. Non-terminal statuses (started, running) follow the newest non-terminal event by
       event time, and only while the run is not terminal.
    5. Terminal states (success, failed, aborted) never regress. When two *different*
       terminal events arrive, the earliest by event time wins — the run really ended
       then; a later one is a rerun or a retry reusing the id. (Marquez keeps whichever
       arrived last, so a late START or a late retry rewrites history; "earliest wins"
       is the only choice that gives the same answer in every arrival order.) On an equal
       event time the more severe status wins: failed > aborted > success, so a failure
       is never hidden. A terminal status thus keeps its end time against redeliveries
       and against later terminal events.
    6. An event that cannot be applied is recorded in `run.anomalies`, not applied: a
       START or RUNNING whose event time is after the run's end (the latest such event is
       kept: when it arrived before the end, it is the only one still known), and the
       losing event of two different terminal events. `last_event_at` is the newest event
       time seen (OTHER aside), anomalies included.
    """

    STARTED, RUNNING, SUCCESS, FAILED, ABORTED = (
        "started",
        "running",
        "success",
        "failed",
        "aborted",
    )
    STATUSES = [(s, s) for s in (STARTED, RUNNING, SUCCESS, FAILED, ABORTED)]
    TERMINAL = frozenset({SUCCESS, FAILED, ABORTED})
    # What a run decided (`RunQuerySet.outcomes`): an aborted run decided nothing. A tuple:
    # the SQL generated from it is then the same text in every process.
    OUTCOMES = (SUCCESS, FAILED)
    # An event status that changes no state (its assets and check results are recorded).
    OTHER = "other"
    SEVERITY = {FAILED: 3, ABORTED: 2, SUCCESS: 1}
    RANK = {STARTED: 0, RUNNING: 1}
    # Descriptive fields filled from the first event that carries them (later events
    # cannot blank them; conflicting values are rare and keep the first).
    FILL_FIELDS = ("provider", "storage_backend", "git_sha", "app_version")
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

    @staticmethod
    def triggered_by_for(trigger: str) -> str:
        """The `triggered_by` of a run of OpsHealth's own jobs: `schedule` (the task
        cluster) → scheduler, `api` (an action, check-now) → api, else cli."""
        return {"schedule": "scheduler", "api": "api"}.get(trigger, "cli")

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def record_event(self, ev) -> Transition:
        """Fold event `ev` (an `ingest.RunEvent`) into this run. See the class rules."""
        changed = self._fill_context(ev)
        if ev.status == self.OTHER:
            return Transition(changed)
        t = self._apply_terminal(ev) if ev.status in self.TERMINAL else self._apply_progress(ev)
        return Transition(t.changed or changed, t.anomaly)

    def _fill_context(self, ev) -> bool:
        changed = False
        for name in self.FILL_FIELDS:
            value = getattr(ev, name)
            if value and not getattr(self, name):
                setattr(self, name, value)
                changed = True
        if ev.args and not self.args:
            self.args = ev.args
            changed = True
        if ev.nominal_time and self.nominal_time is None:
            self.nominal_time = ev.nominal_time
            changed = True
        if ev.parent_run_id and self.parent_run_id is None and ev.parent_run_id != self.pk:
            self.parent_run_id = ev.parent_run_id
            changed = True
        # An explicit start time (REST, RunLogger) counts as a START at that time.
        if ev.started_at and (self.started_at is None or ev.started_at < self.started_at):
            self.started_at = ev.started_at
            self._set_duration()
            changed = True
        return changed

    def _apply_progress(self, ev) -> Transition:
        """START / RUNNING."""
        previous = self.last_event_at
        changed = self._bump_last_event(ev.event_time)
        if ev.status == self.STARTED and (self.started_at is None or ev.event_time < self.started_at):
            self.started_at = ev.event_time
            self._set_duration()
            changed = True
        if self.is_terminal and self.ended_at and ev.event_time > self.ended_at:
            t = self._progress_anomaly(ev.status, ev.event_time)
            return Transition(t.changed or changed, t.anomaly)
        # At an equal event time RUNNING outranks STARTED, so the order of arrival of two
        # simultaneous events does not matter.
        newer = (
            previous is None
            or previous < ev.event_time
            or (previous == ev.event_time and self.RANK[ev.status] >= self.RANK.get(self.status, 0))
        )
        if not self.is_terminal and newer and self.status != ev.status:
            self.status = ev.status
            changed = True
        return Transition(changed)

    def _bump_last_event(self, at: datetime) -> bool:
        if self.last_event_at is None or at > self.last_event_at:
            self.last_event_at = at
            return True
        return False

    def _progress_anomaly(self, status: str, at: datetime) -> Transition:
        """Only the latest START/RUNNING after the end is kept: in the other arrival order
        (progress events first, the terminal event last) it is the only one still known."""
        reason = "start or progress event after the run ended"
        current = [a for a in self.anomalies if a["reason"] == reason]
        entry = _describe(status, at, reason)
        if any(
            (a["event_time"], self.RANK[a["event"]]) >= (entry["event_time"], self.RANK[status])
            for a in current
        ):
            return Transition(False)
        self.anomalies = [a for a in self.anomalies if a["reason"] != reason]
        self._record_anomaly(entry)
        return Transition(True, entry)

    def _apply_terminal(self, ev) -> Transition:
        ended = ev.ended_at or ev.event_time
        if self.is_terminal:
            if self.status == ev.status and self.ended_at == ended:
                return Transition(False)  # a duplicate
            if (ended, -self.SEVERITY[ev.status]) >= (self.ended_at, -self.SEVERITY[self.status]):
                return self._anomaly(ev.status, ended, "terminal event after the run ended")
            # The new event is earlier (or as early and more severe): it wins and the
            # previous ending becomes the anomaly, as it would have in the other order.
            self._record_anomaly(_describe(self.status, self.ended_at, "terminal event after the run ended"))
        elif self.last_event_at and self.last_event_at > ended:
            # A START/RUNNING later than this end was applied before the end arrived.
            self._progress_anomaly(self.status, self.last_event_at)
        self.status = ev.status
        self.ended_at = ended
        self.error_type = ev.error_type
        self.error_message = ev.error_message
        self.error_stack_hash = ev.error_stack_hash
        self._bump_last_event(ev.event_time)
        self._set_duration()
        return Transition(True)

    def _set_duration(self) -> None:
        if self.started_at and self.ended_at:
            self.duration_ms = max(0, int((self.ended_at - self.started_at).total_seconds() * 1000))

    def _anomaly(self, status: str, at: datetime, reason: str) -> Transition:
        entry = _describe(status, at, reason)
        if entry in self.anomalies:
            return Transition(False)
        self._record_anomaly(entry)
        return Transition(True, entry)

    def _record_anomaly(self, entry: dict) -> None:
        if entry not in self.anomalies:
            # Kept sorted so the list is the same in every arrival order.
            self.anomalies = sorted(
                [*self.anomalies, entry], key=lambda a: (a["event_time"] or "", a["event"])
            )


def _describe(status: str, at: datetime | None, reason: str) -> dict:
    return {"event": status, "event_time": at.astimezone(UTC).isoformat() if at else None, "reason": reason}


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


class WatermarkManager(models.Manager):
    def advance(self, marks: list) -> None:
        """Move watermarks forward; a mark older than the stored one changes nothing.

        `marks` are `ingest.WatermarkIn`s (asset_key, normalized_key, scope_key,
        watermark_ts, run_pk). One statement whatever their number.
        """
        execute_writes([self.advance_statement(marks)])

    def advance_statement(self, marks: list) -> Write:
        """`advance` as one statement (`queries.watermark_upsert`), for ingestion to send
        with its other writes; of two marks of one asset and scope, the newer counts."""
        if not marks:
            return None
        best: dict[tuple[str, str], object] = {}
        for w in marks:
            cur = best.get((w.asset_key, w.scope_key))
            if cur is None or w.watermark_ts > cur.watermark_ts:
                best[(w.asset_key, w.scope_key)] = w
        return watermark_upsert(self.model, [best[k] for k in sorted(best)])


class Watermark(models.Model):
    """How far an asset has been loaded. Monotonic: never moves back."""

    asset_key = models.CharField(max_length=500)
    normalized_key = models.CharField(max_length=500, db_index=True)
    scope_key = models.CharField(max_length=200, blank=True, default="")
    watermark_ts = models.DateTimeField()
    updated_at = models.DateTimeField(default=timezone.now)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = WatermarkManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset_key", "scope_key"], name="ledger_watermark_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.asset_key}[{self.scope_key}] @ {self.watermark_ts}"

    def reset(self, to: datetime, *, user=None, actor_name: str = "", reason: str = "") -> WatermarkReset:
        """Set the watermark to `to`, backwards too: the one way a watermark moves back
        (one posted in the year 9000 would otherwise stick). Audited: who, when, old → new.

        `user` is a user row, or a token's user (recorded by name only).
        """
        with transaction.atomic():
            # Locked: a concurrent ingestion's GREATEST() then applies to the reset value.
            locked = Watermark.objects.select_for_update().get(pk=self.pk)
            is_row = isinstance(user, get_user_model())
            audit = WatermarkReset.objects.create(
                watermark=locked,
                old_ts=locked.watermark_ts,
                new_ts=to,
                reset_by=user if is_row else None,
                reset_by_name=actor_name or (user.get_username() if is_row else str(user or "")),
                reason=reason,
            )
            locked.watermark_ts, locked.updated_at = to, audit.reset_at
            locked.save(update_fields=["watermark_ts", "updated_at"])
        self.watermark_ts, self.updated_at = locked.watermark_ts, locked.updated_at
        return audit


class WatermarkReset(models.Model):
    """A staff reset of a watermark (`Watermark.reset`), kept for the audit trail."""

    watermark = models.ForeignKey(Watermark, on_delete=models.CASCADE, related_name="resets")
    old_ts = models.DateTimeField()
    new_ts = models.DateTimeField()
    reset_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept when the user is deleted; a token's name when a token reset it.
    reset_by_name = models.CharField(max_length=150, blank=True)
    reset_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-reset_at", "-id"]

    def __str__(self) -> str:
        return f"{self.watermark} reset {self.old_ts} → {self.new_ts} by {self.reset_by_name}"


class CheckResult(models.Model):
    """A persisted data-check result. Every result is kept, pass and fail, for trends."""

    SEVERITIES = [(s, s) for s in ("error", "warn", "info")]
    # `error`: the check could not run (bad SQL, missing column, unreachable source).
    STATUSES = [(s, s) for s in ("pass", "fail", "error", "skip")]

    asset_key = models.CharField(max_length=500)
    normalized_key = models.CharField(max_length=500)
    partition_key = models.CharField(max_length=200, blank=True, default="")
    check_name = models.CharField(max_length=200)
    severity = models.CharField(max_length=5, choices=SEVERITIES, default="error")
    status = models.CharField(max_length=5, choices=STATUSES)
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
