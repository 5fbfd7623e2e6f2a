"""Manual overrides of registry objects, audited: the one write path for admin, API and CLI.

An override is a person's correction of what discovery inferred (`OVERRIDE_FIELDS`).
Every change is recorded as an `OverrideAudit` row (field, old → new, who, when, via);
a value that does not change records nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.duration import duration_string

from registry import queries
from registry.inference import _should_monitor, infer
from registry.models import OVERRIDE_FIELDS, OverrideAudit, RegistryObject, Source, is_effectively_critical

VIA = ("admin", "api", "cli")
# Overrides that feed should_monitor (see registry.inference._should_monitor).
MONITOR_INPUTS = frozenset({"health_enabled", "is_critical"})
# How discovery words a contradiction per override (registry.inference._contradictions);
# a reason naming none of them is attributed to all three.
REVIEW_MARKERS = {
    "is_expected": "overridden as not expected",
    "is_critical": "overridden as not critical",
    "health_enabled": "health checks disabled",
}
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
    """The overrides a review reason contradicts."""
    flagged = {name for name, marker in REVIEW_MARKERS.items() if marker in review_reason}
    return flagged or set(REVIEW_MARKERS)


def apply_overrides(
    target: RegistryObject | QuerySet[RegistryObject],
    changes: dict[str, Any],
    *,
    user=None,
    actor_name: str = "",
    via: str = "admin",
) -> list[OverrideAudit]:
    """Set override fields on one object or a queryset, auditing each changed field.

    A constant number of queries whatever the number of objects: the rows locked and
    read, one UPDATE per distinct set of derived values (a handful at most), one INSERT
    of the audit rows. Returns the audit rows written.

    - Only `OVERRIDE_FIELDS` may be changed (else `OverrideError`).
    - `should_monitor` (and its provenance) is recomputed with discovery's own rule when
      `health_enabled` or `is_critical` changes.
    - `needs_review` is cleared when an override the review is about changes. The
      reason is kept: discovery asks again only when its evidence changes.
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
                "source_id",
                "criticality",
                "is_critical",
                "health_enabled",
                "should_monitor",
                "provenance",
                "needs_review",
                "review_reason",
                *changes,
            )
        )
        audits: list[OverrideAudit] = []
        # Rows needing the same UPDATE: every changed row takes the same override values,
        # so rows differ only in the few derived values; one UPDATE per distinct set.
        # (bulk_update's CASE per row makes its statement quadratic: 58 s for 10,000 rows.)
        groups: dict[tuple, list[RegistryObject]] = defaultdict(list)
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
            obj.updated_at = now
            groups[_derive(obj, changed)].append(obj)
        for derived, objs in groups.items():
            RegistryObject.objects.filter(pk__any=[o.pk for o in objs]).update(
                **changes, updated_at=now, **_derived_columns(dict(derived))
            )
        OverrideAudit.objects.bulk_create(audits, batch_size=queries.BATCH_ROWS)

    # Overrides are inference evidence (criticality propagates from effective
    # criticality): the touched sources are re-inferred once the edit is committed, not
    # at the next discovery.
    touched = sorted({obj.source_id for objs in groups.values() for obj in objs})
    if touched:
        transaction.on_commit(lambda: _reinfer(touched))
    if instance is not None and groups:
        (saved,) = (objs[0] for objs in groups.values())
        for name in ("updated_at", "should_monitor", "provenance", "needs_review", *changes):
            setattr(instance, name, getattr(saved, name))
        # PostgreSQL computed the stored column; the instance in memory gets the same rule.
        instance.effective_critical = is_effectively_critical(saved.is_critical, saved.criticality)
    return audits


def _reinfer(source_ids: list[int]) -> None:
    for source in Source.objects.filter(pk__any=source_ids):
        infer(source)


def mark_reviewed(
    target: RegistryObject | QuerySet[RegistryObject],
    *,
    user=None,
    actor_name: str = "",
    via: str = "admin",
) -> list[OverrideAudit]:
    """A person looked at the flagged objects and keeps their overrides as they are.

    Clears `needs_review` and keeps `review_reason`, so discovery flags the object again
    only when its evidence changes. Audited as a change of `needs_review`; three queries.
    """
    pks = [target.pk] if isinstance(target, RegistryObject) else target.values("pk")
    changed_by, changed_by_name = _actor(user, actor_name)
    now = timezone.now()
    with transaction.atomic():
        flagged = list(
            RegistryObject.objects.filter(pk__in=pks, needs_review=True)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        RegistryObject.objects.filter(pk__any=flagged).update(needs_review=False, updated_at=now)
        audits = OverrideAudit.objects.bulk_create(
            [
                OverrideAudit(
                    object_id=pk,
                    field="needs_review",
                    old_value="true",
                    new_value="false",
                    changed_by=changed_by,
                    changed_by_name=changed_by_name,
                    via=via,
                    changed_at=now,
                )
                for pk in flagged
            ],
            batch_size=queries.BATCH_ROWS,
        )
    if isinstance(target, RegistryObject) and flagged:
        target.needs_review = False
    return audits


def _derive(obj: RegistryObject, changed: list[str]) -> tuple:
    """Apply to `obj` the values that follow from the overrides just changed; return them
    as a hashable key (the columns its UPDATE must also set)."""
    derived: dict[str, Any] = {}
    # Only these overrides move should_monitor; its other inputs are discovery's, and
    # discovery recomputes it every run with the same rule.
    if MONITOR_INPUTS & set(changed):
        obj.should_monitor, monitor_provenance = _should_monitor(obj)
        obj.provenance = {**(obj.provenance or {}), "should_monitor": monitor_provenance}
        derived["should_monitor"] = obj.should_monitor
        derived["monitor_provenance"] = json.dumps(monitor_provenance, sort_keys=True)
    if obj.needs_review and flagged_fields(obj.review_reason) & set(changed):
        obj.needs_review = False
        derived["needs_review"] = False
    return tuple(sorted(derived.items()))


def _derived_columns(derived: dict[str, Any]) -> dict[str, Any]:
    """The UPDATE's columns for a `_derive` key."""
    columns: dict[str, Any] = {}
    if "needs_review" in derived:
        columns["needs_review"] = derived["needs_review"]
    if "should_monitor" in derived:
        columns["should_monitor"] = derived["should_monitor"]
        # Only the should_monitor entry changes: the rest of the provenance is discovery's.
        columns["provenance"] = queries.jsonb_with_key(
            "provenance", "should_monitor", derived["monitor_provenance"]
        )
    return columns


def _actor(user, actor_name: str):
    """(user row or None, name): a token user has no row, only a name."""
    user_model = get_user_model()
    if isinstance(user, user_model):
        return user, actor_name or user.get_username()
    return None, actor_name or (str(user) if user is not None else "")
