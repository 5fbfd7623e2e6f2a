"""The raw SQL of `checks` (its sub-packages `alerts` and `datachecks` have their own):
the staleness rule, the health checks, the evaluations' polled reads and the jobs'
locks. Set-based statements that read the registry and the ledger together in a constant
number of round trips whatever their size (ids travel as arrays). Table names come from
the models' `_meta`.

What the rows mean is said where they are used: `checks.staleness`, `checks.health`,
`checks.models`, `checks.jobs`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

from django.db import connection

from checks.models import CheckRun, Evaluation
from common.sql import bound_sql
from ledger.models import CheckResult, RunAsset, Watermark
from registry.models import AssetLink, CodeUsage, Dependency, RegistryObject, Source

_OBJECT = RegistryObject._meta.db_table
_LINK = AssetLink._meta.db_table
_DEPENDENCY = Dependency._meta.db_table
_CODE_USAGE = CodeUsage._meta.db_table
_SOURCE = Source._meta.db_table
_WATERMARK = Watermark._meta.db_table
_RUN_ASSET = RunAsset._meta.db_table
_CHECK_RESULT = CheckResult._meta.db_table
_CHECK_RUN = CheckRun._meta.db_table


def fetch(sql: str, params=None) -> list[tuple]:
    """Every row of one statement on the OpsHealth database."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- Job locks (checks.jobs) ---------------------------------------------------------


def try_job_lock(job_name: str) -> bool:
    """Take the session-level advisory lock of `job_name` unless another session holds it."""
    ((acquired,),) = fetch("SELECT pg_try_advisory_lock(hashtext(%s))", [job_name])
    return acquired


def release_job_lock(job_name: str) -> None:
    fetch("SELECT pg_advisory_unlock(hashtext(%s))", [job_name])


# --- Staleness (checks.staleness) -----------------------------------------------------

