"""Staleness of registry objects: written once, in SQL, set-based.

Used by the checks (freshness_sla_breach, mv_refresh_stale, mv_refresh_failed,
raw_source_stale_affecting_critical) and by the API (raw-health, mv-health).

Rule (spec §6): staleness = now - the newest of three signals, each read from the
ledger through `AssetLink(normalized_key → object)`:
  1. `watermark`  — the newest Watermark.watermark_ts of the object's asset keys;
  2. `run_asset`  — the end of the newest successful output RunAsset that is not a
                    refresh (a run asset without `ended_at` is no signal);
  3. `refresh`    — the end of the newest successful RunAsset of kind `matview` (what
                    refresh_matviews logs: PostgreSQL records no refresh time).
Allowed age = the object's `max_staleness` override, else its refresh schedule (manual,
then inferred), else OPSHEALTH_DEFAULT_MAX_STALENESS_HOURS. Each row says which signal
decided and where the allowed age came from.

A materialized view is also stale relative to its inputs when an upstream watermark is
newer than its last successful refresh. The upstream walk (recursive CTE) crosses views
and tables but stops at other materialized views: those have their own inputs check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection

from ledger.models import RunAsset, Watermark
from registry.models import AssetLink, RegistryObject

# One statement. `%(filter)s` is a fixed SQL fragment chosen by `object_staleness`, never
# user text; values go through parameters.
_SQL = """
WITH RECURSIVE obj AS (
    SELECT o.id, o.schema_name, o.object_name, o.object_type, o.layer,
           o.effective_critical AS is_critical,
           COALESCE(o.max_staleness, o.refresh_schedule, o.inferred_refresh_schedule,
                    %(default_age)s::interval) AS allowed,
           CASE WHEN o.max_staleness IS NOT NULL THEN 'max_staleness'
                WHEN o.refresh_schedule IS NOT NULL THEN 'refresh_schedule'
                WHEN o.inferred_refresh_schedule IS NOT NULL THEN 'inferred_refresh_schedule'
                ELSE 'default' END AS allowed_by
    FROM registry_registryobject o
    WHERE o.exists_in_db {filter}
),
wm AS (
    -- every object's watermark: the upstream walk needs those outside `obj` too
    SELECT l.object_id, max(w.watermark_ts) AS ts
    FROM ledger_watermark w JOIN registry_assetlink l ON l.normalized_key = w.normalized_key
    WHERE l.object_id IS NOT NULL
    GROUP BY l.object_id
),
links AS (
    SELECT l.object_id, l.normalized_key, obj.object_type
    FROM registry_assetlink l JOIN obj ON obj.id = l.object_id
),
-- Newest successful write (tables…) or refresh (matviews) per key: one probe of
-- ledger_asset_key_status (normalized_key, status, ended_at DESC) per link, never an
-- aggregate over every run asset. A matview's writes are its refreshes (kind matview).
ra AS (
    SELECT links.object_id,
           max(w.at) FILTER (WHERE links.object_type <> 'matview') AS write_ts,
           max(w.at) FILTER (WHERE links.object_type = 'matview') AS refresh_ts
    FROM links
    CROSS JOIN LATERAL (
        SELECT a.ended_at AS at FROM ledger_runasset a
        WHERE a.normalized_key = links.normalized_key AND a.status = 'success' AND a.ended_at IS NOT NULL
          AND a.direction = 'output' AND (a.kind = 'matview') = (links.object_type = 'matview')
        ORDER BY a.ended_at DESC LIMIT 1
    ) w
    GROUP BY links.object_id
),
-- Last refresh attempt of each matview: the newer of its newest success and newest
-- failure (two index probes).
lastref AS (
    SELECT DISTINCT ON (links.object_id) links.object_id, x.status, x.ended_at AS at, x.duration_ms,
           x.error_message
    FROM links
    CROSS JOIN LATERAL (
        (SELECT a.status, a.ended_at, a.duration_ms, a.error_message, a.id FROM ledger_runasset a
         WHERE a.normalized_key = links.normalized_key AND a.status = 'success' AND a.ended_at IS NOT NULL
           AND a.kind = 'matview' AND a.direction = 'output'
         ORDER BY a.ended_at DESC LIMIT 1)
        UNION ALL
        (SELECT a.status, a.ended_at, a.duration_ms, a.error_message, a.id FROM ledger_runasset a
         WHERE a.normalized_key = links.normalized_key AND a.status = 'failed' AND a.ended_at IS NOT NULL
           AND a.kind = 'matview' AND a.direction = 'output'
         ORDER BY a.ended_at DESC LIMIT 1)
    ) x
    WHERE links.object_type = 'matview'
    ORDER BY links.object_id, x.ended_at DESC, x.id DESC
),
walk(mv_id, obj_id) AS (
    SELECT d.downstream_id, d.upstream_id
    FROM registry_dependency d JOIN obj m ON m.id = d.downstream_id AND m.object_type = 'matview'
    UNION
    SELECT w.mv_id, d.upstream_id
    FROM walk w
    JOIN registry_registryobject u ON u.id = w.obj_id AND u.object_type <> 'matview'
    JOIN registry_dependency d ON d.downstream_id = w.obj_id
),
upwm AS (
    SELECT DISTINCT ON (w.mv_id) w.mv_id, wm2.ts, u.schema_name || '.' || u.object_name AS name
    FROM walk w
    JOIN wm wm2 ON wm2.object_id = w.obj_id
    JOIN registry_registryobject u ON u.id = w.obj_id
    ORDER BY w.mv_id, wm2.ts DESC
)
SELECT obj.id, obj.schema_name, obj.object_name, obj.object_type, obj.layer, obj.is_critical,
       wm.ts, ra.write_ts, ra.refresh_ts,
       GREATEST(wm.ts, ra.write_ts, ra.refresh_ts) AS newest,
       obj.allowed, obj.allowed_by,
       lastref.status, lastref.at, lastref.duration_ms, lastref.error_message,
       upwm.ts, upwm.name
