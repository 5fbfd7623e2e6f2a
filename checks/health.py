"""Health & coverage checks (spec §6): a dict of small classes, one verb each.

Every check evaluates the whole registry at once with a constant number of queries,
whatever the number of objects (tests pin it for 10 and 500 objects). Shared inputs
that several checks need — staleness, each source's live catalog, ledger keys unknown
to the registry — are computed once per evaluation and cached on the `Context`.

A check yields a `CheckOutcome`: status OK | WARN | ERROR and its offending `Item`s.
The status is the highest item level (INFO items are listed but never fail a check).
Checks the spec marks "warning (error if …)" declare severity `warning` and escalate
single items to ERROR; the stored result then carries severity `error`, so the global
rule "ERROR if any error-severity check is ERROR" sees it.

Definitions that the spec leaves open, made precise here:

* A *used name* is a resolvable code usage (CodeUsage with schema and object name) or a
  ledger asset key (watermark, run asset, check result) that no AssetLink maps to a
  registry object. Keys of run assets of kind `file` are not database objects and are
  ignored.
* **unregistered_used_object**: a used name that is not a registry object of its
  source, yet exists in that source's live catalog — i.e. it sits where discovery does
  not look (an excluded or not-included schema), or the resolver could not map it.
  Code usages are looked up in their own source; ledger keys (which carry no source)
  in every reachable source, by their `schema.object` part (the ledger's normalized
  form `[postgresql://host:port/][db/]schema.object`).
  Level ERROR when an HTTP endpoint uses it, else WARN.
* **used_object_missing**: code names an object that does not exist: either its
  registry object has `exists_in_db = false`, or the name is neither registered nor in
  the live catalog. Names of an unreachable source are not judged (source_unreachable
  says why). Level ERROR when an endpoint uses it, else WARN.
* **used_column_missing**: a code usage of an existing registry object names a column
  (the scan qualifies columns against the source's catalog: aliases, CTEs, `SELECT *`)
  that the object's discovered columns lack (`CodeUsage.missing_columns`). Level ERROR
  when an HTTP endpoint uses it, else WARN. `schema_changed` names, per removed or
  retyped column, the code usages that name it (`breaks`).
* *Monitored* = `health_enabled` override when set, else the inferred `should_monitor`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from checks import queries
from checks.models import ERROR, INFO, LEVEL_RANK, OK, WARN
from checks.retry import pending_retries
from checks.staleness import Staleness, iso, object_staleness
from common.identifiers import InvalidName, split_identifier
from ledger import schedule
from ledger.analytics import schedule_states
from ledger.models import Pipeline, Run
from registry.catalog import Relation
from registry.engines import engine_for
from registry.models import CodeUsage, RegistryObject, SchemaChange, Source


@dataclass
class Item:
    """One offending item of a check: what, how bad, and the evidence."""

    level: str
    subject: str
    subject_type: str = "object"
    object_id: int | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class CheckOutcome:
    status: str
    message: str
    items: list[Item]


@dataclass
class SourceCatalog:
    source_id: int
    source_name: str
    reachable: bool
    relations: dict[tuple[str, str], Relation] = field(default_factory=dict)
    error_class: str = ""
    error: str = ""


@dataclass
class UsedName:
    """Resolvable code usages of one name of a source, with its registry object if any."""

    source_id: int
    source_name: str
    schema_name: str
    object_name: str
    object_id: int | None
    exists_in_db: bool | None  # None when no registry object matches
    by_endpoint: bool
    usages: int
    locations: list[str]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.object_name}"

    @property
    def level(self) -> str:
        # An HTTP endpoint using a broken name fails user requests, not just a job.
        return ERROR if self.by_endpoint else WARN

    def detail(self, **extra) -> dict:
        """The evidence of an item about this name; `extra` keys follow `source`."""
        return {
            "source": self.source_name,
            **extra,
            "by_endpoint": self.by_endpoint,
            "usages": self.usages,
            "locations": self.locations,
        }


class Context:
    """What one evaluation reads, computed lazily and at most once."""

    def __init__(self, now: datetime):
        self.now = now

    @cached_property
    def staleness(self) -> list[Staleness]:
        return object_staleness(self.now)

    @cached_property
    def catalogs(self) -> dict[int, SourceCatalog]:
        """Each active source's live catalog: one connection and one query per source."""
        catalogs = {}
        for source in Source._default_manager.filter(is_active=True).order_by("name"):
            try:
                dsn = source.resolved_dsn()
                engine = engine_for(source)
                with engine.connect(dsn, timeout=settings.OPSHEALTH_CONNECT_TIMEOUT_S) as conn:
                    relations = engine.read_relations(conn)
            except Exception as exc:  # any failure to reach it is the finding itself
                catalogs[source.pk] = SourceCatalog(
                    source.pk,
                    source.name,
                    False,
                    error_class=type(exc).__name__,
                    error=source.safe_message(exc),
                )
                continue
            catalogs[source.pk] = SourceCatalog(source.pk, source.name, True, relations)
        return catalogs

    def live_catalog(self, source_id: int) -> SourceCatalog | None:
        """The source's catalog as read now; None when it is inactive or unreachable."""
        catalog = self.catalogs.get(source_id)
        return catalog if catalog and catalog.reachable else None

    @cached_property
    def unknown_ledger_keys(self) -> dict[str, list[str]]:
        """Ledger asset keys that no AssetLink maps to a registry object → their origins."""
        return dict(queries.unknown_ledger_keys())

    @cached_property
    def used_names(self) -> list[UsedName]:
        """Resolvable code usages grouped by (source, name), with their registry object
        (by resolved link, else by exact name) when there is one."""
        return [UsedName(*row) for row in queries.used_names()]

    @cached_property
    def monitored_ids(self) -> set[int]:
        return set(
            RegistryObject.objects.filter(
                Q(health_enabled=True) | Q(health_enabled__isnull=True, should_monitor=True)
            ).values_list("id", flat=True)
        )