# One statement. `{filter}` is a fixed SQL fragment of `_STALENESS_FILTERS`, never user
# text; values go through parameters.
_STALENESS = f"""
WITH RECURSIVE obj AS (
    SELECT o.id, o.schema_name, o.object_name, o.object_type, o.layer,
           o.effective_critical AS is_critical,
           COALESCE(o.max_staleness, o.refresh_schedule, o.inferred_refresh_schedule,
                    %(default_age)s::interval) AS allowed,
           CASE WHEN o.max_staleness IS NOT NULL THEN 'max_staleness'
                WHEN o.refresh_schedule IS NOT NULL THEN 'refresh_schedule'
                WHEN o.inferred_refresh_schedule IS NOT NULL THEN 'inferred_refresh_schedule'
                ELSE 'default' END AS allowed_by
    FROM {_OBJECT} o
    WHERE o.exists_in_db {{filter}}
),
wm AS (
    -- every object's watermark: the upstream walk needs those outside `obj` too
    SELECT l.object_id, max(w.watermark_ts) AS ts
    FROM {_WATERMARK} w JOIN {_LINK} l ON l.normalized_key = w.normalized_key
    WHERE l.object_id IS NOT NULL
    GROUP BY l.object_id
),
links AS (
    SELECT l.object_id, l.normalized_key, obj.object_type
    FROM {_LINK} l JOIN obj ON obj.id = l.object_id
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
        SELECT a.ended_at AS at FROM {_RUN_ASSET} a
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
        (SELECT a.status, a.ended_at, a.duration_ms, a.error_message, a.id FROM {_RUN_ASSET} a
         WHERE a.normalized_key = links.normalized_key AND a.status = 'success' AND a.ended_at IS NOT NULL
           AND a.kind = 'matview' AND a.direction = 'output'
         ORDER BY a.ended_at DESC LIMIT 1)
        UNION ALL
        (SELECT a.status, a.ended_at, a.duration_ms, a.error_message, a.id FROM {_RUN_ASSET} a
         WHERE a.normalized_key = links.normalized_key AND a.status = 'failed' AND a.ended_at IS NOT NULL
           AND a.kind = 'matview' AND a.direction = 'output'
         ORDER BY a.ended_at DESC LIMIT 1)
    ) x
    WHERE links.object_type = 'matview'
    ORDER BY links.object_id, x.ended_at DESC, x.id DESC
),
walk(mv_id, obj_id) AS (
    SELECT d.downstream_id, d.upstream_id
    FROM {_DEPENDENCY} d JOIN obj m ON m.id = d.downstream_id AND m.object_type = 'matview'
    UNION
    SELECT w.mv_id, d.upstream_id
    FROM walk w
    JOIN {_OBJECT} u ON u.id = w.obj_id AND u.object_type <> 'matview'
    JOIN {_DEPENDENCY} d ON d.downstream_id = w.obj_id
),
upwm AS (
    SELECT DISTINCT ON (w.mv_id) w.mv_id, wm2.ts, u.schema_name || '.' || u.object_name AS name
    FROM walk w
    JOIN wm wm2 ON wm2.object_id = w.obj_id
    JOIN {_OBJECT} u ON u.id = w.obj_id
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

_STALENESS_FILTERS = {
    None: "",
    "matview": "AND o.object_type = 'matview'",
    "raw": "AND o.layer = 'RAW'",
    "measured": "",  # every existing object; callers drop rows with no signal
    "ids": "AND o.id = ANY(%(ids)s)",  # the objects of one dashboard page
}


def staleness(default_age: timedelta, only: str | None, ids: list[int] | None) -> list[tuple]:
    """The rows of `checks.staleness.Staleness` (its fields but `now`), of every existing
    registry object or only of `only` (a key of `_STALENESS_FILTERS`; "ids": the objects
    `ids`)."""
    return fetch(_STALENESS.format(filter=_STALENESS_FILTERS[only]), {"default_age": default_age, "ids": ids})


def watermarks(object_ids: list[int]) -> list[tuple]:
    """Every watermark of the objects: (asset_key, scope_key, watermark_ts, updated_at,
    object_id), oldest first."""
    sql = f"""
        SELECT w.asset_key, w.scope_key, w.watermark_ts, w.updated_at, l.object_id
        FROM {_WATERMARK} w JOIN {_LINK} l ON l.normalized_key = w.normalized_key
        WHERE l.object_id = ANY(%s)
        ORDER BY w.watermark_ts, w.asset_key, w.scope_key
    """
    return fetch(sql, [list(object_ids)])


def ingestion_daily(since: date, object_ids: list[int] | None, per_object: bool) -> list[tuple]:
    """(day, object id, schema, name, run assets, failed, rows inserted, rows updated,
    bytes written) per UTC day, newest first, and RAW object (`per_object`) or over all
    RAW objects (object columns NULL)."""
    group = "1, 2, 3, 4" if per_object else "1"
    columns = "o.id, o.schema_name, o.object_name" if per_object else "NULL::bigint, NULL, NULL"
    sql = f"""
        SELECT (COALESCE(a.ended_at, a.created_at) AT TIME ZONE 'UTC')::date AS day, {columns},
               count(*), count(*) FILTER (WHERE a.status = 'failed'),
               COALESCE(sum(a.rows_inserted), 0)::bigint, COALESCE(sum(a.rows_updated), 0)::bigint,
               COALESCE(sum(a.bytes_written), 0)::bigint
        FROM {_RUN_ASSET} a
        JOIN {_LINK} l ON l.normalized_key = a.normalized_key
        JOIN {_OBJECT} o ON o.id = l.object_id
        WHERE o.layer = 'RAW' AND a.direction = 'output' AND COALESCE(a.ended_at, a.created_at) >= %(since)s
          AND (%(ids)s::bigint[] IS NULL OR o.id = ANY(%(ids)s))
        GROUP BY {group}
        ORDER BY 1 DESC{", 3, 4" if per_object else ""}
    """
    return fetch(sql, {"since": since, "ids": object_ids})


def refresh_history(object_ids: list[int], last: int) -> list[tuple]:
    """(object id, ended_at, status, duration_ms, error_message) of each object's `last`
    refreshes, newest first: one probe of each link's run assets."""
    sql = f"""
        SELECT l.object_id, a.ended_at, a.status, a.duration_ms, a.error_message
        FROM {_LINK} l
        CROSS JOIN LATERAL (
            SELECT a.ended_at, a.status, a.duration_ms, a.error_message FROM {_RUN_ASSET} a
            WHERE a.normalized_key = l.normalized_key AND a.kind = 'matview' AND a.direction = 'output'
              AND a.ended_at IS NOT NULL
            ORDER BY a.ended_at DESC LIMIT %(last)s
        ) a
        WHERE l.object_id = ANY(%(ids)s)
        ORDER BY l.object_id, a.ended_at DESC
    """
    return fetch(sql, {"ids": list(object_ids), "last": last})


