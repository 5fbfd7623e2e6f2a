"""The ledger's raw SQL: what stays raw because set-based speed needs it (the helpers of
ingestion's writes, its lock statement, the watermark upsert).

A batch travels to PostgreSQL as one JSON document per statement (`json_to_recordset`):
encoding it is one C call, where array parameters cost psycopg a Python loop (and a
regular expression) per element, and the plan does not depend on the batch size, so
PostgreSQL keeps a generic plan for each prepared statement. Column lists come from the
models' `_meta` (`model_columns`), so a new field cannot silently fall out of a write;
table names too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache

from django.apps import apps
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL

from common.sql import bound_sql

Columns = list[tuple[str, str]]  # (column, SQL type)
Write = tuple[str, list] | None  # one data-modifying statement and its parameters


def model_columns(model: type[models.Model], *, exclude: Iterable[str] = ()) -> Columns:
    """(column, type) of every stored field of `model` (generated columns aside), in
    field order, except the columns in `exclude`."""
    skip = set(exclude)
    return [
        (f.column, f.db_type(connection))
        for f in model._meta.concrete_fields
        if not f.generated and f.column not in skip
    ]


def recordset(columns: Columns) -> str:
    """`json_to_recordset(%s::json) AS v(...)`: the rows of `json_rows`, typed."""
    return f"json_to_recordset(%s::json) AS v({', '.join(f'{n} {k}' for n, k in columns)})"


def field_defaults(model: type[models.Model]) -> dict[str, object]:
    """column → default of every field of `model` that has one: what a write takes for a
    column its input objects do not carry."""
    return {f.column: f.get_default() for f in model._meta.concrete_fields if f.has_default()}


def json_rows(
    objects: Iterable, columns: Columns, defaults: dict | None = None, attributes: dict | None = None
) -> str:
    """The `columns` attributes of `objects` as a JSON array of objects; an attribute an
    object lacks takes its value from `defaults`. `attributes` maps a column to the
    attribute that carries it when their names differ."""
    names = [(n, (attributes or {}).get(n, n)) for n, _ in columns]
    defaults = defaults or {}
    return json.dumps(
        [{n: getattr(o, a, defaults.get(n)) for n, a in names} for o in objects], default=_json_value
    )


def _json_value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # UUID, timedelta


def execute_writes(writes: list[Write]) -> None:
    """Run data-modifying statements in one round trip: each becomes a CTE of one
    statement (PostgreSQL runs every data-modifying CTE, referenced or not). They
    write different rows, so none needs to see another's effects."""
    writes = [w for w in writes if w]
    if not writes:
        return
    if len(writes) == 1:
        sql, params = writes[0]
    else:
        sql = "WITH " + ",\n".join(f"w{i} AS ({s})" for i, (s, _) in enumerate(writes)) + "\nSELECT 1"
        params = [p for _, ps in writes for p in ps]
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _table(model_name: str) -> str:
    # By name, at call time: ledger.models imports this module.
    return apps.get_model("ledger", model_name)._meta.db_table


def lock_runs_sql(key_columns: Columns, run_select: str) -> str:
    """Ingestion's first statement: the pipelines of a batch's run keys (`key_columns`:
    namespace `ns`, name `n`, external run id `ext`, `client`) and their existing runs
    (`run_select`, the columns of `r`), locked in key order so that concurrent batches
    cannot deadlock. One row per key: (ns, n, ext, pipeline id, client to create or
    link, the run's columns or NULLs)."""
    run, pipeline, client = _table("Run"), _table("Pipeline"), _table("Client")
    return f"""
        WITH v AS (
            SELECT v.ns, v.n, v.ext, p.id AS pid,
                   v.client <> '' AND (p.client_id IS NULL OR c.id IS NULL) AS linkable
            FROM {recordset(key_columns)}
            LEFT JOIN {pipeline} p ON p.namespace = v.ns AND p.name = v.n
            LEFT JOIN {client} c ON c.name = v.client
        ),
        locked AS (
            SELECT {run_select} FROM {run} r
            JOIN v ON r.pipeline_id = v.pid AND r.external_run_id = v.ext
            ORDER BY r.pipeline_id, r.external_run_id
            FOR UPDATE OF r
        )
        SELECT v.ns, v.n, v.ext, v.pid, v.linkable, r.*
        FROM v LEFT JOIN locked r ON r.pipeline_id = v.pid AND r.external_run_id = v.ext
    """


