"""The run state machine: one for every ingestion path (RunLogger, REST, OpenLineage).

`apply_event(run, event)` folds one event into a locked `Run` row. The rules make the
result independent of arrival order, so that out-of-order delivery, concurrent
delivery and `rebuild_ledger` (which replays in event-time order) agree:

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

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.models import Run

OTHER = "other"
SEVERITY = {Run.FAILED: 3, Run.ABORTED: 2, Run.SUCCESS: 1}
RANK = {Run.STARTED: 0, Run.RUNNING: 1}

# Descriptive fields filled from the first event that carries them (later events
# cannot blank them; conflicting values are rare and keep the first).
FILL_FIELDS = ("provider", "storage_backend", "git_sha", "app_version")


@dataclass
class Transition:
    """What `apply_event` did: `changed` means the row must be written."""

    changed: bool
    anomaly: dict | None = None


def apply_event(run: Run, ev) -> Transition:
    """Fold event `ev` (an `ingest.RunEvent`) into `run`. See the module rules."""
    changed = _fill_context(run, ev)
    if ev.status == OTHER:
        return Transition(changed)
    if ev.status in Run.TERMINAL:
        return _merge(_apply_terminal(run, ev), changed)
    return _merge(_apply_progress(run, ev), changed)


def _merge(t: Transition, changed: bool) -> Transition:
    return Transition(t.changed or changed, t.anomaly)


def _fill_context(run: Run, ev) -> bool:
    changed = False
    for name in FILL_FIELDS:
        value = getattr(ev, name)
        if value and not getattr(run, name):
            setattr(run, name, value)
            changed = True
    if ev.args and not run.args:
        run.args = ev.args
        changed = True
    if ev.nominal_time and run.nominal_time is None:
        run.nominal_time = ev.nominal_time
        changed = True
    if ev.parent_run_id and run.parent_run_id is None and ev.parent_run_id != run.pk:
        run.parent_run_id = ev.parent_run_id
        changed = True
    # An explicit start time (REST, RunLogger) counts as a START at that time.
    if ev.started_at and (run.started_at is None or ev.started_at < run.started_at):
        run.started_at = ev.started_at
        _set_duration(run)
        changed = True
    return changed


def _apply_progress(run: Run, ev) -> Transition:
    """START / RUNNING."""
    previous = run.last_event_at
    changed = _bump_last_event(run, ev.event_time)
    if ev.status == Run.STARTED and (run.started_at is None or ev.event_time < run.started_at):
        run.started_at = ev.event_time
        _set_duration(run)
        changed = True
    if run.is_terminal and run.ended_at and ev.event_time > run.ended_at:
        t = _progress_anomaly(run, ev.status, ev.event_time)
        return Transition(t.changed or changed, t.anomaly)
    # At an equal event time RUNNING outranks STARTED, so the order of arrival of two
    # simultaneous events does not matter.
    newer = (
        previous is None
        or previous < ev.event_time
        or (previous == ev.event_time and RANK[ev.status] >= RANK.get(run.status, 0))
    )
    if not run.is_terminal and newer and run.status != ev.status:
        run.status = ev.status
        changed = True
    return Transition(changed)


def _bump_last_event(run: Run, at: datetime) -> bool:
    if run.last_event_at is None or at > run.last_event_at:
        run.last_event_at = at
        return True
    return False


def _progress_anomaly(run: Run, status: str, at: datetime) -> Transition:
    """Only the latest START/RUNNING after the end is kept: in the other arrival order
    (progress events first, the terminal event last) it is the only one still known."""
    reason = "start or progress event after the run ended"
    current = [a for a in run.anomalies if a["reason"] == reason]
    entry = _describe(status, at, reason)
    if any((a["event_time"], RANK[a["event"]]) >= (entry["event_time"], RANK[status]) for a in current):
        return Transition(False)
    run.anomalies = [a for a in run.anomalies if a["reason"] != reason]
    _record_anomaly(run, entry)
    return Transition(True, entry)


def _apply_terminal(run: Run, ev) -> Transition:
    ended = ev.ended_at or ev.event_time
    if run.is_terminal:
        if run.status == ev.status and run.ended_at == ended:
            return Transition(False)  # a duplicate
        if (ended, -SEVERITY[ev.status]) >= (run.ended_at, -SEVERITY[run.status]):
            return _anomaly(run, ev.status, ended, "terminal event after the run ended")
        # The new event is earlier (or as early and more severe): it wins and the
        # previous ending becomes the anomaly, as it would have in the other order.
        _record_anomaly(run, _describe(run.status, run.ended_at, "terminal event after the run ended"))
    elif run.last_event_at and run.last_event_at > ended:
        # A START/RUNNING later than this end was applied before the end arrived.
        _progress_anomaly(run, run.status, run.last_event_at)
    run.status = ev.status
    run.ended_at = ended
    run.error_type = ev.error_type
    run.error_message = ev.error_message
    run.error_stack_hash = ev.error_stack_hash
    _bump_last_event(run, ev.event_time)
    _set_duration(run)
    return Transition(True)


def _set_duration(run: Run) -> None:
    if run.started_at and run.ended_at:
        run.duration_ms = max(0, int((run.ended_at - run.started_at).total_seconds() * 1000))


def _describe(status: str, at: datetime | None, reason: str) -> dict:
    return {"event": status, "event_time": at.astimezone(UTC).isoformat() if at else None, "reason": reason}


def _anomaly(run: Run, status: str, at: datetime, reason: str) -> Transition:
    entry = _describe(status, at, reason)
    if entry in run.anomalies:
        return Transition(False)
    _record_anomaly(run, entry)
    return Transition(True, entry)


def _record_anomaly(run: Run, entry: dict) -> None:
    if entry not in run.anomalies:
        # Kept sorted so the list is the same in every arrival order.
        run.anomalies = sorted([*run.anomalies, entry], key=lambda a: (a["event_time"] or "", a["event"]))