FROM obj
LEFT JOIN wm ON wm.object_id = obj.id
LEFT JOIN ra ON ra.object_id = obj.id
LEFT JOIN lastref ON lastref.object_id = obj.id
LEFT JOIN upwm ON upwm.mv_id = obj.id
ORDER BY obj.schema_name, obj.object_name, obj.id
"""

_FILTERS = {
    None: "",
    "matview": "AND o.object_type = 'matview'",
    "raw": "AND o.layer = 'RAW'",
    "measured": "",  # every existing object; callers drop rows with no signal
    "ids": "AND o.id = ANY(%(ids)s)",  # the objects of one dashboard page
}


@dataclass(frozen=True)
class Staleness:
    object_id: int
    schema_name: str
    object_name: str
    object_type: str
    layer: str
    is_critical: bool
    watermark_at: datetime | None
    last_write_at: datetime | None
    last_refresh_success_at: datetime | None
    newest_at: datetime | None
    allowed_age: timedelta
    allowed_by: str
    last_refresh_status: str | None
    last_refresh_at: datetime | None
    last_refresh_duration_ms: int | None
    last_refresh_error: str | None
    upstream_watermark_at: datetime | None
    upstream_name: str | None
    now: datetime

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.object_name}"

    @property
    def decided_by(self) -> str | None:
        """Which signal was the newest, so decided the age (None: no signal at all)."""
        if self.newest_at is None:
            return None
        for name, value in (
            ("watermark", self.watermark_at),
            ("run_asset", self.last_write_at),
            ("refresh", self.last_refresh_success_at),
        ):
            if value == self.newest_at:
                return name
        return None

    @property
    def age(self) -> timedelta | None:
        return None if self.newest_at is None else self.now - self.newest_at

    @property
    def is_stale(self) -> bool:
        return self.age is not None and self.age > self.allowed_age

    @property
    def stale_vs_inputs(self) -> bool:
        """An upstream watermark is newer than this materialized view's last refresh."""
        return (
            self.object_type == "matview"
            and self.upstream_watermark_at is not None
            and self.last_refresh_success_at is not None
            and self.upstream_watermark_at > self.last_refresh_success_at
        )

    def refresh_due(self, within: timedelta) -> bool:
        """A materialized view is due for a refresh when it never refreshed successfully,
        when its last refresh will be older than its allowed age within `within` (the
        refresh job's cadence: waiting for the next tick would be too late), or when an
        input is newer than it."""
        if self.object_type != "matview":
            return False
        if self.last_refresh_success_at is None:
            return True
        return self.now + within - self.last_refresh_success_at >= self.allowed_age or self.stale_vs_inputs

    @property
    def status(self) -> str:
        """OK | STALE | NO_SIGNAL: the object's freshness in one word (raw-health)."""
        if self.newest_at is None:
            return "NO_SIGNAL"
        return "STALE" if self.is_stale else "OK"

    @property
    def lateness(self) -> timedelta | None:
        """How far past its allowed age the object is (negative: time left)."""
        return None if self.age is None else self.age - self.allowed_age

    def mv_status(self, populated: bool | None) -> str:
        """A materialized view's state, worst first: FAILED (last refresh failed),
        NOT_POPULATED, NEVER_REFRESHED, STALE (by age or relative to its inputs), OK."""
        if self.last_refresh_status == "failed":
            return "FAILED"
        if populated is False:
            return "NOT_POPULATED"
        if self.newest_at is None:
            return "NEVER_REFRESHED"
        return "STALE" if self.is_stale or self.stale_vs_inputs else "OK"

    @property
    def age_hours(self) -> float | None:
        return _hours(self.age)

    @property
    def allowed_hours(self) -> float:
        return _hours(self.allowed_age)

    def detail(self) -> dict:
        """The evaluation's explanation, JSON-ready (violations and API rows)."""
        return {
            "decided_by": self.decided_by,
            "last_signal_at": iso(self.newest_at),
            "age_hours": _hours(self.age),
            "allowed_hours": _hours(self.allowed_age),
            "allowed_by": self.allowed_by,
            "watermark_at": iso(self.watermark_at),
            "last_write_at": iso(self.last_write_at),
            "last_refresh_at": iso(self.last_refresh_success_at),
        }