class HealthCheck:
    check_key: str = ""
    severity: str = "warning"  # declared: info | warning | error
    description: str = ""
    remedy: str = ""  # what would turn it green

    @property
    def drilldown_url(self) -> str:
        """The check's offending items on the dashboard, in the seed's `/ops/health?tab=…`
        form (the API's drilldown is /api/v1/ops/health-checks/<check_key>)."""
        return f"{reverse('dashboard')}?tab=checks&check={self.check_key}"

    def evaluate(self, ctx: Context) -> CheckOutcome:
        raise NotImplementedError

    def outcome(self, items: list[Item], ok: str, failing: str) -> CheckOutcome:
        """Status = highest item level; the failing message is formatted with the count."""
        worst = max((LEVEL_RANK[i.level] for i in items), default=0)
        status = {0: OK, 1: WARN, 2: ERROR}[worst]
        failing_count = sum(1 for i in items if i.level != INFO)
        if status == OK:
            infos = len(items) - failing_count
            return CheckOutcome(OK, ok + (f" ({infos} informational)" if infos else ""), items)
        return CheckOutcome(status, failing.format(n=failing_count), items)


class ExpectedSourceMissing(HealthCheck):
    check_key = "expected_source_missing"
    severity = "error"
    description = "An object marked expected (is_expected) is gone from its database."
    remedy = "Restore the missing objects, or clear their is_expected override"

    def evaluate(self, ctx):
        rows = (
            RegistryObject.objects.filter(is_expected=True, exists_in_db=False)
            .order_by("schema_name", "object_name", "id")
            .values("id", "schema_name", "object_name", "source__name", "last_seen_at")
        )
        items = [
            Item(
                ERROR,
                f"{r['schema_name']}.{r['object_name']}",
                object_id=r["id"],
                detail={"source": r["source__name"], "last_seen_at": iso(r["last_seen_at"])},
            )
            for r in rows
        ]
        return self.outcome(items, "Every expected object exists.", "{n} expected object(s) missing.")


