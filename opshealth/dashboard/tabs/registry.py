"""Registry: the registry filterable and searchable, each row with its health (the worst
level of its items in the latest evaluation) and staleness; and the object page."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from checks.models import INFO, LEVEL_RANK, Evaluation
from checks.staleness import object_staleness
from ledger.models import CheckResult, RunAsset
from opshealth.dashboard import svg
from opshealth.dashboard.tabs.base import BadParameter, Tab, page_of
from registry.api.objects import registry_state
from registry.filters import RegistryObjectFilter
from registry.models import (
    CRITICALITIES,
    LAYERS,
    OBJECT_TYPES,
    OVERRIDE_FIELDS,
    AssetLink,
    Dependency,
    RegistryObject,
    Source,
)

# The filters a person uses most, from the API's FilterSet (same names, same values).
FILTERS = (
    "source",
    "schema_name",
    "object_type",
    "layer",
    "criticality",
    "should_monitor",
    "exists_in_db",
    "needs_review",
)
DEFAULT_HOPS, MAX_HOPS, PER_COLUMN = 2, 6, 25
RECENT = 20
MAX_USAGES = 200


def items_by_object(violations) -> dict[int, list[tuple[str, str]]]:
    """object id → its distinct failing (check_key, level) pairs, worst first."""
    items: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for v in violations:
        if v.level != INFO:
            items[v.object_id].add((v.check_key, v.level))
    return {pk: sorted(pairs, key=lambda p: (-LEVEL_RANK[p[1]], p[0])) for pk, pairs in items.items()}


def worst_items(evaluation: Evaluation | None, object_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """The failing items of the objects (one page of them) in the evaluation, one query."""
    if evaluation is None or not object_ids:
        return {}
    return items_by_object(
        evaluation.violations.filter(object_id__in=object_ids)
        .failing()
        .only("evaluation", "object_id", "check_key", "level")
    )


def health_of(items: list[tuple[str, str]]) -> str:
    """The object's health: its worst item level, OK when none fails."""
    return items[0][1] if items else "OK"


class Registry(Tab):
    key = "registry"
    title = "Registry"
    params = frozenset({*FILTERS, "q", "page"})
    cached = True

    def state(self, scheduler):
        return registry_state()  # an override edited shows in the list at once

    def context(self, request, evaluation):
        filterset = RegistryObjectFilter(
            {k: v for k, v in request.GET.items() if k in FILTERS},
            queryset=RegistryObject.objects.select_related("source").only(
                "id",
                "schema_name",
                "object_name",
                "object_type",
                "layer",
                "criticality",
                "should_monitor",
                "health_enabled",
                "exists_in_db",
                "needs_review",
                "estimated_rows",
                "source__name",
            ),
        )
        if not filterset.is_valid():
            raise BadParameter(
                "; ".join(f"{field}: {' '.join(errors)}" for field, errors in filterset.errors.items())
            )
        objects = filterset.qs.order_by("schema_name", "object_name", "id")
        q = request.GET.get("q", "").strip()
        if q:  # the API's search fields
            objects = objects.filter(
                Q(schema_name__icontains=q)
                | Q(object_name__icontains=q)
                | Q(description__icontains=q)
                | Q(db_comment__icontains=q)
            )
        page = page_of(objects, request.GET.get("page"))
        ids = [obj.pk for obj in page]
        items = worst_items(evaluation, ids)
        staleness = {s.object_id: s for s in object_staleness(timezone.now(), ids=ids)} if ids else {}
        rows = [
            (obj, health_of(items.get(obj.pk, [])), items.get(obj.pk, []), staleness.get(obj.pk))
            for obj in page
        ]
        return {
            "rows": rows,
            "page": page,
            "q": q,
            "filters": {k: request.GET.get(k, "") for k in FILTERS},
            "booleans": [
                (name, label, request.GET.get(name, ""))
                for name, label in (
                    ("should_monitor", "monitored"),
                    ("exists_in_db", "exists"),
                    ("needs_review", "needs review"),
                )
            ],
            "choices": {
                "source": list(Source.objects.values_list("name", flat=True)),
                "schema_name": list(
                    RegistryObject.objects.order_by("schema_name")
                    .values_list("schema_name", flat=True)
                    .distinct()
                ),
                "object_type": OBJECT_TYPES,
                "layer": LAYERS,
                "criticality": CRITICALITIES,
            },
        }


