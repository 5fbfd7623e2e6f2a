"""Alerting (spec §7, issue 11): rules, channels, incidents, the notification outbox,
delivery attempts, silences and maintenance windows.

Invariants held by the schema, not by code paths:
  * at most one unresolved incident per (rule, subject): `checks_incident_one_unresolved`,
    a unique partial index;
  * a notification is enqueued once per (incident, kind, sequence, channel):
    `checks_notification_once`; its idempotency key is what webhooks receive, so a
    re-sent message (after a crash or a timeout) is recognisably the same one.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from checks.alerts.channels import CHANNELS, ChannelError, transport
from checks.alerts.messages import test_message

SEVERITIES = [("critical", "critical"), ("warning", "warning"), ("info", "info")]
SCOPE_FIELDS = ("client", "pipeline", "source", "object", "check_key")
DEFAULT_REPEAT = timedelta(hours=4)
DEFAULT_ACK_TIMEOUT = timedelta(hours=4)
MAX_AHEAD = timedelta(days=7)  # silences and snoozes end at most this far ahead


class Scoped(models.Model):
    """What a rule, a silence or a maintenance window applies to. Empty = any; the
    fields that are set combine to narrow (client AND pipeline …)."""

    scope_client = models.CharField(max_length=200, blank=True, help_text="client name")
    scope_pipeline = models.CharField(max_length=300, blank=True, help_text="pipeline name")
    scope_source = models.CharField(max_length=100, blank=True, help_text="source name")
    scope_object = models.CharField(max_length=401, blank=True, help_text="schema.object")
    scope_check_key = models.CharField(max_length=60, blank=True, help_text="health or data check key")

    class Meta:
        abstract = True

    @property
    def scope(self) -> dict[str, str]:
        return {f: getattr(self, f"scope_{f}") for f in SCOPE_FIELDS if getattr(self, f"scope_{f}")}

    def set_scope(self, scope: dict[str, str]) -> None:
        for f in SCOPE_FIELDS:
            setattr(self, f"scope_{f}", scope.get(f, ""))

    def covers(self, labels: dict[str, str]) -> bool:
        """Whether an incident with these labels is in scope (silences and windows)."""
        return all(labels.get(f) == v for f, v in self.scope.items())


class ChannelQuerySet(models.QuerySet):
    def with_failures(self):
        """Each channel with its failed delivery attempts (`failures`), tests included."""
        return self.annotate(failures=models.Count("deliveries", filter=~Q(deliveries__outcome="sent")))


class Channel(models.Model):
    """Where notifications go. `target` is a secret (webhook URLs carry tokens): the API
    never returns it, the admin and the logs show `target_display`."""

    KINDS = [(k, k) for k in CHANNELS]

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=KINDS)
    target = models.TextField(help_text="e-mail addresses (comma-separated) or a webhook URL")
    # HMAC-SHA256 key of the webhook's `X-OpsHealth-Signature` header; blank = unsigned.
    secret = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    # Set by a permanent delivery error (a 4xx, a refused address); cleared by a
    # successful test or a change of target.
    broken_at = models.DateTimeField(null=True, blank=True)
    broken_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def target_display(self) -> str:
        return mask_target(self.kind, self.target)

    def set_target(self, target: str) -> None:
        """A new target is worth trying again: it clears the broken mark."""
        if target != self.target:
            self.target = target
            self.broken_at, self.broken_reason = None, ""

    def send_test(self, *, by: str = "", now: datetime | None = None) -> Delivery:
        """Send a test message now, outside the outbox, and record the attempt. A success
        clears the broken mark; a permanent error sets it."""
        now = now or timezone.now()
        started = time.perf_counter()
        error, permanent = "", False
        try:
            key = f"opshealth-test-{self.pk}-{int(now.timestamp())}"
            transport(self.kind, self.target, self.secret).notify(test_message(self.name, by, now), key)
        except ChannelError as exc:
            error, permanent = str(exc), exc.permanent
        if not error:
            self.broken_at, self.broken_reason = None, ""
        elif permanent:
            self.broken_at, self.broken_reason = now, error[:300]
        self.save(update_fields=["broken_at", "broken_reason"])
        return Delivery.objects.create(
            channel=self,
            attempted_at=now,
            outcome="failed" if error else "sent",
            permanent=permanent,
            error=error[:500],
            duration_ms=int((time.perf_counter() - started) * 1000),
            is_test=True,
        )


def mask_target(kind: str, target: str) -> str:
    """A channel target as it may be shown: parsed, never string-replaced. A URL keeps
    its scheme and host (the path and query carry the token); an address its domain."""
    if kind == "email":
        return ", ".join(
            f"{a[:1]}***@{a.rpartition('@')[2]}" if "@" in a else "***"
            for a in (x.strip() for x in target.split(","))
            if a
        )
    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    return f"{parts.scheme}://{host}{port}/***"


class AlertRule(Scoped):
    """When to open an incident, for which subjects, and whom to tell.

    `kind` names a condition of `checks.alerts.conditions.CONDITIONS`; `params` are its
    parameters as that condition normalized them.
    """

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30)
    params = models.JSONField(default=dict, blank=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    repeat_interval = models.DurationField(
        null=True, blank=True, default=DEFAULT_REPEAT, help_text="re-notify a firing incident; empty = off"
    )
    send_resolved = models.BooleanField(default=True)
    resolve_after = models.PositiveIntegerField(default=1, help_text="consecutive good evaluations")
    severity = models.CharField(max_length=10, choices=SEVERITIES, default="warning")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from checks.alerts.conditions import CONDITIONS

        condition = CONDITIONS.get(self.kind)
        if condition is None:
            raise ValidationError({"kind": f"Unknown kind; one of {', '.join(CONDITIONS)}."})
        try:
            self.params = condition.clean_params(self.params or {})
            condition.check_scope(self.scope)
        except ValueError as exc:
            raise ValidationError({"params": str(exc)}) from exc
        if self.resolve_after < 1:
            raise ValidationError({"resolve_after": "At least 1."})


class IncidentQuerySet(models.QuerySet):
    def unresolved(self):
        return self.filter(resolved_at__isnull=True)

    def open_by_severity(self) -> dict[str, int]:
        """Unresolved incidents per severity, every severity present (/metrics, the inbox)."""
        counts = dict(self.unresolved().values_list("severity").annotate(n=models.Count("id")))
        return {severity: counts.get(severity, 0) for severity, _ in SEVERITIES}

    def inbox(self):
        """The inbox order: unresolved first, newest first."""
        return self.select_related("rule", "suppressed_by").order_by(
            models.F("resolved_at").desc(nulls_first=True), "-opened_at", "-id"
        )


class Incident(models.Model):
    """One (rule, subject) firing, from its first to its last failing evaluation."""

    OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
    STATES = [(s, s) for s in (OPEN, ACKNOWLEDGED, RESOLVED)]
    # Why an unresolved incident is not notified now ("" = it is).
    QUIET_REASONS = [
        ("", "notified"),
        ("upstream", "an upstream object has an open incident"),
        ("unreachable_source", "its source is unreachable"),
        ("maintenance", "in a maintenance window"),
        ("silence", "silenced"),
        ("flapping", "flapping"),
        ("retrying", "the control loop is retrying it"),
        ("snoozed", "snoozed"),
    ]

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    subject_key = models.CharField(max_length=800)
    subject = models.CharField(max_length=600)
    subject_type = models.CharField(max_length=20)  # pipeline | object | check | global
    object = models.ForeignKey(
        "registry.RegistryObject", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What silences and windows match: client, pipeline, source, object, check_key.
    labels = models.JSONField(default=dict)
    severity = models.CharField(max_length=10, choices=SEVERITIES)
    state = models.CharField(max_length=12, choices=STATES, default=OPEN)
    summary = models.TextField()
    evidence = models.JSONField(default=dict)
    remedy = models.TextField(blank=True)

    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_name = models.CharField(max_length=200, blank=True, help_text="empty: resolved by itself")
    good_streak = models.PositiveIntegerField(default=0)

    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_by_name = models.CharField(max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_note = models.TextField(blank=True)
    ack_expires_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)

    suppressed_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="suppresses"
    )
    quiet_reason = models.CharField(max_length=20, choices=QUIET_REASONS, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True, help_text="first page")
    last_notified_at = models.DateTimeField(null=True, blank=True)
    sequence = models.PositiveIntegerField(default=0, help_text="notifications enqueued so far")

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=Q(resolved_at__isnull=True),
                name="checks_incident_one_unresolved",
            )
        ]
        indexes = [
            # every cycle reads the unresolved incidents; /metrics counts them
            models.Index(
                fields=["rule"], condition=Q(resolved_at__isnull=True), name="checks_incident_unresolved"
            ),
            # the lineage walk finds open incidents of upstream objects
            models.Index(
                fields=["object"], condition=Q(resolved_at__isnull=True), name="checks_incident_object"
            ),
            # reopening: the latest incident of a subject
            models.Index(fields=["rule", "subject_key", "-resolved_at"], name="checks_incident_subject"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule.name}: {self.subject} ({self.state})"

    @property
    def url(self) -> str:
        return f"{settings.SITE_URL}/ops/health?tab=alerts&incident={self.pk}"

    def acknowledge(self, *, by: str, user=None, note: str = "", timeout: timedelta | None = None, now=None):
        """open → acknowledged: repeats stop; still firing after `timeout` re-notifies."""
        if self.state == self.RESOLVED:
            raise ValueError("A resolved incident cannot be acknowledged.")
        now = now or timezone.now()
        self.state = self.ACKNOWLEDGED
        self.acknowledged_by = user if user is not None and user.is_authenticated else None
        self.acknowledged_by_name = by
        self.acknowledged_at = now
        self.ack_note = note
        self.ack_expires_at = now + (timeout or DEFAULT_ACK_TIMEOUT)
        self.save(update_fields=_ACK_FIELDS)
        self.events.create(at=now, kind="acknowledged", actor=by, note=note)

    def snooze(self, *, until: datetime, by: str, now=None) -> None:
        now = now or timezone.now()
        if self.state == self.RESOLVED:
            raise ValueError("A resolved incident cannot be snoozed.")
        if until <= now or until > now + MAX_AHEAD:
            raise ValueError("A snooze ends in the future, at most 7 days ahead.")
        self.snoozed_until = until
        self.save(update_fields=["snoozed_until"])
        self.events.create(at=now, kind="snoozed", actor=by, note=f"until {until.isoformat()}")

    def resolve(self, *, by: str, now=None) -> None:
        """Resolved by a person: no recovery message (they know). Still failing, the
        next cycle opens a new incident."""
        if self.state == self.RESOLVED:
            raise ValueError("Already resolved.")
        now = now or timezone.now()
        self.state = self.RESOLVED
        self.resolved_at = now
        self.resolved_by_name = by
        self.quiet_reason = ""
        self.save(update_fields=["state", "resolved_at", "resolved_by_name", "quiet_reason"])
        self.events.create(at=now, kind="resolved", actor=by)

    def timeline(self) -> list[dict]:
        """Its changes and actions, and every notification with its outcome, by time
        (the API's incident detail and the inbox)."""
        events = [
            {"at": e.at, "type": "event", "kind": e.kind, "actor": e.actor, "note": e.note}
            for e in self.events.all()
        ]
        notifications = [
            {
                "at": n.created_at,
                "type": "notification",
                "kind": n.kind,
                "channel": n.channel.name,
                "status": n.status,
                "attempts": n.attempts,
                "sent_at": n.sent_at,
                "error": n.last_error,
            }
            for n in self.notifications.select_related("channel")
        ]
        return sorted(events + notifications, key=lambda item: item["at"])


_ACK_FIELDS = [
    "state",
    "acknowledged_by",
    "acknowledged_by_name",
    "acknowledged_at",
    "ack_note",
    "ack_expires_at",
]


class IncidentEvent(models.Model):
    """The incident's timeline of changes and actions (notifications are their own rows)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    # opened | reopened | resolved | acknowledged | ack_expired | snoozed | suppressed | …
    kind = models.CharField(max_length=20)
    actor = models.CharField(max_length=200, blank=True, help_text="empty: OpsHealth")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind}"


class Notification(models.Model):
    """The outbox: one message to one channel, delivered at least once.

    The dispatcher claims due rows (`FOR UPDATE SKIP LOCKED`, then a lease in
    `claimed_until`), sends outside any transaction, and records the outcome. A crash
    after the claim leaves the lease to expire: the row is sent again, same key.
    """

    KINDS = [(k, k) for k in ("firing", "repeat", "resolved", "flapping", "silence_expired", "ack_expired")]
    PENDING, SENT, FAILED, CANCELLED = "pending", "sent", "failed", "cancelled"
    STATUSES = [(s, s) for s in (PENDING, SENT, FAILED, CANCELLED)]

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=KINDS)
    sequence = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "kind", "sequence", "channel"], name="checks_notification_once"
            )
        ]
        indexes = [
            # the dispatcher's claim: due pending rows, oldest first
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="checks_notification_due"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} → {self.channel.name} ({self.status})"


class Delivery(models.Model):
    """Every attempt to send a notification (or a channel test), with its outcome."""

    OUTCOMES = [(o, o) for o in ("sent", "retry", "failed")]

    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField()
    attempt = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    permanent = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.IntegerField(default=0)
    is_test = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["-attempted_at", "-id"], name="checks_delivery_time")]

    def __str__(self) -> str:
        return f"{self.channel.name} {self.outcome} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class Silence(Scoped):
    """Quiet, not blind: incidents in scope are still recorded and shown, not notified."""

    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-ends_at", "-id"]

    def __str__(self) -> str:
        return f"silence until {self.ends_at:%Y-%m-%d %H:%M} ({self.comment[:40]})"

    def clean(self) -> None:
        if self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "A silence ends after it starts."})
        if self.ends_at > timezone.now() + MAX_AHEAD:
            raise ValidationError({"ends_at": "A silence ends at most 7 days ahead."})

    def covers(self, labels: dict[str, str], rule_id: int | None = None) -> bool:
        return (self.rule_id is None or self.rule_id == rule_id) and super().covers(labels)


class MaintenanceWindow(Scoped):
    """A recurring quiet period: on `weekdays` (0 = Monday), from `start_time` for
    `duration`, in `timezone` (so it follows daylight saving time)."""

    name = models.CharField(max_length=200, unique=True)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    weekdays = ArrayField(models.PositiveSmallIntegerField(), default=list)
    start_time = models.TimeField()
    duration = models.DurationField()
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.weekdays or any(d not in range(7) for d in self.weekdays):
            raise ValidationError({"weekdays": "Days 0 (Monday) to 6 (Sunday), at least one."})
        if not timedelta(0) < self.duration <= MAX_AHEAD:
            raise ValidationError({"duration": "Between a minute and 7 days."})
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"timezone": "Unknown time zone."}) from exc

    def is_active(self, now: datetime) -> bool:
        """Whether `now` falls in one of the window's occurrences: one that started on
        a listed weekday, at most `duration` ago (it may span midnight)."""
        if not self.enabled:
            return False
        tz = ZoneInfo(self.timezone)
        local = now.astimezone(tz)
        for back in range(self.duration.days + 2):
            day = local.date() - timedelta(days=back)
            if day.weekday() not in self.weekdays:
                continue
            start = datetime.combine(day, self.start_time, tzinfo=tz)
            if start <= now < start + self.duration:
                return True
        return False

    def covers(self, labels: dict[str, str], rule_id: int | None = None) -> bool:
        return (self.rule_id is None or self.rule_id == rule_id) and super().covers(labels)


class SubjectState(models.Model):
    """A subject's recent state changes (firing ↔ ok) under one rule, for flapping."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    subject_key = models.CharField(max_length=800)
    changes = ArrayField(models.DateTimeField(), default=list, help_text="within the last hour")
    last_change_at = models.DateTimeField()
    flapping_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject_key"], name="checks_subjectstate_uniq")
        ]
        indexes = [
            # each cycle reads the flapping subjects
            models.Index(
                fields=["rule"], condition=Q(flapping_since__isnull=False), name="checks_subject_flapping"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.subject_key}"