class UnregisteredUsedObject(HealthCheck):
    check_key = "unregistered_used_object"
    severity = "warning"
    description = "Code or run events use an object that exists in a source but not in the registry."
    remedy = "Include their schemas in the source (then discover), or add resolver rules"

    def evaluate(self, ctx):
        items = []
        for u in ctx.used_names:
            catalog = ctx.live_catalog(u.source_id)
            name = (u.schema_name, u.object_name)
            if u.object_id is None and catalog and name in catalog.relations:
                items.append(
                    Item(u.level, u.qualified_name, subject_type="name", detail=u.detail(used_by="code"))
                )
        for key, origins in ctx.unknown_ledger_keys.items():
            name = _schema_and_name(key)
            if name is None:
                continue
            found = [c.source_name for c in ctx.catalogs.values() if c.reachable and name in c.relations]
            if found:
                items.append(
                    Item(
                        WARN,
                        key,
                        subject_type="asset",
                        detail={"sources": found, "used_by": "ledger", "origins": origins},
                    )
                )
        return self.outcome(
            items, "Every used object that exists is registered.", "{n} used object(s) not in the registry."
        )


class UsedObjectMissing(HealthCheck):
    check_key = "used_object_missing"
    severity = "warning"
    description = "Code references an object that does not exist."
    remedy = "Create the missing objects or remove the code that references them"

    def evaluate(self, ctx):
        items = []
        for u in ctx.used_names:
            catalog = ctx.live_catalog(u.source_id)
            if u.object_id is not None:
                missing = not u.exists_in_db
            elif catalog is None:
                continue  # cannot judge: source_unreachable reports it
            else:
                missing = (u.schema_name, u.object_name) not in catalog.relations
            if missing:
                subject_type = "object" if u.object_id else "name"
                items.append(
                    Item(u.level, u.qualified_name, subject_type, object_id=u.object_id, detail=u.detail())
                )
        return self.outcome(items, "Every object named in code exists.", "{n} referenced object(s) missing.")


class UsedColumnMissing(HealthCheck):
    check_key = "used_column_missing"
    severity = "warning"
    description = "Code references a column its object does not have (ERROR when an endpoint uses it)."
    remedy = "Fix the code to use the object's real columns, or add the missing columns"

    def evaluate(self, ctx):
        items = []
        usages = CodeUsage.objects.naming_columns().order_by(
            "object__schema_name", "object__object_name", "file", "line", "id"
        )
        for usage in usages:
            for column in usage.missing_columns(usage.real_columns):
                obj = usage.object
                items.append(
                    Item(
                        ERROR if usage.context == "endpoint" else WARN,
                        f"{obj.qualified_name}.{column}",
                        subject_type="column",
                        object_id=obj.pk,
                        detail={
                            "source": usage.source.name,
                            "object": obj.qualified_name,
                            "column": column,
                            "location": usage.location,
                            "context": usage.context,
                            "route": usage.route or None,
                            "function": usage.function,
                            "columns": usage.real_columns,
                        },
                    )
                )
        return self.outcome(
            items, "Every column named in code exists.", "{n} column reference(s) to missing columns."
        )


class MonitoredNotInHealthViews(HealthCheck):
    check_key = "monitored_not_in_health_views"
    severity = "warning"
    description = "health_enabled but nothing measures it: no watermark, no run asset, no data check."
    remedy = "Log watermarks or runs for them (RunLogger), add a data check, or disable health"

    def evaluate(self, ctx):
        items = [
            Item(WARN, name, object_id=pk, detail={"missing": ["watermark", "run_asset", "data_check"]})
            for pk, name in queries.unmeasured_health_enabled()
        ]
        return self.outcome(
            items, "Every health-enabled object is measured.", "{n} health-enabled object(s) not measured."
        )


class HealthViewSourceUnknown(HealthCheck):
    check_key = "health_view_source_unknown"
    severity = "warning"
    description = "A watermark, run asset or check result names an asset unknown to the registry."
    remedy = "Add resolver rules mapping these keys, or register the objects"

    def evaluate(self, ctx):
        items = [
            Item(WARN, key, subject_type="asset", detail={"origins": origins})
            for key, origins in ctx.unknown_ledger_keys.items()
        ]
        return self.outcome(
            items, "Every ledger asset maps to a registry object.", "{n} ledger asset key(s) unknown."
        )


