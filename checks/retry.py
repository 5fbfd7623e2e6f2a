"""The control loop (seed 002): a failed refresh of a materialized view is retried by policy.

Policy (data, not code): at most `max_attempts` attempts in all, the first included
(default OPSHEALTH_RETRY_MAX_ATTEMPTS, 3), waiting `cooldown` before the first retry
(OPSHEALTH_RETRY_COOLDOWN, 10 minutes) and twice as long before each further one; an
object's `RetryPolicy` row (admin, `/api/v1/retry-policies`) overrides either.

A failure is retried only when no blocker of `BLOCKERS` objects (a dict of small
functions, each naming its reason): the error must be transient, classified by its
SQLSTATE (OPSHEALTH_RETRY_TRANSIENT_SQLSTATES: connection lost, lock or statement
timeout, serialization failure, deadlock…, never a division by zero or a syntax error);
attempts left; the source reachable (its latest `source_unreachable` result); and the
source's circuit breaker closed (fewer than OPSHEALTH_RETRY_BREAKER_MAX auto-retries
within OPSHEALTH_RETRY_BREAKER_WINDOW); and no unresolved alert incident on an object
upstream of it (the alerts dispatcher's lineage walk).

A retry is an `Action` of the control loop, queued with `not_before` = the end of its
cooldown; the task cluster runs it then (a one-off django-q2 schedule). It refreshes
that one view inside `run_context(parent=<the failed run>)`: every retry is a ledger run
whose parent is the failed run, and a view that keeps failing is tried exactly
`max_attempts` times.

Another job plugs in by calling `plan(Failure(kind, obj, failed_run, attempt, sqlstate,
error))` for a failure of its own (a data-check run that errored, not one that found bad
data), adding its kind to `RETRIED_KINDS` and an action kind of that name to
`checks.actions.ACTIONS`.

`pending_retries()` / `is_retrying(object_id)` answer "is this failure still being
retried?": the checks say "retrying (attempt 2 of 3, next at …)", and the alerts
dispatcher does not page until the retries are exhausted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from checks.alerts.queries import upstream_open_incident
from checks.models import Action, Evaluation, RetryPolicy
from ledger.models import Run
from registry.models import RegistryObject

logger = logging.getLogger("opshealth.retry")

# The kinds of actions the control loop retries (datachecks adds `data_check`).
RETRIED_KINDS = {"refresh"}


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    cooldown: timedelta

    def delay_before(self, attempt: int) -> timedelta:
        """The wait before attempt `attempt` (2 = the first retry): the cooldown, doubling."""
        return self.cooldown * 2 ** (attempt - 2)

    @classmethod
    def default(cls) -> Policy:
        return cls(settings.OPSHEALTH_RETRY_MAX_ATTEMPTS, settings.OPSHEALTH_RETRY_COOLDOWN)

    @classmethod
    def of(cls, override: RetryPolicy | None) -> Policy:
        default = cls.default()
        if override is None:
            return default
        return cls(
            override.max_attempts if override.max_attempts is not None else default.max_attempts,
            override.cooldown if override.cooldown is not None else default.cooldown,
        )


def policy_for(obj: RegistryObject) -> Policy:
    return Policy.of(RetryPolicy.objects.filter(object=obj).first())


@dataclass(frozen=True)
class Failure:
    """One failed attempt at something the control loop may retry."""

    kind: str  # an action kind of RETRIED_KINDS
    obj: RegistryObject
    run: Run  # the failed ledger run
    attempt: int  # which attempt failed (1: the first)
    sqlstate: str  # "" when the error is not the database's
    error: str


def is_transient(sqlstate: str) -> bool:
    """Worth retrying: the error may not happen again (OPSHEALTH_RETRY_TRANSIENT_SQLSTATES
    holds codes and two-character classes)."""
    return bool(sqlstate) and any(
        sqlstate.startswith(code) for code in settings.OPSHEALTH_RETRY_TRANSIENT_SQLSTATES
    )


def _not_transient(f: Failure, policy: Policy, now: datetime) -> str | None:
    if not is_transient(f.sqlstate):
        return f"not a transient error (SQLSTATE {f.sqlstate or 'none'})"
    return None


def _attempts_exhausted(f: Failure, policy: Policy, now: datetime) -> str | None:
    if f.attempt >= policy.max_attempts:
        return f"attempt {f.attempt} of {policy.max_attempts} was the last"
    return None


def _source_unreachable(f: Failure, policy: Policy, now: datetime) -> str | None:
    latest = Evaluation.latest()
    if (
        latest
        and latest.violations.filter(check_key="source_unreachable", subject=f.obj.source.name).exists()
    ):
        return f"source {f.obj.source.name} is unreachable"
    return None


def _circuit_open(f: Failure, policy: Policy, now: datetime) -> str | None:
    recent = Action.objects.filter(
        source=f.obj.source,
        via=Action.CONTROL_LOOP,
        requested_at__gte=now - settings.OPSHEALTH_RETRY_BREAKER_WINDOW,
    ).count()
    if recent >= settings.OPSHEALTH_RETRY_BREAKER_MAX:
        return f"circuit open: {recent} auto-retries of source {f.obj.source.name} within the window"
    return None


def _upstream_incident(f: Failure, policy: Policy, now: datetime) -> str | None:
    # A view cannot recover while what it reads is broken: retrying it only burns
    # attempts (alerting's lineage walk, the one that suppresses its pages).
    incident = upstream_open_incident(f.obj.pk)
    if incident is not None:
        return f"an upstream object has an open incident (#{incident})"
    return None


# Each returns why the failure must not be retried, or None.
BLOCKERS: dict[str, Callable[[Failure, Policy, datetime], str | None]] = {
    "not_transient": _not_transient,
    "attempts_exhausted": _attempts_exhausted,
    "source_unreachable": _source_unreachable,
    "circuit_open": _circuit_open,
    "upstream_incident": _upstream_incident,
}


def plan(failure: Failure) -> Action | None:
    """Queue the retry of `failure` after its cooldown, unless a blocker objects."""
    now = timezone.now()
    policy = policy_for(failure.obj)
    for name, blocker in BLOCKERS.items():
        reason = blocker(failure, policy, now)
        if reason:
            logger.info("no retry of %s %s: %s (%s)", failure.kind, failure.obj, reason, name)
            return None
    attempt = failure.attempt + 1
    try:
        with transaction.atomic():
            action = Action.objects.create(
                kind=failure.kind,
                target=Action.object_target(failure.obj),
                source=failure.obj.source,
                object=failure.obj,
                via=Action.CONTROL_LOOP,
                requested_by_name="control loop",
                parent_run=failure.run,
                attempt=attempt,
                not_before=now + policy.delay_before(attempt),
            )
    except IntegrityError:
        return None  # one is queued already (a retry, or someone's request)
    action.enqueue()
    return action


def plan_refreshes(run: Run | None, failed: list, attempt: int) -> list[Action]:
    """The retries of a refresh_matviews run's failed views (checks.refresh.RefreshResult)."""
    failed = [r for r in failed if r.object_id]
    if run is None or not failed:
        return []
    objects = RegistryObject.objects.select_related("source").in_bulk([r.object_id for r in failed])
    planned = [
        plan(Failure("refresh", objects[r.object_id], run, attempt, r.sqlstate, r.error)) for r in failed
    ]
    return [a for a in planned if a is not None]