# --- Health checks (checks.health) ----------------------------------------------------


def unknown_ledger_keys() -> list[tuple]:
    """(normalized key, [origins]) of the ledger keys no AssetLink maps to an object.

    Distinct run-asset keys by a loose index scan (one probe of the normalized_key index
    per distinct key) instead of aggregating every run asset.
    """
    return fetch(f"""
        WITH RECURSIVE ra_keys(k) AS (
            (SELECT normalized_key FROM {_RUN_ASSET} ORDER BY normalized_key LIMIT 1)
            UNION ALL
            SELECT (SELECT a.normalized_key FROM {_RUN_ASSET} a
                    WHERE a.normalized_key > ra_keys.k ORDER BY a.normalized_key LIMIT 1)
            FROM ra_keys WHERE ra_keys.k IS NOT NULL
        ),
        keys AS (
            SELECT normalized_key, 'watermark' AS origin FROM {_WATERMARK}
            UNION
            SELECT k, 'run_asset' FROM ra_keys WHERE k IS NOT NULL
            UNION
            SELECT normalized_key, 'check_result' FROM {_CHECK_RESULT}
        )
        SELECT k.normalized_key, array_agg(k.origin ORDER BY k.origin)
        FROM keys k
        WHERE NOT EXISTS (SELECT 1 FROM {_LINK} l
                          WHERE l.normalized_key = k.normalized_key AND l.object_id IS NOT NULL)
          -- files written by pipelines are not database objects
          AND (k.origin <> 'run_asset' OR EXISTS (
              SELECT 1 FROM {_RUN_ASSET} a WHERE a.normalized_key = k.normalized_key AND a.kind <> 'file'))
        GROUP BY k.normalized_key ORDER BY k.normalized_key
    """)


def used_names() -> list[tuple]:
    """The fields of `checks.health.UsedName`: resolvable code usages grouped by (source,
    name), with their registry object by resolved link, else by exact name."""
    return fetch(f"""
        SELECT cu.source_id, s.name AS source_name, cu.schema_name, cu.object_name,
               COALESCE(o1.id, o2.id) AS object_id,
               COALESCE(o1.exists_in_db, o2.exists_in_db) AS exists_in_db,
               bool_or(cu.context = 'endpoint') AS by_endpoint, count(*) AS usages,
               (array_agg(cu.file || ':' || cu.line ORDER BY cu.context, cu.file, cu.line))[1:5] AS locations
        FROM {_CODE_USAGE} cu
        JOIN {_SOURCE} s ON s.id = cu.source_id
        LEFT JOIN {_OBJECT} o1 ON o1.id = cu.object_id
        LEFT JOIN {_OBJECT} o2 ON cu.object_id IS NULL AND o2.source_id = cu.source_id
             AND o2.schema_name = cu.schema_name AND o2.object_name = cu.object_name
        WHERE cu.resolvable AND cu.schema_name <> '' AND cu.object_name <> ''
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 2, 3, 4
    """)