class RawSourceStaleAffectingCritical(HealthCheck):
    check_key = "raw_source_stale_affecting_critical"
    severity = "warning"
    description = "A stale RAW object feeds, transitively, a critical object."
    remedy = "Reload the stale RAW objects"

    def evaluate(self, ctx):
        stale = {s.object_id: s for s in ctx.staleness if s.layer == "RAW" and s.is_stale}
        affected = dict(queries.critical_downstream(list(stale)))
        items = []
        factor = settings.OPSHEALTH_STALE_ERROR_FACTOR
        for pk, critical in sorted(affected.items(), key=lambda kv: stale[kv[0]].qualified_name):
            s = stale[pk]
            level = ERROR if s.age > s.allowed_age * factor else WARN
            detail = s.detail() | {"affects_critical": critical[:20], "affected_count": len(critical)}
            items.append(Item(level, s.qualified_name, object_id=pk, detail=detail))
        return self.outcome(
            items,
            "No stale RAW object feeds a critical object.",
            "{n} stale RAW object(s) feed critical ones.",
        )


class MvRefreshStale(HealthCheck):
    check_key = "mv_refresh_stale"
    severity = "warning"
    description = "A materialized view not refreshed within its schedule, or older than its inputs."
    remedy = "Run refresh_matviews (and check its schedule)"

    def evaluate(self, ctx):
        items = []
        for s in ctx.staleness:
            if s.object_type != "matview":
                continue
            reasons = []
            if s.newest_at is None:
                reasons.append("no_successful_refresh")
            elif s.is_stale:
                reasons.append("older_than_allowed")
            if s.stale_vs_inputs:
                reasons.append("older_than_inputs")
            if reasons:
                detail = s.detail() | {
                    "reasons": reasons,
                    "upstream": s.upstream_name,
                    "upstream_watermark_at": iso(s.upstream_watermark_at),
                }
                items.append(Item(WARN, s.qualified_name, object_id=s.object_id, detail=detail))
        return self.outcome(items, "Every materialized view is fresh.", "{n} materialized view(s) stale.")


class MvRefreshFailed(HealthCheck):
    check_key = "mv_refresh_failed"
    severity = "error"
    description = "The last refresh of a materialized view failed."
    remedy = "Fix and re-run the failed refreshes"

    def evaluate(self, ctx):
        # A failure the control loop is retrying says so (checks/retry.py).
        retrying = pending_retries()
        items = [
            Item(
                ERROR,
                s.qualified_name,
                object_id=s.object_id,
                detail={
                    "failed_at": iso(s.last_refresh_at),
                    "error": s.last_refresh_error or "",
                    **({"retry": str(retrying[s.object_id])} if s.object_id in retrying else {}),
                },
            )
            for s in ctx.staleness
            if s.object_type == "matview" and s.last_refresh_status == "failed"
        ]
        return self.outcome(
            items, "No last refresh failed.", "The last refresh of {n} materialized view(s) failed."
        )


class MvNotPopulated(HealthCheck):
    check_key = "mv_not_populated"
    severity = "error"
    description = "A materialized view exists but is not populated (read live from the catalog)."
    remedy = "Refresh them (REFRESH MATERIALIZED VIEW without CONCURRENTLY)"

    def evaluate(self, ctx):
        rows = RegistryObject.objects.filter(object_type="matview", exists_in_db=True).values(
            "id", "source_id", "schema_name", "object_name", "is_populated"
        )
        items = []
        for r in rows:
            catalog = ctx.live_catalog(r["source_id"])
            if catalog:
                rel = catalog.relations.get((r["schema_name"], r["object_name"]))
                populated, origin = (rel.is_populated if rel else None), "catalog"
            else:
                populated, origin = r["is_populated"], "last_discovery"
            if populated is False:
                items.append(
                    Item(
                        ERROR,
                        f"{r['schema_name']}.{r['object_name']}",
                        object_id=r["id"],
                        detail={"from": origin},
                    )
                )
        items.sort(key=lambda i: i.subject)
        return self.outcome(
            items, "Every materialized view is populated.", "{n} materialized view(s) not populated."
        )