@dataclass(frozen=True)
class RetryState:
    attempt: int  # the attempt queued or running
    max_attempts: int
    next_at: datetime | None  # None: running now

    def __str__(self) -> str:
        when = f"next at {self.next_at.isoformat()}" if self.next_at else "running now"
        return f"retrying (attempt {self.attempt} of {self.max_attempts}, {when})"


def pending_retries() -> dict[int, RetryState]:
    """Registry objects whose failure is being retried (a retry queued or running), one query."""
    actions = Action.objects.filter(
        via=Action.CONTROL_LOOP, kind__in=RETRIED_KINDS, state__in=Action.IN_FLIGHT, object__isnull=False
    ).select_related("object__retry_policy")
    states = {}
    for a in actions:
        policy = Policy.of(getattr(a.object, "retry_policy", None))
        states[a.object_id] = RetryState(
            a.attempt, policy.max_attempts, a.not_before if a.state == a.QUEUED else None
        )
    return states


def is_retrying(object_id: int) -> bool:
    """Whether a failure of this registry object is still being retried (for the alerts
    dispatcher: no page until the retries are exhausted)."""
    return Action.objects.filter(
        via=Action.CONTROL_LOOP, kind__in=RETRIED_KINDS, state__in=Action.IN_FLIGHT, object_id=object_id
    ).exists()
