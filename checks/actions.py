"""Actions: rerun a job now, from the API, the admin or the control loop (spec §7).

`ACTIONS` maps each kind to a small class with two verbs: `resolve(target)` turns what
the client sent (an id or a natural key) into a `Target`, or raises `ActionError` (a
400 naming the problem); `perform(action)` runs the job, returns a one-line outcome,
and raises `ActionFailed` (or the job's own error) when it did not succeed. Adding a
kind is adding a class and a dict entry (datachecks adds `data_check`).

    request(kind, target, ...)  → the Action, queued and handed to the task cluster; or
                                  the one already queued or running (idempotent)
    perform(action_id)          → the task: claims the action (a conditional UPDATE),
                                  runs the kind inside `run_context`, so the ledger run
                                  it produced is linked and a retry's run gets its
                                  parent, and records the outcome
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from checks.datachecks.models import DataCheck
from checks.datachecks.runner import run_checks
from checks.evaluate import evaluate_as_job
from checks.models import Action
from checks.refresh import refresh_matviews
from common.secrets import safe_message
from ledger.logger import run_context
from registry.discovery import DiscoveryError, discover_and_record
from registry.models import RegistryObject, Source


class ActionError(ValueError):
    """A target that cannot be acted on; the message says why."""


class ActionFailed(Exception):
    """The job ran (or could not start) and did not succeed; the message is the outcome."""


@dataclass(frozen=True)
class Target:
    key: str  # canonical: what Action.target stores
    source: Source | None = None
    obj: RegistryObject | None = None


class ActionKind:
    name = ""
    description = ""

    def resolve(self, target) -> Target:
        raise NotImplementedError

    def perform(self, action: Action) -> str:
        raise NotImplementedError


def _source(target) -> Source:
    sources = Source.objects.all()
    found = sources.filter(pk=target).first() if _is_id(target) else sources.filter(name=str(target)).first()
    if found is None:
        raise ActionError(f"no source {target!r} (give its id or name)")
    return found


def _is_id(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isdigit()
    )


def _registry_object(target) -> RegistryObject:
    """By id, `schema.name` (unique across sources) or `source:schema.name`."""
    objects = RegistryObject.objects.select_related("source")
    if _is_id(target):
        found = list(objects.filter(pk=int(target)))
    elif isinstance(target, str) and "." in target:
        source, _, qualified = target.rpartition(":")
        schema, _, name = qualified.partition(".")
        found = list(
            objects.filter(
                schema_name=schema, object_name=name, **({"source__name": source} if source else {})
            )
        )
        if len(found) > 1:
            raise ActionError(
                f"{target!r} names objects of several sources: say which, as 'source:{qualified}'"
            )
    else:
        raise ActionError("target must be a registry object's id, 'schema.name' or 'source:schema.name'")
    if not found:
        raise ActionError(f"no registry object {target!r}")
    return found[0]


class Discover(ActionKind):
    name = "discover"
    description = "discover one source (target: its id or name)"

    def resolve(self, target) -> Target:
        source = _source(target)
        return Target(source.name, source=source)

    def perform(self, action: Action) -> str:
        try:
            return discover_and_record(action.source, triggered_by="api").summary()
        except DiscoveryError as exc:
            raise ActionFailed(str(exc)) from exc


class Refresh(ActionKind):
    name = "refresh"
    description = "refresh one materialized view (target: its id, 'schema.name' or 'source:schema.name')"

    def resolve(self, target) -> Target:
        obj = _registry_object(target)
        if obj.object_type != "matview" or not obj.exists_in_db:
            raise ActionError(f"{obj.qualified_name} is not an existing materialized view")
        return Target(Action.object_target(obj), source=obj.source, obj=obj)

    def perform(self, action: Action) -> str:
        report = refresh_matviews(
            trigger=action.trigger,
            sources=[action.object.source],
            only={action.object.qualified_name},
            attempt=action.attempt,
        )
        if report is None:
            raise ActionFailed("skipped: another refresh_matviews was running")
        if report.failed or report.unreachable:
            raise ActionFailed(str(report))
        return str(report)


class Evaluate(ActionKind):
    name = "evaluate"
    description = "evaluate every health check (no target)"

    def resolve(self, target) -> Target:
        if target not in (None, ""):
            raise ActionError("evaluate takes no target")
        return Target("")

    def perform(self, action: Action) -> str:
        evaluation = evaluate_as_job(trigger=action.trigger)
        if evaluation is None:
            raise ActionFailed("skipped: another evaluation was running")
        return str(evaluation)


class RunDataCheck(ActionKind):
    name = "data_check"
    description = "run one data check now, whatever its schedule (target: its id)"

    def resolve(self, target) -> Target:
        check = None
        if _is_id(target):
            check = DataCheck.objects.select_related("object__source").filter(pk=int(target)).first()
        if check is None:
            raise ActionError(f"no data check {target!r} (give its id)")
        return Target(str(check.pk), source=check.object.source, obj=check.object)

    def perform(self, action: Action) -> str:
        report = run_checks(
            DataCheck.objects.with_latest().filter(pk=int(action.target)), trigger=action.trigger
        )
        if not report.results:
            raise ActionFailed(f"data check {action.target} no longer exists")
        if report.count("error"):  # it could not run; a failing check is a done action
            raise ActionFailed(report.results[0].outcome.message)
        return f"{report}: {report.results[0].outcome.message}"


ACTIONS: dict[str, type[ActionKind]] = {cls.name: cls for cls in (Discover, Refresh, Evaluate, RunDataCheck)}


def request(kind: str, target, *, user=None, by: str, via: str) -> tuple[Action, bool]:
    """The action `kind` on `target`, queued and enqueued; or the one of that kind and
    target already queued or running (then False). A retry waiting for its cooldown is
    run now instead: someone asked."""
    if kind not in ACTIONS:
        raise ActionError(f"unknown action {kind!r}; known: {', '.join(ACTIONS)}")
    resolved = ACTIONS[kind]().resolve(target)
    in_flight = Action.objects.filter(kind=kind, target=resolved.key, state__in=Action.IN_FLIGHT)
    for _ in range(2):  # the one found may finish between the INSERT and the read
        existing = in_flight.order_by("requested_at").first()
        if existing is not None:
            if (
                existing.state == Action.QUEUED
                and existing.not_before
                and existing.not_before > timezone.now()
            ):
                Action.objects.filter(pk=existing.pk).update(not_before=None)
                existing.not_before = None
                existing.enqueue()
            return existing, False
        try:
            with transaction.atomic():
                action = Action.objects.create(
                    kind=kind,
                    target=resolved.key,
                    source=resolved.source,
                    object=resolved.obj,
                    requested_by=user if getattr(user, "pk", None) else None,
                    requested_by_name=by,
                    via=via,
                )
        except IntegrityError:
            continue
        action.enqueue()
        return action, True
    raise ActionError("the action is being requested concurrently; try again")


def perform(action_id: int) -> str | None:
    """The task: run one queued action. Returns quietly when it is gone or already taken."""
    action = Action.claim(action_id)
    if action is None:
        return None
    with run_context(parent=action.parent_run) as runs:
        try:
            outcome, state = ACTIONS[action.kind]().perform(action), Action.DONE
        except Exception as exc:
            outcome, state = safe_message(exc, limit=2000), Action.FAILED
    action.finish(state, outcome, runs[0] if runs else None)
    return f"{action}: {outcome}"
