"""Manual overrides of registry objects, audited: the one write path for admin, API and CLI.

An override is a person's correction of what discovery inferred (`OVERRIDE_FIELDS`).
Every change is recorded as an `OverrideAudit` row (field, old → new, who, when, via);
a value that does not change records nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.duration import duration_string

from registry.models import OVERRIDE_FIELDS, OverrideAudit, RegistryObject

VIA = ("admin", "api", "cli")
MONITORED_CRITICALITIES = ("critical", "important")
# "Clear overrides" resets these. Notes are a person's commentary, not a correction of
# an inferred value, so they survive.
CLEARED_VALUES: dict[str, Any] = {
    "health_enabled": None,
    "is_expected": None,
    "is_critical": None,
    "description": "",
    "refresh_schedule": None,
    "max_staleness": None,
}


class OverrideError(ValueError):
    """Changes naming fields that are not overrides; `fields` lists them."""

    def __init__(self, fields: Iterable[str]):
        self.fields = sorted(fields)
        super().__init__(f"not override fields: {', '.join(self.fields)}")


def should_monitor(criticality: str, health_enabled: bool | None) -> bool:
    """The spec's rule: critical or important objects, and those a person enabled."""
    return criticality in MONITORED_CRITICALITIES or bool(health_enabled)


def as_text(value: Any) -> str | None:
    """How a value is written in the audit trail (NULL stays NULL: "no override")."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.timedelta):
        return duration_string(value)
    return str(value)


def flagged_fields(review_reason: str) -> set[str]:
    """Override fields named in a review reason; empty when the reason names none."""
    return {name for name in OVERRIDE_FIELDS if re.search(rf"\b{name}\b", review_reason)}


def apply_overrides(
    target: RegistryObject | QuerySet[RegistryObject],
    changes: dict[str, Any],
    *,
    user=None,
    actor_name: str = "",
    via: str = "admin",
) -> list[OverrideAudit]:
    """Set override fields on one object or a queryset, auditing each changed field.

    Three queries whatever the number of objects: the rows locked and read, one UPDATE
    of the changed rows, one INSERT of the audit rows. Returns the audit rows written.

    - Only `OVERRIDE_FIELDS` may be changed (else `OverrideError`).
    - `should_monitor` is recomputed when `health_enabled` changes.
    - `needs_review` is cleared when the flagged override changes (the override named
      in `review_reason`, or any override when the reason names none).
    - A user is recorded by FK and name; a token (no user row) by its name.
    """
    unknown = set(changes) - set(OVERRIDE_FIELDS)
    if unknown:
        raise OverrideError(unknown)
    if via not in VIA:
        raise ValueError(f"via must be one of {VIA}, got {via!r}")
    if not changes:
        return []
    instance = target if isinstance(target, RegistryObject) else None
    # Re-select by primary key: the caller's queryset may carry joins, DISTINCT or
    # ordering (an admin changelist's) that FOR UPDATE or only() would refuse.
    pks = [instance.pk] if instance else target.values("pk")
    queryset = RegistryObject.objects.filter(pk__in=pks)
    changed_by, changed_by_name = _actor(user, actor_name)
    now = timezone.now()

    with transaction.atomic():
        # Locked so that two people editing the same rows serialize and each audit row's
        # old value is the value its change really replaced.
        rows = list(
            queryset.order_by("pk")
            .select_for_update(of=("self",))
            .only(
                "pk",
                "criticality",
                "health_enabled",
                "should_monitor",
                "needs_review",
                "review_reason",
                *changes,
            )
        )
        updated, audits = [], []
        for obj in rows:
            changed = [name for name, value in changes.items() if getattr(obj, name) != value]
            if not changed:
                continue
            for name in changed:
                audits.append(
                    OverrideAudit(
                        object=obj,
                        field=name,
                        old_value=as_text(getattr(obj, name)),
                        new_value=as_text(changes[name]),
                        changed_by=changed_by,
                        changed_by_name=changed_by_name,
                        via=via,
                        changed_at=now,
                    )
                )
                setattr(obj, name, changes[name])
            _derive(obj, changed)
            obj.updated_at = now
            updated.append(obj)
        if updated:
            fields = [*changes, "updated_at", "should_monitor", "needs_review", "review_reason"]
            RegistryObject.objects.bulk_update(updated, fields)
            OverrideAudit.objects.bulk_create(audits)

    if instance is not None and updated:
        for name in ("updated_at", "should_monitor", "needs_review", "review_reason", *changes):
            setattr(instance, name, getattr(updated[0], name))
    return audits


def _derive(obj: RegistryObject, changed: list[str]) -> None:
    """Values that follow from the overrides just changed on `obj`."""
    # Only a change of health_enabled moves should_monitor: the rest of its inputs are
    # discovery's, and discovery recomputes it every run.
    if "health_enabled" in changed:
        obj.should_monitor = should_monitor(obj.criticality, obj.health_enabled)
    if obj.needs_review:
        flagged = flagged_fields(obj.review_reason)
        if not flagged or flagged & set(changed):
            obj.needs_review = False
            obj.review_reason = ""


def _actor(user, actor_name: str):
    """(user row or None, name): a token user has no row, only a name."""
    user_model = get_user_model()
    if isinstance(user, user_model):
        return user, actor_name or user.get_username()
    return None, actor_name or (str(user) if user is not None else "")