def iso(value: datetime | None) -> str | None:
    """A timestamp as the check details and API rows carry it (JSON-ready, None kept)."""
    return value.isoformat() if value else None


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def object_staleness(
    now: datetime, *, only: str | None = None, ids: list[int] | None = None
) -> list[Staleness]:
    """Staleness of every existing registry object (or only matviews / RAW, or only the
    objects `ids`), one query."""
    default_age = timedelta(hours=settings.OPSHEALTH_DEFAULT_MAX_STALENESS_HOURS)
    if ids is not None:
        only = "ids"
    with connection.cursor() as cursor:
        cursor.execute(_SQL.format(filter=_FILTERS[only]), {"default_age": default_age, "ids": ids})
        return [Staleness(*row, now=now) for row in cursor.fetchall()]


def watermarks(object_ids: list[int]) -> list[tuple]:
    """Every watermark of the objects: (asset_key, scope_key, watermark_ts, updated_at,
    object_id), oldest first. One statement."""
    sql = f"""
        SELECT w.asset_key, w.scope_key, w.watermark_ts, w.updated_at, l.object_id
        FROM {Watermark._meta.db_table} w JOIN {AssetLink._meta.db_table} l ON l.normalized_key = w.normalized_key
        WHERE l.object_id = ANY(%s)
        ORDER BY w.watermark_ts, w.asset_key, w.scope_key
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(object_ids)])
        return cursor.fetchall()


INGESTION_FIELDS = (
    "day",
    "object_id",
    "schema_name",
    "object_name",
    "runs",
    "failed",
    "rows_inserted",
    "rows_updated",
    "bytes_written",
)


def ingestion_daily(
    since: date, *, object_ids: list[int] | None = None, per_object: bool = True
) -> list[dict]:
    """Per UTC day (newest first) and RAW object, or per day over all RAW objects
    (`per_object=False`, object fields None): output run assets written, failed, rows
    and bytes, from the ledger. `object_ids` limits it to those objects. One statement."""
    group = "1, 2, 3, 4" if per_object else "1"
    columns = "o.id, o.schema_name, o.object_name" if per_object else "NULL::bigint, NULL, NULL"
    sql = f"""
        SELECT (COALESCE(a.ended_at, a.created_at) AT TIME ZONE 'UTC')::date AS day, {columns},
               count(*), count(*) FILTER (WHERE a.status = 'failed'),
               COALESCE(sum(a.rows_inserted), 0)::bigint, COALESCE(sum(a.rows_updated), 0)::bigint,
               COALESCE(sum(a.bytes_written), 0)::bigint
        FROM {RunAsset._meta.db_table} a
        JOIN {AssetLink._meta.db_table} l ON l.normalized_key = a.normalized_key
        JOIN {RegistryObject._meta.db_table} o ON o.id = l.object_id
        WHERE o.layer = 'RAW' AND a.direction = 'output' AND COALESCE(a.ended_at, a.created_at) >= %(since)s
          AND (%(ids)s::bigint[] IS NULL OR o.id = ANY(%(ids)s))
        GROUP BY {group}
        ORDER BY 1 DESC{", 3, 4" if per_object else ""}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "ids": object_ids})
        return [dict(zip(INGESTION_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def refresh_history(object_ids: list[int], *, last: int) -> dict[int, list[tuple]]:
    """object id → its `last` refreshes, newest first: (ended_at, status, duration_ms,
    error_message). One statement, one probe of each link's run assets."""
    sql = f"""
        SELECT l.object_id, a.ended_at, a.status, a.duration_ms, a.error_message
        FROM {AssetLink._meta.db_table} l
        CROSS JOIN LATERAL (
            SELECT a.ended_at, a.status, a.duration_ms, a.error_message FROM {RunAsset._meta.db_table} a
            WHERE a.normalized_key = l.normalized_key AND a.kind = 'matview' AND a.direction = 'output'
              AND a.ended_at IS NOT NULL
            ORDER BY a.ended_at DESC LIMIT %(last)s
        ) a
        WHERE l.object_id = ANY(%(ids)s)
        ORDER BY l.object_id, a.ended_at DESC
    """
    history: dict[int, list[tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": list(object_ids), "last": last})
        for object_id, *row in cursor.fetchall():
            history.setdefault(object_id, []).append(tuple(row))
    return history


@dataclass(frozen=True)
class WatermarkFreshness:
    """One watermark of a RAW object, aged against the object's allowed age."""

    asset_key: str
    scope_key: str
    watermark_ts: datetime
    updated_at: datetime
    object: Staleness

    @property
    def age(self) -> timedelta:
        return self.object.now - self.watermark_ts

    @property
    def age_hours(self) -> float:
        return _hours(self.age)

    @property
    def is_stale(self) -> bool:
        return self.age > self.object.allowed_age


def raw_watermark_freshness(now: datetime) -> list[WatermarkFreshness]:
    """Every watermark of a RAW object, oldest first (two statements)."""
    by_id = {r.object_id: r for r in object_staleness(now, only="raw")}
    return [WatermarkFreshness(*row[:4], by_id[row[4]]) for row in watermarks(list(by_id))]
