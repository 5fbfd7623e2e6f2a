"""The ledger's raw SQL helpers: what stays raw because set-based speed needs it.

A batch travels to PostgreSQL as one JSON document per statement (`json_to_recordset`):
encoding it is one C call, where array parameters cost psycopg a Python loop (and a
regular expression) per element, and the plan does not depend on the batch size, so
PostgreSQL keeps a generic plan for each prepared statement. Column lists come from the
models' `_meta` (`model_columns`), so a new field cannot silently fall out of a write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

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


def json_rows(objects: Iterable, columns: Columns, defaults: dict | None = None) -> str:
    """The `columns` attributes of `objects` as a JSON array of objects; an attribute an
    object lacks takes its value from `defaults`."""
    names = [n for n, _ in columns]
    defaults = defaults or {}
    return json.dumps(
        [{n: getattr(o, n, defaults.get(n)) for n in names} for o in objects], default=_json_value
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