TAB = Registry


def object_context(request, pk: int, evaluation: Evaluation | None) -> dict | None:
    """The object page: status, staleness and the signal that decided it, lineage up and
    down (`?hops=`), columns, code usages, recent runs and check results, overrides and
    provenance. None when the object does not exist."""
    hops = request.GET.get("hops", str(DEFAULT_HOPS))
    if not hops.isdigit() or not 1 <= int(hops) <= MAX_HOPS:
        raise BadParameter(f"hops must be a number from 1 to {MAX_HOPS}, not {hops!r}.")
    hops = int(hops)
    obj = RegistryObject.objects.select_related("source").filter(pk=pk).first()
    if obj is None:
        return None
    nodes = Dependency.lineage(pk, hops=hops, per_column=PER_COLUMN)
    # The object's own items and its neighbours' health in one query (the graph's ids:
    # at most PER_COLUMN a column).
    violations = (
        list(evaluation.violations.filter(object_id__in=[n.id for n in nodes] or [pk]).worst_first())
        if evaluation
        else []
    )
    items = items_by_object(violations)
    own_items = [v for v in violations if v.object_id == pk]
    staleness = next(iter(object_staleness(timezone.now(), ids=[pk])), None)
    keys = AssetLink.objects.filter(object_id=pk).values("normalized_key")
    runs = (
        RunAsset.objects.filter(normalized_key__in=keys)
        .select_related("run__pipeline")
        .order_by("-created_at", "-id")[:RECENT]
    )
    results = CheckResult.objects.filter(normalized_key__in=keys).order_by("-checked_at", "-id")[:RECENT]
    return {
        "obj": obj,
        "title": obj.qualified_name,
        "health": health_of(items.get(pk, [])),
        "items": own_items,
        "staleness": staleness,
        "lineage_svg": lineage_svg(obj, nodes, items, hops),
        "lineage_counts": {
            "up": sum(1 for n in nodes if n.depth < 0),
            "down": sum(1 for n in nodes if n.depth > 0),
        },
        "hops": hops,
        "more_hops": hops + 1 if hops < MAX_HOPS and any(abs(n.depth) == hops for n in nodes) else None,
        "fewer_hops": hops - 1 if hops > 1 else None,
        "columns": list(obj.columns.all()),
        "usages": list(obj.code_usages.all()[:MAX_USAGES]),
        "max_usages": MAX_USAGES,
        "runs": list(runs),
        "results": list(results),
        # Each inferred value with the rule and evidence behind it, and the overrides.
        "provenance": sorted((obj.provenance or {}).items()),
        "overrides": [(name, getattr(obj, name)) for name in OVERRIDE_FIELDS],
        "admin_url": reverse("admin:registry_registryobject_change", args=[pk]),
    }


def lineage_svg(obj: RegistryObject, nodes, items: dict, hops: int):
    kept = Counter(n.depth for n in nodes)
    more = {n.depth: n.in_column - kept[n.depth] for n in nodes}
    drawn = [
        svg.Node(
            id=n.id,
            label=n.qualified_name,
            depth=n.depth,
            href=reverse("dashboard-object", args=[n.id]) + (f"?hops={hops}" if hops != DEFAULT_HOPS else ""),
            css="gone" if not n.exists_in_db else health_of(items.get(n.id, [])).lower(),
            hint=", ".join(
                [n.object_type.replace("_", " ")]
                + [f"{key} {level}" for key, level in items.get(n.id, [])]
                + ([] if n.exists_in_db else ["gone from the database"])
            ),
        )
        for n in nodes
    ]
    edges = [(n.id, d) for n in nodes for d in n.downstream_ids]
    return svg.lineage_graph(
        drawn,
        edges,
        label=f"Lineage of {obj.qualified_name}, {hops} hops up and down",
        more={d: m for d, m in more.items() if m > 0},
    )
