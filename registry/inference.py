"""Inference: classify a source's registry objects from rules stored as data.

`infer(source)` reads the rules, the objects, their code usages, the dependency edges and
the refresh history once, evaluates everything in Python, and writes back only the rows
whose inferred values changed. Steps:
1. layer, then role (role rules may depend on the layer): first matching rule wins;
2. criticality: every matching rule applies, the highest value wins;
3. criticality propagates upstream: whatever a critical object reads, transitively, is
   critical too;
4. should_monitor, usage_context, inferred refresh schedule, review flags.
Every inferred value records its provenance: the rule and the evidence.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone
from psycopg.types.json import Jsonb

from ledger.models import RunAsset
from registry import queries
from registry.models import (
    LAYERS,
    ROLES,
    CodeUsage,
    Dependency,
    InferenceRule,
    OverrideAudit,
    RegistryObject,
    Source,
    is_effectively_critical,
)
from registry.patterns import PatternError, compile_pattern
from registry.resolver import Resolver

# OpsHealth's materialized-view refresh job, as it records itself in the ledger.
REFRESH_PIPELINE = "opshealth.refresh_matviews"
REFRESH_HISTORY = timedelta(days=90)
CRITICALITY_RANK = {"normal": 0, "important": 1, "critical": 2}
VALID_VALUES = {
    "layer": {value for value, _ in LAYERS},
    "role": {value for value, _ in ROLES},
    "criticality": set(CRITICALITY_RANK),
}
INFERRED_FIELDS = (
    "layer",
    "role",
    "criticality",
    "should_monitor",
    "provenance",
    "usage_context",
    "inferred_refresh_schedule",
    "needs_review",
    "review_reason",
)
_READ_FIELDS = (
    "id",
    "schema_name",
    "object_name",
    "object_type",
    "health_enabled",
    "is_expected",
    "is_critical",
    *INFERRED_FIELDS,
)


@dataclass(slots=True)
class ObjectRow:
    """The part of a RegistryObject inference reads and writes (fields of _READ_FIELDS)."""

    id: int
    schema_name: str
    object_name: str
    object_type: str
    health_enabled: bool | None
    is_expected: bool | None
    is_critical: bool | None
    layer: str
    role: str
    criticality: str
    should_monitor: bool
    provenance: dict
    usage_context: str
    inferred_refresh_schedule: timedelta | None
    needs_review: bool
    review_reason: str

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.object_name}"


@dataclass
class Evidence:
    """What is known about one object beyond its catalog row."""

    endpoint_usages: list[dict] = field(default_factory=list)
    script_usages: list[dict] = field(default_factory=list)
    refreshes: list[datetime] = field(default_factory=list)

    def describe(self, kind: str) -> str:
        if kind == "endpoint_usage":
            return _describe_usages("endpoint", self.endpoint_usages)
        if kind == "script_usage":
            return _describe_usages("script", self.script_usages)
        if kind == "any_usage":
            return _describe_usages("endpoint", self.endpoint_usages) or _describe_usages(
                "script", self.script_usages
            )
        if kind == "refreshed_by_opshealth":
            n = len(self.refreshes)
            return f"refreshed by `{REFRESH_PIPELINE}` ({n} successful refresh{'es' if n != 1 else ''})"
        return ""

    def has(self, kind: str) -> bool:
        return {
            "": True,
            "endpoint_usage": bool(self.endpoint_usages),
            "script_usage": bool(self.script_usages),
            "any_usage": bool(self.endpoint_usages or self.script_usages),
            "refreshed_by_opshealth": bool(self.refreshes),
        }.get(kind, False)


def _describe_usages(context: str, usages: list[dict]) -> str:
    if not usages:
        return ""
    first = usages[0]
    where = f"`{first['file']}:{first['line']}`"
    what = f"`{first['route']}`" if first["route"] else f"`{first['function'] or first['file']}`"
    more = f" and {len(usages) - 1} more" if len(usages) > 1 else ""
    return f"used by {context} {what} in {where}{more}"


@dataclass(frozen=True)
class _CompiledRule:
    rule: InferenceRule
    schema: object | None  # RE2 patterns (registry.patterns)
    name: object | None

    def matches(self, obj: ObjectRow, layer: str, evidence: Evidence) -> bool:
        r = self.rule
        return (
            (self.schema is None or bool(self.schema.fullmatch(obj.schema_name)))
            and (self.name is None or bool(self.name.fullmatch(obj.object_name)))
            and (not r.object_types or obj.object_type in r.object_types)
            and (not r.when_layers or layer in r.when_layers)
            and evidence.has(r.evidence)
        )

    def provenance(self, evidence: Evidence) -> dict:
        r = self.rule
        label = f"#{r.id} {r.description or f'{r.attribute} → {r.value}'}"
        return {"value": r.value, "rule": label, "evidence": evidence.describe(r.evidence)}


def _compile(rules) -> dict[str, list[_CompiledRule]]:
    compiled: dict[str, list[_CompiledRule]] = defaultdict(list)
    for rule in rules:
        if rule.value not in VALID_VALUES.get(rule.attribute, ()):
            continue  # a value the registry cannot store never applies
        try:
            schema = compile_pattern(rule.schema_pattern) if rule.schema_pattern else None
            name = compile_pattern(rule.name_pattern) if rule.name_pattern else None
        except PatternError:
            continue  # an invalid pattern never matches; the admin validates on save
        compiled[rule.attribute].append(_CompiledRule(rule, schema, name))
    return compiled


def _usage_evidence(source: Source) -> dict[int, Evidence]:
    evidence: dict[int, Evidence] = defaultdict(Evidence)
    usages = (
        CodeUsage.objects.filter(source=source, object__isnull=False)
        .order_by("file", "line", "id")
        .values("object_id", "context", "route", "file", "line", "function")
    )
    for u in usages:
        ev = evidence[u["object_id"]]
        (ev.endpoint_usages if u["context"] == "endpoint" else ev.script_usages).append(u)
    return evidence


def _refresh_evidence(source: Source, objects: list[ObjectRow], evidence: dict[int, Evidence]) -> None:
    """Successful refreshes by OpsHealth's refresh job whose asset key resolves to an
    object of this source (one query for the history, one for the resolver rules)."""
    since = timezone.now() - REFRESH_HISTORY
    history = (
        RunAsset.objects.filter(run__pipeline__name=REFRESH_PIPELINE, status="success")
        .annotate(at=Coalesce("ended_at", "run__ended_at", "run__started_at"))
        .filter(at__gte=since)
        .order_by("at")
        .values_list("normalized_key", "at")
    )
    index = [(o.id, o.schema_name, o.object_name) for o in objects]
    resolver = Resolver(source, objects=index, fold_case_fallback=True)
    resolved: dict[str, int | None] = {}
    for key, at in history:
        if key not in resolved:
            resolved[key] = resolver.resolve(key).object_id
        if resolved[key]:
            evidence[resolved[key]].refreshes.append(at)


def typical_interval(times: list[datetime]) -> timedelta | None:
    """The median interval between consecutive times (sorted); None under two times."""
    if len(times) < 2:
        return None
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    return timedelta(seconds=round(statistics.median(gaps)))


class _Inference:
    def __init__(self, source: Source):
        self.source = source
        self.rules = _compile(InferenceRule.objects.filter(is_active=True).order_by("priority", "id"))
        # Plain rows of only the fields rules and overrides read and inference writes:
        # model instances (seven timestamps, deferred-field bookkeeping) cost more than
        # the inference itself on a large source.
        rows = RegistryObject.objects.filter(source=source).values_list(*_READ_FIELDS)
        self.objects = [ObjectRow(*row) for row in rows]
        self.evidence = _usage_evidence(source)
        _refresh_evidence(source, self.objects, self.evidence)
        # downstream id → its upstream ids: what a view reads.
        self.reads: dict[int, list[int]] = defaultdict(list)
        for up, down in Dependency.objects.filter(source=source).values_list("upstream_id", "downstream_id"):
            self.reads[down].append(up)

    def first_match(self, attribute: str, obj: ObjectRow, layer: str) -> dict | None:
        ev = self.evidence.get(obj.id, Evidence())
        for rule in self.rules.get(attribute, []):
            if rule.matches(obj, layer, ev):
                return rule.provenance(ev)
        return None

    def criticality(self, obj: ObjectRow, layer: str) -> dict:
        ev = self.evidence.get(obj.id, Evidence())
        best = None
        for rule in self.rules.get("criticality", []):
            if not rule.matches(obj, layer, ev):
                continue
            if best is None or CRITICALITY_RANK[rule.rule.value] > CRITICALITY_RANK[best["value"]]:
                best = rule.provenance(ev)
        return best or {"value": "normal", "rule": "no rule matched", "evidence": ""}

    def propagate(self, provenance: dict[int, dict]) -> None:
        """Breadth-first upstream from every critical object: the nearest critical
        downstream object is named in the provenance."""
        by_id = {o.id: o for o in self.objects}
        seeds = sorted(
            (
                o
                for o in self.objects
                if is_effectively_critical(o.is_critical, provenance[o.id]["criticality"]["value"])
            ),
            key=lambda o: (o.schema_name, o.object_name),
        )
        queue = deque((o.id, o.id) for o in seeds)
        reached = {o.id for o in seeds}
        while queue:
            current, seed = queue.popleft()
            for up in self.reads.get(current, []):
                if up in reached or up not in by_id:
                    continue
                reached.add(up)
                # An `is_critical = false` override on `up` keeps it non-critical in
                # effect (effective_critical), yet what it reads stays critical.
                queue.append((up, seed))
                provenance[up]["criticality"] = {
                    "value": "critical",
                    "rule": "upstream propagation",
                    "evidence": f"upstream of critical `{by_id[seed].qualified_name}`",
                }

    def run(self) -> list[ObjectRow]:
        provenance: dict[int, dict] = {}
        for obj in self.objects:
            layer = self.first_match("layer", obj, "") or {"value": obj.layer, "rule": "no rule matched"}
            role = self.first_match("role", obj, layer["value"]) or {
                "value": obj.role,
                "rule": "no rule matched",
            }
            provenance[obj.id] = {
                "layer": layer,
                "role": role,
                "criticality": self.criticality(obj, layer["value"]),
            }
        self.propagate(provenance)
        changed = []
        for obj in self.objects:
            if self.apply(obj, provenance[obj.id]):
                changed.append(obj)
        return changed

    def apply(self, obj: ObjectRow, prov: dict) -> bool:
        before = tuple(getattr(obj, f) for f in INFERRED_FIELDS)
        ev = self.evidence.get(obj.id, Evidence())
        obj.layer, obj.role = prov["layer"]["value"], prov["role"]["value"]
        obj.criticality = prov["criticality"]["value"]
        obj.usage_context = _usage_context(ev)
        prov["usage_context"] = {
            "value": obj.usage_context,
            "evidence": ev.describe("endpoint_usage") or ev.describe("script_usage") or "no code usage",
        }
        obj.should_monitor, prov["should_monitor"] = _should_monitor(obj)
        obj.inferred_refresh_schedule = typical_interval(ev.refreshes)
        if ev.refreshes:
            prov["refresh_schedule"] = {
                "value": str(obj.inferred_refresh_schedule) if obj.inferred_refresh_schedule else None,
                "evidence": f"median interval of {ev.describe('refreshed_by_opshealth')}",
            }
        obj.provenance = prov
        _flag_review(obj, _contradictions(obj, ev))
        return tuple(getattr(obj, f) for f in INFERRED_FIELDS) != before


def _usage_context(ev: Evidence) -> str:
    if ev.endpoint_usages and ev.script_usages:
        return "both"
    return "endpoint" if ev.endpoint_usages else "script" if ev.script_usages else ""


def _should_monitor(obj: ObjectRow) -> tuple[bool, dict]:
    """critical or important or health_enabled; an explicit health override decides."""
    if obj.health_enabled is not None:
        return obj.health_enabled, {"value": obj.health_enabled, "rule": "health_enabled override"}
    if is_effectively_critical(obj.is_critical, obj.criticality):
        return True, {"value": True, "rule": "critical"}
    if obj.criticality == "important":
        return True, {"value": True, "rule": "important"}
    return False, {"value": False, "rule": "normal criticality, no health override"}


def _contradictions(obj: ObjectRow, ev: Evidence) -> str:
    """New evidence against an active override, as one sentence per contradiction."""
    reasons = []
    if obj.is_expected is False and (ev.endpoint_usages or ev.script_usages):
        reasons.append(
            f"overridden as not expected but used by {len(ev.endpoint_usages)} endpoint and "
            f"{len(ev.script_usages)} script location(s): {ev.describe('any_usage')}"
        )
    inferred = obj.provenance["criticality"]
    if obj.is_critical is False and inferred["value"] == "critical":
        reasons.append(f"overridden as not critical but inferred critical: {inferred['evidence']}")
    if obj.health_enabled is False and inferred["value"] in ("critical", "important"):
        reasons.append(f"health checks disabled but inferred {inferred['value']}: {inferred['evidence']}")
    return "; ".join(reasons)


def _flag_review(obj: ObjectRow, reason: str) -> None:
    """Flag when the contradiction is new; a person who cleared the flag is not asked
    again until the evidence changes."""
    if not reason:
        obj.needs_review, obj.review_reason = False, ""
    elif reason != obj.review_reason:
        obj.needs_review, obj.review_reason = True, reason


def _column_value(obj: ObjectRow, name: str):
    value = getattr(obj, name)
    return Jsonb(value) if name == "provenance" else value


def infer(source: Source) -> int:
    """Re-infer every object of the source; returns how many rows changed."""
    # Read before the evidence: what is written meanwhile makes the source stale again.
    marks = evidence_marks()
    changed = _Inference(source).run()
    now = timezone.now()
    queries.update_rows(
        RegistryObject._meta.db_table,
        [*INFERRED_FIELDS, "updated_at"],
        [(o.id, *(_column_value(o, f) for f in INFERRED_FIELDS), now) for o in changed],
    )
    mark = marks.get(source.pk, marks[None])
    if source.inferred_from != mark:
        Source._default_manager.filter(pk=source.pk).update(inferred_from=mark)
        source.inferred_from = mark
    return len(changed)


def evidence_marks() -> dict[int | None, str]:
    """Per source id, a mark of the evidence that reaches inference other than through
    discovery (which infers): the newest successful refresh by OpsHealth's job, the
    newest override edit of the source's objects. By id, not time: a backfill of old
    refreshes is new evidence too, and ids need no clock. Key None: a source with no
    override edit. Two aggregate reads."""
    refresh = RunAsset.objects.filter(run__pipeline__name=REFRESH_PIPELINE, status="success").aggregate(
        n=Max("id")
    )["n"]
    audits = OverrideAudit.objects.values_list("object__source_id").annotate(n=Max("id")).order_by()
    marks: dict[int | None, str] = {source_id: f"{refresh}:{n}" for source_id, n in audits}
    marks[None] = f"{refresh}:None"
    return marks


def infer_stale() -> int:
    """Re-infer the active sources whose evidence moved since their last inference;
    returns how many rows changed.

    Discovery infers, and so do an override edit and `refresh_matviews`; this catches
    what reached the evidence otherwise (a refresh logged by another path, an override
    written by another process), so an evaluation never judges a stale classification.
    Three reads when nothing moved (`evidence_marks`, the sources). A source never
    inferred is left to its first discovery.
    """
    marks = evidence_marks()
    changed = 0
    for source in Source.objects.filter(is_active=True).exclude(inferred_from="").order_by("name"):
        if source.inferred_from != marks.get(source.pk, marks[None]):
            changed += infer(source)
    return changed