def unmeasured_health_enabled() -> list[tuple]:
    """(id, schema.name) of the existing health-enabled objects that no watermark, output
    run asset or check result measures."""
    return fetch(f"""
        SELECT o.id, o.schema_name || '.' || o.object_name
        FROM {_OBJECT} o
        WHERE o.health_enabled IS TRUE AND o.exists_in_db
          AND NOT EXISTS (
              SELECT 1 FROM {_LINK} l
              WHERE l.object_id = o.id AND (
                  EXISTS (SELECT 1 FROM {_WATERMARK} w WHERE w.normalized_key = l.normalized_key)
                  OR EXISTS (SELECT 1 FROM {_RUN_ASSET} a
                             WHERE a.normalized_key = l.normalized_key AND a.direction = 'output')
                  OR EXISTS (SELECT 1 FROM {_CHECK_RESULT} c WHERE c.normalized_key = l.normalized_key)))
        ORDER BY 2
    """)


def critical_downstream(root_ids: list[int]) -> list[tuple]:
    """(root id, [schema.name]) of the existing critical objects each of `root_ids` feeds,
    transitively (a root feeding none has no row)."""
    sql = f"""
        WITH RECURSIVE down(root, obj) AS (
            SELECT d.upstream_id, d.downstream_id FROM {_DEPENDENCY} d
            WHERE d.upstream_id = ANY(%s)
            UNION
            SELECT down.root, d.downstream_id FROM down
            JOIN {_DEPENDENCY} d ON d.upstream_id = down.obj
        )
        SELECT down.root, array_agg(o.schema_name || '.' || o.object_name ORDER BY o.schema_name, o.object_name)
        FROM down JOIN {_OBJECT} o ON o.id = down.obj
        WHERE o.effective_critical AND o.exists_in_db
        GROUP BY down.root
    """
    return fetch(sql, [list(root_ids)])


def failing_data_checks() -> list[tuple]:
    """(normalized key, check, status, checked_at, message, metrics, object id) of each
    (asset, check) whose latest error-severity result failed or errored, read through
    ledger_check_latest."""
    return fetch(f"""
        SELECT x.normalized_key, x.check_name, x.status, x.checked_at, x.message, x.metrics, l.object_id
        FROM (
            SELECT DISTINCT ON (c.normalized_key, c.check_name)
                   c.normalized_key, c.check_name, c.status, c.checked_at, c.message, c.metrics
            FROM {_CHECK_RESULT} c WHERE c.severity = 'error'
            ORDER BY c.normalized_key, c.check_name, c.checked_at DESC, c.id DESC
        ) x
        LEFT JOIN {_LINK} l ON l.normalized_key = x.normalized_key
        WHERE x.status IN ('fail', 'error')
        ORDER BY x.normalized_key, x.check_name
    """)


# --- Evaluations (checks.models) ------------------------------------------------------


@cache
def latest_evaluation_sql(*fields: str) -> str:
    """`Evaluation.objects.latest_one()` as SQL selecting `fields` (at most one row), to
    embed in raw statements or run as is: generated from the queryset, once."""
    return bound_sql(Evaluation.objects.latest_one().values(*fields))


def latest_evaluation_version() -> tuple[int, datetime] | None:
    """(id, evaluated_at) of the latest evaluation: one probe of checks_eval_time."""
    rows = fetch(latest_evaluation_sql("id", "evaluated_at"))
    return rows[0] if rows else None


def failing_since(check_keys: list[str], ok: str) -> list[tuple]:
    """(check key, first result after its latest `ok` one, or its oldest when it never
    was `ok`; NULL when none): two probes of checks_checkrun_key_time per key."""
    sql = f"""
        SELECT k.key, (
            SELECT min(c.evaluated_at) FROM {_CHECK_RUN} c
            WHERE c.check_key = k.key AND c.evaluated_at > COALESCE(
                (SELECT max(o.evaluated_at) FROM {_CHECK_RUN} o WHERE o.check_key = k.key AND o.status = %s),
                '-infinity')
        )
        FROM unnest(%s::text[]) AS k(key)
    """
    return fetch(sql, [ok, check_keys])
