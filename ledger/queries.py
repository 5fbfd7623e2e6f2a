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
from collections.abc import Iterable
from datetime import datetime

from django.apps import apps
from django.db import connection, models

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