class SchemaChanged(HealthCheck):
    check_key = "schema_changed"
    severity = "warning"
    description = "Columns changed at a recent discovery (removed/type changed: WARN; added: INFO)."
    remedy = "Review the changes; they leave this list after the schema-change window"

    def evaluate(self, ctx):
        since = ctx.now - timedelta(hours=settings.OPSHEALTH_SCHEMA_CHANGE_WINDOW_HOURS)
        changes = (
            SchemaChange.objects.filter(detected_at__gte=since)
            .values(
                "object_id",
                "object__schema_name",
                "object__object_name",
                "change",
                "column_name",
                "old_type",
                "new_type",
                "detected_at",
            )
            .order_by("object__schema_name", "object__object_name", "column_name")
        )
        grouped: dict[int, list[dict]] = {}
        names: dict[int, str] = {}
        for c in changes:
            names[c["object_id"]] = f"{c['object__schema_name']}.{c['object__object_name']}"
            grouped.setdefault(c["object_id"], []).append(
                {
                    "change": c["change"],
                    "column": c["column_name"],
                    "old_type": c["old_type"],
                    "new_type": c["new_type"],
                    "detected_at": iso(c["detected_at"]),
                }
            )
        breaks = _breaking_usages(grouped)
        items = [
            Item(
                WARN if any(c["change"] != "added" for c in cs) else INFO,
                names[pk],
                object_id=pk,
                detail={"changes": cs, "breaks": breaks.get(pk, [])},
            )
            for pk, cs in grouped.items()
        ]
        return self.outcome(
            items, "No breaking column change recently.", "{n} object(s) lost or retyped columns recently."
        )


def _breaking_usages(grouped: dict[int, list[dict]]) -> dict[int, list[dict]]:
    """Object id → the code usages naming a column that was removed or retyped (one
    query); each change of `grouped` also gets the locations it breaks."""
    touched = {pk: {c["column"] for c in cs if c["change"] != "added"} for pk, cs in grouped.items()}
    usages = CodeUsage.objects.filter(object_id__any=[pk for pk, cols in touched.items() if cols]).exclude(
        columns=[]
    )
    breaks: dict[int, list[dict]] = {}
    for usage in usages.order_by("file", "line", "id"):
        for column in sorted(touched[usage.object_id] & set(usage.columns)):
            breaks.setdefault(usage.object_id, []).append(
                {
                    "column": column,
                    "location": usage.location,
                    "context": usage.context,
                    "route": usage.route or None,
                }
            )
    for pk, cs in grouped.items():
        for change in cs:
            change["breaks"] = [b["location"] for b in breaks.get(pk, []) if b["column"] == change["column"]]
    return breaks


class FreshnessSlaBreach(HealthCheck):
    check_key = "freshness_sla_breach"
    severity = "warning"
    description = "A monitored object's newest signal is older than its allowed age (ERROR when critical)."
    remedy = "Reload the objects, or correct their max_staleness / refresh schedule"

    def evaluate(self, ctx):
        monitored = ctx.monitored_ids
        items = [
            Item(ERROR if s.is_critical else WARN, s.qualified_name, object_id=s.object_id, detail=s.detail())
            for s in ctx.staleness
            if s.object_type != "matview" and s.object_id in monitored and s.is_stale
        ]
        return self.outcome(items, "Every monitored object is fresh.", "{n} object(s) breach freshness.")


class PipelineRunFailed(HealthCheck):
    check_key = "pipeline_run_failed"
    severity = "error"
    description = (
        "The latest outcome of a pipeline (its newest success-or-failed run) failed: an aborted "
        "or skipped run after a failure is no recovery."
    )
    remedy = "Fix and re-run the failed pipelines"

    def evaluate(self, ctx):
        failed = (
            Run.objects.latest_outcome()
            .filter(status=Run.FAILED)
            .select_related("pipeline")
            .order_by("pipeline__namespace", "pipeline__name")
        )
        items = [
            Item(
                ERROR,
                str(run.pipeline),
                subject_type="pipeline",
                detail={
                    "run": run.external_run_id,
                    "ended_at": iso(run.ended_at),
                    "error_type": run.error_type,
                    "error_message": run.error_message[:500],
                },
            )
            for run in failed
        ]
        return self.outcome(
            items, "No pipeline's latest run failed.", "{n} pipeline(s) failed their latest run."
        )


