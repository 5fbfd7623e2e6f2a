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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from graphlib import CycleError, TopologicalSorter

from django.conf import settings
from django.utils import timezone

from checks.catalog import quote_ident
from registry.engines import engine_for
from registry.models import Dependency, RegistryObject, Source

PIPELINE = "opshealth.refresh_matviews"


@dataclass
class RefreshResult:
    source: str
    asset_key: str
    ok: bool
    concurrently: bool
    duration_ms: int
    error: str = ""


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
    error = ""
    if rel is None or rel.kind != "m":
        error = "not a materialized view in the database (run discovery)"
    else:
        sql = "REFRESH MATERIALIZED VIEW " + ("CONCURRENTLY " if concurrently else "")
        try:
            conn.execute(sql + quote_ident(mv.schema_name, mv.object_name))
        except Exception as exc:  # the database's reason is the finding; carry on
            error = source.safe_message(exc, limit=1000)
    duration = timedelta(seconds=time.perf_counter() - t0)
    run.log_asset(
        mv.qualified_name,
        kind="matview",
        status="failed" if error else "success",
        started_at=started_at,
        ended_at=started_at + duration,
        error_message=error,
        extra={"source": source.name, "concurrently": concurrently},
    )
    return RefreshResult(
        source.name, mv.qualified_name, not error, concurrently, int(duration.total_seconds() * 1000), error
    )