# A watermark mark carries its run's pk as `run_pk`; the database sets `updated_at`.
_WATERMARK_ATTRIBUTES = {"last_run_id": "run_pk"}


def watermark_columns(model: type[models.Model]) -> Columns:
    """The columns a watermark upsert writes from its marks: every stored column of
    `model` (Watermark) but the row's id and `updated_at`."""
    return model_columns(model, exclude=["id", "updated_at"])


def watermark_upsert(model: type[models.Model], marks: list) -> Write:
    """Insert or advance the watermarks `marks` (at most one per asset and scope) in one
    statement.

    `GREATEST` keeps watermarks monotonic whatever the arrival order; `last_run` and
    `updated_at` move only when the watermark itself moves. A column the marks do not
    carry takes its field's default.
    """
    columns = watermark_columns(model)
    names = ", ".join(n for n, _ in columns)
    return (
        f"""
        INSERT INTO {model._meta.db_table} AS t ({names}, updated_at)
        SELECT {names}, now() FROM {recordset(columns)}
        ORDER BY v.asset_key, v.scope_key  -- one lock order for every writer: no deadlocks
        ON CONFLICT (asset_key, scope_key) DO UPDATE SET
            watermark_ts = GREATEST(t.watermark_ts, EXCLUDED.watermark_ts),
            updated_at = CASE WHEN EXCLUDED.watermark_ts > t.watermark_ts THEN now()
                              ELSE t.updated_at END,
            last_run_id = CASE WHEN EXCLUDED.watermark_ts > t.watermark_ts
                               THEN coalesce(EXCLUDED.last_run_id, t.last_run_id)
                               ELSE t.last_run_id END
        """,
        [json_rows(marks, columns, field_defaults(model), _WATERMARK_ATTRIBUTES)],
    )


# --- Outcomes: the rule of `RunQuerySet.outcomes`, in raw statements -------------------


@cache
def recent_outcomes_sql(pipeline_id: str) -> str:
    """`Run.objects.outcomes_of(...)` as SQL, for a LATERAL subquery whose pipeline id is
    the SQL expression `pipeline_id` (`d.pipeline_id`); the caller may append a LIMIT.
    Generated from the queryset: the alert cycle's run_failed and the check
    pipeline_run_failed cannot drift apart."""
    run = apps.get_model("ledger", "Run")
    return bound_sql(run.objects.outcomes_of(RawSQL(pipeline_id, ())))


def _outcomes_sql() -> str:
    """Every outcome (`Run.objects.outcomes()`) as SQL; as a subquery with no ORDER BY,
    PostgreSQL flattens it into the statement (the plan of a plain scan)."""
    return bound_sql(apps.get_model("ledger", "Run").objects.outcomes())


# --- Reliability figures (ledger.analytics) ---------------------------------------------

# An incident starts at a failed run whose previous terminal run (in the window) was not
# a failure; it ends at the end of the next successful run. The next success is a running
# MIN over the runs in reverse order: a frame anchored at UNBOUNDED PRECEDING only grows,
# so PostgreSQL aggregates it incrementally (a frame "1 FOLLOWING … UNBOUNDED FOLLOWING"
# is recomputed per row: quadratic, 4 s instead of 0.3 s at 100k runs, see bench/).
# GROUPING SETS gives the overall row (pipeline NULL) as the mean over all incidents, not
# a mean of means.
_MTTR_SQL = """
WITH terminal AS (
    SELECT r.pipeline_id, r.status, COALESCE(r.ended_at, r.started_at) AS at,
           LAG(r.status) OVER w AS prev_status,
           MIN(CASE WHEN r.status = 'success' THEN COALESCE(r.ended_at, r.started_at) END)
               OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at DESC, r.id DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS recovered_at
    FROM ({outcomes}) r
    WHERE r.started_at >= %(since)s
    WINDOW w AS (PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id)
)
SELECT t.pipeline_id, MAX(p.namespace), MAX(p.name), COUNT(*), COUNT(t.recovered_at),
       EXTRACT(EPOCH FROM AVG(t.recovered_at - t.at))::float8
FROM terminal t JOIN {pipeline} p ON p.id = t.pipeline_id
WHERE t.status = 'failed' AND t.prev_status IS DISTINCT FROM 'failed'
GROUP BY GROUPING SETS ((t.pipeline_id), ())
ORDER BY t.pipeline_id NULLS FIRST
"""


def recoveries(since: datetime) -> list[tuple]:
    """(pipeline id or NULL for overall, namespace, name, incidents, recovered, mean
    seconds to recovery) over outcomes started since `since`; the overall row first."""
    return _fetch(_statement(_MTTR_SQL), {"since": since})