class PipelineOverdue(HealthCheck):
    check_key = "pipeline_overdue"
    severity = "warning"
    description = (
        "A scheduled pipeline is late or missing (no run within schedule + grace, as cron monitors "
        "judge it), or a run is past its max duration."
    )
    remedy = "Check the scheduler (cron, django-q2) of the overdue pipelines"

    def evaluate(self, ctx):
        # The ledger's schedule rules (ledger/schedule.py), all pipelines in one query.
        items = [
            Item(
                WARN,
                str(p),
                subject_type="pipeline",
                detail={
                    "state": st.state,
                    "reason": st.reason,
                    "expected_at": iso(st.expected_at),
                    "last_started_at": iso(st.last_started_at),
                    "running_since": iso(st.running_since),
                },
            )
            for p, st in schedule_states(ctx.now, Pipeline.objects.order_by("namespace", "name"))
            if st.state not in (schedule.OK, schedule.UNKNOWN)
        ]
        return self.outcome(items, "Every scheduled pipeline ran on time.", "{n} pipeline(s) overdue.")


class DataCheckFailed(HealthCheck):
    check_key = "data_check_failed"
    severity = "error"
    description = (
        "The latest error-severity result of a data check on an asset failed, or the check could "
        "not run (status error: bad SQL, a missing column or table, an unreachable source)."
    )
    remedy = "Fix the data, then re-run the failing data checks"

    def evaluate(self, ctx):
        items = [
            Item(
                ERROR,
                f"{key}: {check}",
                subject_type="object" if obj else "asset",
                object_id=obj,
                detail={
                    "asset": key,
                    "check": check,
                    "status": status,
                    "checked_at": iso(at),
                    "message": msg,
                    # a raw cursor returns jsonb as text
                    "metrics": json.loads(m) if isinstance(m, str) else m,
                },
            )
            for key, check, status, at, msg, m, obj in queries.failing_data_checks()
        ]
        return self.outcome(items, "No data check is failing.", "{n} data check(s) failing.")


class SourceUnreachable(HealthCheck):
    check_key = "source_unreachable"
    severity = "error"
    description = "An active source cannot be reached now (ERROR), or its last discovery failed (WARN)."
    remedy = "Fix the connection (DSN, network, credentials) or the discovery error"

    def evaluate(self, ctx):
        failed = {
            source.pk: source
            for source in Source._default_manager.filter(is_active=True, last_discovery_status="failed")
        }
        items = []
        for c in ctx.catalogs.values():
            if not c.reachable:
                detail = {"error_class": c.error_class, "error": c.error}
                items.append(Item(ERROR, c.source_name, subject_type="source", detail=detail))
            elif c.source_id in failed:
                source = failed[c.source_id]
                detail = {"last_discovery_error": source.safe_message(source.last_discovery_error, limit=500)}
                items.append(Item(WARN, c.source_name, subject_type="source", detail=detail))
        return self.outcome(
            items, "Every active source is reachable.", "{n} source(s) unreachable or failing."
        )


def _schema_and_name(key: str) -> tuple[str, str] | None:
    """(schema, object) of a normalized ledger key `[postgresql://h:p/][db/]schema.object`."""
    try:
        parts = split_identifier(key.rsplit("/", 1)[-1])
    except InvalidName:
        return None
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


CHECKS: dict[str, type[HealthCheck]] = {
    cls.check_key: cls
    for cls in (
        ExpectedSourceMissing,
        UnregisteredUsedObject,
        MonitoredNotInHealthViews,
        HealthViewSourceUnknown,
        RawSourceStaleAffectingCritical,
        MvRefreshStale,
        MvRefreshFailed,
        MvNotPopulated,
        UsedObjectMissing,
        UsedColumnMissing,
        SchemaChanged,
        FreshnessSlaBreach,
        PipelineRunFailed,
        PipelineOverdue,
        DataCheckFailed,
        SourceUnreachable,
    )
}
