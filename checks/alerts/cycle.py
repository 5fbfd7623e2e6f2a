"""One alerting cycle (`manage.py dispatch_alerts`, the `opshealth.dispatch_alerts` job):

  1. evaluate every enabled rule, set-based (`conditions`): the firing subjects;
  2. open, update, reopen or resolve incidents (one unresolved per rule and subject);
  3. track each subject's state changes (flapping), then judge who stays quiet and why:
     lineage-aware suppression, maintenance windows, silences, flapping, a failure the
     control loop is still retrying (`checks.retry.pending_retries`), snoozes;
  4. enqueue notifications in the outbox (firing, repeat, resolved, flapping,
     silence_expired, ack_expired);
  5. deliver the due notifications (`outbox.deliver_due`).

Steps 1-4 ("judging") run in one transaction under a transaction-level advisory lock:
concurrent dispatchers judge one at a time (the others skip to delivery), and a crash
leaves nothing half-judged. The number of statements is constant whatever the number
of rules, subjects and incidents.

A recovery is enqueued `OPSHEALTH_ALERT_RECOVERY_DELAY` after the incident resolved
itself: a subject firing again before then reopens the same incident and cancels the
recovery, so a run that fails, passes and fails again is one incident, not three
messages (Prometheus' keep_firing_for, at the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from checks.alerts import messages, queries
from checks.alerts.conditions import Firing, evaluator
from checks.alerts.lineage import suppressions
from checks.alerts.models import (
    AlertRule,
    Incident,
    MaintenanceWindow,
    Notification,
    Silence,
    SubjectState,
)
from checks.alerts.outbox import deliver_due
from checks.retry import pending_retries
from ledger.logger import RunLogger
from ledger.models import Run

JOB = "opshealth.dispatch_alerts"
FLAP_WINDOW = timedelta(hours=1)
FLAP_CHANGES = 4

# Columns the judge writes back, in two statements (before and after suppression).
_STATE_FIELDS = [
    "state",
    "resolved_at",
    "resolved_by_name",
    "good_streak",
    "last_seen_at",
    "summary",
    "evidence",
]
_NOTIFY_FIELDS = [
    "state",
    "ack_expires_at",
    "quiet_reason",
    "suppressed_by",
    "notified_at",
    "last_notified_at",
    "sequence",
]


@dataclass
class CycleReport:
    judged: bool = False
    firing: int = 0
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    quiet: int = 0
    enqueued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __str__(self) -> str:
        if not self.judged:
            head = "another dispatcher was judging"
        else:
            head = (
                f"{self.firing} firing, {self.opened} opened, {self.reopened} reopened, "
                f"{self.resolved} resolved, {self.quiet} quiet, {self.enqueued} enqueued"
            )
        return f"{head}; {self.sent} sent, {self.retried} to retry, {self.failed} failed"


def run_cycle(now: datetime | None = None) -> CycleReport:
    """Judge (steps 1-4) and deliver (step 5). Safe to run concurrently."""
    now = now or timezone.now()
    report = CycleReport()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [JOB])
            report.judged = cursor.fetchone()[0]
        if report.judged:
            Judge(now, report).run()
    report.sent, report.retried, report.failed = deliver_due(now)
    return report


def run_cycle_as_job(*, trigger: str = "cli") -> CycleReport:
    """`run_cycle`, recorded in the ledger as a run of `opshealth.dispatch_alerts` (the
    job of the schedule table and of `manage.py dispatch_alerts`)."""
    with RunLogger(JOB, triggered_by=Run.triggered_by_for(trigger)):
        return run_cycle()


def evaluate_rules(rules: list[AlertRule], now: datetime) -> dict[tuple[int, str], Firing]:
    """Every firing (rule, subject): one statement per condition group."""
    groups: dict[type, list[AlertRule]] = {}
    for rule in rules:
        groups.setdefault(evaluator(rule.kind), []).append(rule)
    firing = {}
    for cls, group in groups.items():
        for f in cls.firing(group, now):
            firing.setdefault((f.rule_id, f.subject_key), f)
    return firing


@dataclass
class Judge:
    now: datetime
    report: CycleReport
    events: list[dict] = field(default_factory=list)  # IncidentEvent rows
    outbox: list[dict] = field(default_factory=list)  # Notification rows
    channels: dict[int, list[int]] = field(default_factory=dict)  # rule → enabled channel ids

    def run(self) -> None:
        rules = {r.pk: r for r in AlertRule.objects.prefetch_related("channels")}
        self.channels = {pk: [c.pk for c in r.channels.all() if c.enabled] for pk, r in rules.items()}
        enabled = [r for r in rules.values() if r.enabled]
        firing = evaluate_rules(enabled, self.now)
        self.report.firing = len(firing)

        delay = settings.OPSHEALTH_ALERT_RECOVERY_DELAY
        known = queries.incidents_to_judge(self.now, self.now - delay)
        for incident in known:
            incident.rule = rules[incident.rule_id]
        unresolved = {(i.rule_id, i.subject_key): i for i in known if i.resolved_at is None}
        recent = {(i.rule_id, i.subject_key): i for i in known if i.resolved_at is not None}
        was_quiet = {i.pk: i.quiet_reason for i in unresolved.values()}
        # Only incidents whose columns changed are written back.
        before = {i.pk: (_values(i, _STATE_FIELDS), _values(i, _NOTIFY_FIELDS)) for i in known}

        changed, resolved, new = self.reconcile(firing, unresolved, recent, rules)
        ids = queries.insert(Incident, new)
        for incident, pk in zip(new, ids, strict=True):
            incident.pk = incident.id = pk
            self.event(incident, "opened")
        queries.update(Incident, _changed(known, before, 0, _STATE_FIELDS), _STATE_FIELDS)
        queries.touch([i.pk for key, i in unresolved.items() if key in firing and i.pk in before], self.now)

        flapping, flap_started, flap_ended = self.track_changes(changed)
        self.judge_quiet(unresolved, changed, was_quiet, flapping, flap_started, flap_ended)
        self.recoveries(resolved, flapping)
        queries.update(
            Incident, _changed([*unresolved.values(), *resolved], before, 1, _NOTIFY_FIELDS), _NOTIFY_FIELDS
        )
        queries.insert(Notification, self.outbox, on_conflict="ON CONFLICT DO NOTHING")
        queries.insert_events(self.events)
        self.report.enqueued = len(self.outbox)

    def event(self, incident: Incident, kind: str, note: str = "") -> None:
        self.events.append({"incident_id": incident.pk, "at": self.now, "kind": kind, "note": note})

    def reconcile(self, firing, unresolved, recent, rules):
        """Step 2. Returns the subjects that changed state, the incidents resolved now and
        the new (unsaved) incidents; `unresolved` is updated in place."""
        changed: dict[tuple[int, str], Incident] = {}
        new: list[Incident] = []
        reopened: list[Incident] = []
        for key, f in firing.items():
            incident = unresolved.get(key)
            if incident is None and key in recent:
                incident = recent[key]
                incident.resolved_at = None
                incident.good_streak = 0
                ack_valid = incident.ack_expires_at and incident.ack_expires_at > self.now
                incident.state = Incident.ACKNOWLEDGED if ack_valid else Incident.OPEN
                reopened.append(incident)
                self.event(incident, "reopened", "fired again before its recovery was sent")
            elif incident is None:
                rule = rules[f.rule_id]
                incident = Incident(
                    rule=rule,
                    subject_key=f.subject_key,
                    subject=f.subject[:600],
                    subject_type=f.subject_type,
                    object_id=f.object_id,
                    labels=f.labels,
                    severity=rule.severity,
                    remedy=evaluator(rule.kind).remedy(f.labels.get("check_key", "")),
                    opened_at=self.now,
                )
                new.append(incident)
            if incident.pk is None or incident in reopened:
                changed[key] = incident
            unresolved[key] = incident
            incident.last_seen_at = self.now
            incident.summary = f.summary
            incident.evidence = f.evidence
            incident.good_streak = 0

        resolved = []
        for key, incident in list(unresolved.items()):
            if key in firing:
                continue
            rule = rules[incident.rule_id]
            incident.good_streak += 1
            if rule.enabled and incident.good_streak < rule.resolve_after:
                continue
            incident.state = Incident.RESOLVED
            incident.resolved_at = self.now
            # Nobody evaluates a disabled rule: its incidents close without a recovery.
            incident.resolved_by_name = "" if rule.enabled else "OpsHealth (rule disabled)"
            incident.quiet_reason = ""
            resolved.append(incident)
            changed[key] = incident
            del unresolved[key]
            self.event(incident, "resolved", incident.resolved_by_name)
        if reopened:
            queries.cancel_pending([i.pk for i in reopened], ["resolved"])
        self.report.opened, self.report.reopened, self.report.resolved = (
            len(new),
            len(reopened),
            len(resolved),
        )
        return changed, resolved, new

    def track_changes(self, changed):
        """Step 3a. Record each changed subject's state change; at FLAP_CHANGES changes
        within FLAP_WINDOW a subject starts flapping, and stops after a FLAP_WINDOW
        without changes. Returns the flapping subjects, and those that started / ended now."""
        states = {(s.rule_id, s.subject_key): s for s in queries.subject_states(list(changed))}
        started, ended = set(), set()
        for key in changed:
            state = states.get(key) or SubjectState(rule_id=key[0], subject_key=key[1], changes=[])
            state.changes = [c for c in state.changes if c > self.now - FLAP_WINDOW] + [self.now]
            state.last_change_at = self.now
            if len(state.changes) >= FLAP_CHANGES and state.flapping_since is None:
                state.flapping_since = self.now
                started.add(key)
            states[key] = state
        for key, state in states.items():
            if state.flapping_since and key not in changed and state.last_change_at <= self.now - FLAP_WINDOW:
                state.flapping_since = None
                ended.add(key)
        queries.save_subject_states([s for k, s in states.items() if k in changed or k in ended])
        flapping = {k for k, s in states.items() if s.flapping_since is not None}
        return flapping, started, ended

    def judge_quiet(self, unresolved, changed, was_quiet, flapping, flap_started, flap_ended):
        """Steps 3b and 4 for the unresolved incidents."""
        suppressed = suppressions({i.pk: i.object_id for i in unresolved.values() if i.object_id})
        silences = list(Silence.objects.filter(starts_at__lte=self.now, ends_at__gt=self.now))
        windows = [w for w in MaintenanceWindow.objects.filter(enabled=True) if w.is_active(self.now)]
        # objects whose failure the control loop is still retrying: no page until exhausted
        retrying = set(pending_retries())
        for key, incident in unresolved.items():
            root, reason = suppressed.get(incident.pk, (None, ""))
            if root != incident.suppressed_by_id and root is not None:
                self.event(incident, "suppressed", f"by incident #{root}")
            incident.suppressed_by_id = root
            if not reason:
                reason = self.quiet_reason(incident, key, silences, windows, flapping, retrying)
            incident.quiet_reason = reason
            if reason:
                self.report.quiet += 1
                continue
            kind = self.due_kind(incident, was_quiet.get(incident.pk, ""), key in flap_ended)
            if kind:
                self.enqueue(incident, kind)
        # One flapping notice, unless the subject is quiet for another reason.
        for key in flap_started:
            incident = changed[key]
            if incident.resolved_at is None:
                if incident.quiet_reason == "flapping":
                    self.enqueue(incident, "flapping")
            elif not self.quiet_reason(incident, key, silences, windows, set()):
                self.enqueue(incident, "flapping")

    def quiet_reason(self, incident, key, silences, windows, flapping, retrying=frozenset()) -> str:
        rule_id = incident.rule_id
        if any(w.covers(incident.labels, rule_id) for w in windows):
            return "maintenance"
        if any(s.covers(incident.labels, rule_id) for s in silences):
            return "silence"
        if key in flapping:
            return "flapping"
        if incident.object_id in retrying:
            return "retrying"
        if incident.snoozed_until and incident.snoozed_until > self.now:
            return "snoozed"
        return ""

    def due_kind(self, incident: Incident, was_quiet: str, flap_ended: bool) -> str:
        """Which notification an unresolved, not quiet incident is due, if any."""
        if was_quiet == "silence":
            return "silence_expired"
        if incident.notified_at is None:
            return "firing"
        if incident.state == Incident.ACKNOWLEDGED:
            if incident.ack_expires_at and incident.ack_expires_at <= self.now:
                incident.state = Incident.OPEN
                incident.ack_expires_at = None
                self.event(incident, "ack_expired")
                return "ack_expired"
            return ""
        if flap_ended:
            return "repeat"
        repeat = incident.rule.repeat_interval
        if repeat and incident.last_notified_at and incident.last_notified_at + repeat <= self.now:
            return "repeat"
        return ""

    def recoveries(self, resolved: list[Incident], flapping: set) -> None:
        """A recovery for each incident that was notified, resolved by itself and is not
        flapping, due after the recovery delay."""
        due = self.now + settings.OPSHEALTH_ALERT_RECOVERY_DELAY
        for incident in resolved:
            key = (incident.rule_id, incident.subject_key)
            told = incident.rule.send_resolved and incident.notified_at
            if told and not incident.resolved_by_name and key not in flapping:
                self.enqueue(incident, "resolved", due_at=due)

    def enqueue(self, incident: Incident, kind: str, *, due_at: datetime | None = None) -> None:
        """The inbox always has the incident; its rule's channels get a message each."""
        incident.sequence += 1
        if incident.notified_at is None:
            incident.notified_at = self.now
        incident.last_notified_at = self.now
        payload = messages.render(incident, kind, self.now)
        key = messages.idempotency_key(incident.pk, kind, incident.sequence)
        for channel_id in self.channels[incident.rule_id]:
            self.outbox.append(
                {
                    "incident_id": incident.pk,
                    "channel_id": channel_id,
                    "kind": kind,
                    "sequence": incident.sequence,
                    "idempotency_key": key,
                    "payload": payload,
                    "created_at": self.now,
                    "due_at": due_at or self.now,
                }
            )


def _values(incident: Incident, fields: list[str]) -> tuple:
    return tuple(getattr(incident, incident._meta.get_field(f).attname) for f in fields)


def _changed(incidents: list[Incident], before: dict, part: int, fields: list[str]) -> list[Incident]:
    return [i for i in incidents if i.pk not in before or before[i.pk][part] != _values(i, fields)]
