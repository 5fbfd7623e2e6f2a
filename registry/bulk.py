"""Set-based writes of many rows as one statement over `unnest()` of column arrays.

Django's `bulk_update` builds one `CASE WHEN id = … THEN …` per row and column: the
statement grows with the rows and PostgreSQL evaluates the CASE linearly for each row,
so 10,000 rows cost 10,000² comparisons. `bulk_create` prepares every field of every
instance in Python. Discovery writes tens of thousands of rows on a first run; these
two helpers send one array per column instead (measured in bench/discovery.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from psycopg.types.json import Jsonb

# Rows per statement of an ORM `bulk_create`: a row costs a parameter per column (at most
# ~35 here), and PostgreSQL refuses a statement of more than 65,535 parameters.
BATCH_ROWS = 1000


def _arrays(rows: Sequence[Sequence], types: Sequence[str]) -> list[list]:
    columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in types]
    return [[Jsonb(v) for v in col] if t == "jsonb" else col for col, t in zip(columns, types, strict=True)]


def _unnest(types: Sequence[str]) -> str:
    return "unnest(" + ", ".join(f"%s::{t}[]" for t in types) + ")"


def insert_rows(table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence]) -> int:
    """INSERT every row (a tuple in `columns` order) in one statement."""
    if not rows:
        return 0
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {connection.ops.quote_name(table)} ({names}) SELECT * FROM {_unnest(types)}",
            _arrays(rows, types),
        )
        return cur.rowcount


def update_rows(table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence]) -> int:
    """UPDATE rows by id in one statement: each row is (id, *values in `columns` order)."""
    if not rows:
        return 0
    alias = [f"c{i}" for i in range(len(columns))]
    sets = ", ".join(f"{connection.ops.quote_name(c)} = v.{a}" for c, a in zip(columns, alias, strict=True))
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {connection.ops.quote_name(table)} t SET {sets} "
            f"FROM {_unnest(['bigint', *types])} AS v(id, {', '.join(alias)}) WHERE t.id = v.id",
            _arrays(rows, ["bigint", *types]),
        )
        return cur.rowcount
