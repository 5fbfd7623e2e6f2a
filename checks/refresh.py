"""Refresh the registry's materialized views, in dependency order, logging each to the
ledger (pipeline `opshealth.refresh_matviews`).

Steps, per source:
  1. read the source's registry matviews and its dependency edges (2 queries);
  2. order them upstream first: a topological sort of the whole source graph (views in
     between count: mv_a → view → mv_b refreshes mv_a first), restricted to matviews;
  3. read the live catalog once (populated flag, usable unique index);
  4. refresh each on an autocommit connection — `CONCURRENTLY` when the view is populated
     and has a unique index without predicate (PostgreSQL's conditions), plain otherwise;
     a failure is logged and the next view is refreshed anyway;
  5. log each refresh as a RunAsset (kind `matview`, key `schema.name`, duration, error)
     and refresh the asset links of those keys so the staleness rule sees them.

`refresh_matviews` is the job (`manage.py refresh_matviews` and the scheduled
`opshealth.refresh_matviews`): the sources' views under the job's advisory lock, in one
ledger run. The scheduled job refreshes only the views that are due
(`Staleness.refresh_due`); the command refreshes every view unless told `--due`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from graphlib import CycleError, TopologicalSorter

import psycopg.sql
from django.conf import settings
from django.utils import timezone

from checks import retry
from checks.jobs import exclusive, record_skipped
from checks.staleness import object_staleness
from common.identifiers import qualified
from ledger.logger import RunLogger
from ledger.models import Run, RunAsset
from registry import inference
from registry.engines import engine_for
from registry.links import refresh_asset_links
from registry.models import Dependency, RegistryObject, Source

PIPELINE = "opshealth.refresh_matviews"
# The scheduled job runs hourly: a view whose allowed age ends before the next tick is due now.
DUE_WITHIN = timedelta(hours=1)


@dataclass
class RefreshResult:
    source: str
    asset_key: str
    ok: bool
    concurrently: bool
    duration_ms: int
    error: str = ""
    object_id: int | None = None
    sqlstate: str = ""  # the database's error code, when it raised one


@dataclass
class RefreshReport:
    results: list[RefreshResult] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # source name → error class
    run: Run | None = None

    @property
    def failed(self) -> list[str]:
        return [r.asset_key for r in self.results if not r.ok]

    def __str__(self) -> str:
        if not (self.failed or self.unreachable):
            return f"{len(self.results)} of {len(self.results)} materialized views refreshed"
        return (
            f"{len(self.failed)} of {len(self.results)} refreshes failed ({', '.join(self.failed) or '-'}); "
            f"unreachable sources: {', '.join(self.unreachable) or '-'}"
        )


class RefreshFailed(Exception):
    def __init__(self, report: RefreshReport):
        super().__init__(str(report))
        self.report = report


def due_matviews(now) -> set[str]:
    """Qualified names of the matviews that are due: refresh_due within DUE_WITHIN."""
    return {s.qualified_name for s in object_staleness(now, only="matview") if s.refresh_due(DUE_WITHIN)}


def refresh_matviews(
    *,
    trigger: str = "cli",
    sources=None,
    only: set[str] | None = None,
    due: bool = False,
    attempt: int = 1,
) -> RefreshReport | None:
    """Refresh the matviews of `sources` (default: every active source), or `only`
    those, or (with `due`) only the views that are due; one ledger run of PIPELINE.

    Returns None (and records the skip) when another refresh holds the job's lock; the
    report otherwise. The run fails when any refresh fails or a source is unreachable;
    the control loop then plans the retries of its failed views (`attempt`: which
    attempt this run is, for a retry).
    """
    if sources is None:
        sources = Source.objects.filter(is_active=True).order_by("name")
    if due:
        wanted = due_matviews(timezone.now())
        only = wanted if only is None else only & wanted
    report = RefreshReport()
    triggered_by = Run.triggered_by_for(trigger)
    with exclusive(PIPELINE) as acquired:
        if not acquired:
            record_skipped(PIPELINE, triggered_by=triggered_by)
            return None
        args = {"sources": [s.name for s in sources], "only": sorted(only) if only is not None else None}
        logger = RunLogger(PIPELINE, triggered_by=triggered_by, args=args)
        try:
            with logger:
                report.run = logger.run
                for source in sources:
                    try:
                        report.results.extend(refresh_source(source, logger, only))
                    except Exception as exc:  # an unreachable source must not stop the others
                        report.unreachable[source.name] = type(exc).__name__
                if report.failed or report.unreachable:
                    raise RefreshFailed(report)
        except RefreshFailed:
            pass  # recorded as the run's failure; the caller reads the report
        finally:
            # link the refreshed keys now: the staleness rule reads refreshes through links
            if logger.run is not None:
                keys = RunAsset.objects.filter(run=logger.run).values_list("normalized_key", flat=True)
                refresh_asset_links(list(keys))
                # "refreshed by OpsHealth's refresh job" is inference evidence: classify now,
                # not at the next discovery (a critical view's stale inputs must fire).
                inference.infer_stale()
    retry.plan_refreshes(report.run, [r for r in report.results if not r.ok], attempt)
    return report


def refresh_order(matviews: list[RegistryObject], edges: list[tuple[int, int]]) -> list[RegistryObject]:
    """Matviews, upstream first (topological on the source's whole dependency graph).

    PostgreSQL dependencies cannot form cycles; should registry rows ever do, the
    views fall back to name order rather than not being refreshed at all.
    """
    graph: dict[int, set[int]] = {mv.pk: set() for mv in matviews}
    for upstream, downstream in edges:
        graph.setdefault(downstream, set()).add(upstream)
    by_id = {mv.pk: mv for mv in matviews}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError:
        return sorted(matviews, key=lambda mv: mv.qualified_name)
    return [by_id[pk] for pk in order if pk in by_id]


def refresh_source(source: Source, run, only: set[str] | None = None) -> list[RefreshResult]:
    """Refresh one source's matviews; `run` is the RunLogger the refreshes are logged to."""
    engine = engine_for(source)
    if not engine.has_materialized_views:
        return []
    matviews = list(
        RegistryObject.objects.filter(source=source, object_type="matview", exists_in_db=True).order_by(
            "schema_name", "object_name"
        )
    )
    if only is not None:
        wanted = [mv for mv in matviews if mv.qualified_name in only]
        if not wanted:
            return []
    edges = list(Dependency.objects.filter(source=source).values_list("upstream_id", "downstream_id"))
    ordered = refresh_order(matviews, edges)
    if only is not None:
        ordered = [mv for mv in ordered if mv.qualified_name in only]
    results = []
    with engine.connect(source.resolved_dsn(), timeout=settings.OPSHEALTH_CONNECT_TIMEOUT_S) as conn:
        conn.autocommit = True  # one refresh, one commit: a failure leaves the others done
        conn.execute(f"SET statement_timeout = {int(settings.OPSHEALTH_REFRESH_STATEMENT_TIMEOUT_MS)}")
        relations = engine.read_relations(conn)
        for mv in ordered:
            results.append(_refresh_one(conn, source, mv, relations, run))
    return results


def _refresh_one(conn, source: Source, mv: RegistryObject, relations, run) -> RefreshResult:
    rel = relations.get((mv.schema_name, mv.object_name))
    concurrently = bool(rel and rel.kind == "m" and rel.is_populated and rel.has_unique_index)
    started_at, t0 = timezone.now(), time.perf_counter()
    error, sqlstate = "", ""
    if rel is None or rel.kind != "m":
        error = "not a materialized view in the database (run discovery)"
    else:
        refresh = "REFRESH MATERIALIZED VIEW " + ("CONCURRENTLY " if concurrently else "")
        try:
            conn.execute(psycopg.sql.SQL(refresh) + qualified(mv.schema_name, mv.object_name))
        except Exception as exc:  # the database's reason is the finding; carry on
            error = source.safe_message(exc, limit=1000)
            # The control loop retries transient errors only (checks/retry.py).
            sqlstate = getattr(exc, "sqlstate", None) or ""
    duration = timedelta(seconds=time.perf_counter() - t0)
    run.log_asset(
        mv.qualified_name,
        kind="matview",
        status="failed" if error else "success",
        started_at=started_at,
        ended_at=started_at + duration,
        error_message=error,
        extra={
            "source": source.name,
            "concurrently": concurrently,
            **({"sqlstate": sqlstate} if sqlstate else {}),
        },
    )
    return RefreshResult(
        source.name,
        mv.qualified_name,
        not error,
        concurrently,
        int(duration.total_seconds() * 1000),
        error,
        object_id=mv.pk,
        sqlstate=sqlstate,
    )