# 1. terminal: success/failed runs in the window, each with the previous status (LAG)
#    and its position (1 = oldest) within its pipeline: one window, one sort (a second
#    window in newest-first order was a second sort of every run in the window).
# 2. per_pipeline: sample size, failures, flips (status differs from the previous run),
#    and the current failure streak (runs newer than the newest success: the count less
#    the newest success's position).
# 3. logical: runs of one logical run (same nominal time, parent run and partition key)
#    where a failure was followed by a success: a retry that passed.
# 4. Classify: broken (the last N runs all failed) before flaky, so a pipeline that is
#    plainly down is never reported as merely flaky; nothing is flaky below min_sample.
_FLAKY_SQL = """
WITH terminal AS (
    SELECT r.id, r.pipeline_id, r.status, r.started_at, r.nominal_time, r.parent_run_id,
           COALESCE(r.args ->> 'partition_key', '') AS partition_key,
           LAG(r.status) OVER w AS prev_status, ROW_NUMBER() OVER w AS position
    FROM ({outcomes}) r
    WHERE r.started_at >= %(since)s
    WINDOW w AS (PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id)
),
per_pipeline AS (
    SELECT pipeline_id,
           COUNT(*) AS sample_size,
           COUNT(*) FILTER (WHERE status = 'failed') AS failures,
           COUNT(*) FILTER (WHERE prev_status IS NOT NULL AND status <> prev_status) AS flips,
           COUNT(*) - COALESCE(MAX(position) FILTER (WHERE status = 'success'), 0) AS failure_streak,
           MAX(started_at) AS last_run_at
    FROM terminal
    GROUP BY pipeline_id
),
logical AS (
    SELECT pipeline_id
    FROM terminal
    WHERE nominal_time IS NOT NULL OR parent_run_id IS NOT NULL OR partition_key <> ''
    GROUP BY pipeline_id, nominal_time, parent_run_id, partition_key
    HAVING MIN(started_at) FILTER (WHERE status = 'failed')
         < MAX(started_at) FILTER (WHERE status = 'success')
),
retries AS (
    SELECT pipeline_id, COUNT(*) AS retry_successes FROM logical GROUP BY pipeline_id
),
measured AS (
    SELECT pp.*, COALESCE(rt.retry_successes, 0) AS retry_successes,
           ROUND(pp.flips::numeric / NULLIF(pp.sample_size - 1, 0), 4)::float8 AS flip_rate
    FROM per_pipeline pp LEFT JOIN retries rt USING (pipeline_id)
)
SELECT m.pipeline_id, p.namespace, p.name, c.name, m.sample_size, m.failures, m.flips,
       m.flip_rate, m.retry_successes, m.failure_streak, m.last_run_at,
       CASE WHEN m.failure_streak >= %(broken_streak)s THEN 'broken'
            WHEN m.sample_size < %(min_sample)s THEN 'insufficient_data'
            WHEN m.flip_rate >= %(flip_rate)s OR m.retry_successes >= %(min_retry_successes)s THEN 'flaky'
            ELSE 'healthy' END AS classification
FROM measured m
JOIN {pipeline} p ON p.id = m.pipeline_id
LEFT JOIN {client} c ON c.id = p.client_id
ORDER BY CASE WHEN m.sample_size >= %(min_sample)s THEN 0 ELSE 1 END,
         m.flip_rate DESC NULLS LAST, m.retry_successes DESC, m.sample_size DESC, p.name
"""


def flakiness(since: datetime, criteria: dict) -> list[tuple]:
    """The flaky ranking's rows over outcomes started since `since`, most flaky first;
    `criteria`: min_sample, flip_rate, min_retry_successes, broken_streak."""
    return _fetch(_statement(_FLAKY_SQL), {"since": since, **criteria})


@cache
def _statement(template: str) -> str:
    """A statement of this module with its tables and its outcome subquery filled in."""
    return template.format(outcomes=_outcomes_sql(), pipeline=_table("Pipeline"), client=_table("Client"))


@contextmanager
def without_parallel_workers() -> Iterator[None]:
    """The statements run in it (one transaction) use no parallel workers: one core.

    For a figure recomputed while its previous value is served, which nobody waits for:
    a parallel plan is faster alone but takes every core of a small machine from the
    requests served meanwhile, and costs more CPU in all (runs per day over 333,000 runs:
    3 processes of ~75 ms each, against 140 ms in one)."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def _fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()
