"""Set-based writes of many rows with COPY.

Django's `bulk_create` prepares every field of every instance in Python, and
`bulk_update` builds one `CASE WHEN id = … THEN …` per row and column (PostgreSQL then
evaluates the CASE linearly for each row: 10,000 rows cost 10,000² comparisons). Even one
INSERT or UPDATE over `unnest()` of column arrays spends most of its time adapting the
arrays in Python. COPY streams the rows in psycopg's C adapters instead: discovery's
first run writes tens of thousands of objects and columns this way (measured in
bench/discovery.py). Each helper is a constant number of statements, whatever the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction
from psycopg.types.json import Jsonb

# Rows per statement of an ORM `bulk_create`: a row costs a parameter per column (at most
# ~35 here), and PostgreSQL refuses a statement of more than 65,535 parameters.
BATCH_ROWS = 1000


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _copy(cur, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    # Django's cursor wraps psycopg's, whose copy() is what streams.
    with cur.cursor.copy(f"COPY {_q(table)} ({', '.join(map(_q, columns))}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> int:
    """INSERT every row (a tuple in `columns` order) with one COPY. Values are adapted
    by their Python type; wrap a JSON value in `Jsonb`."""
    if not rows:
        return 0
    with connection.cursor() as cur:
        _copy(cur, table, columns, rows)
    return len(rows)


def update_rows(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> int:
    """UPDATE rows by id: each row is (id, *values in `columns` order). The rows are
    copied into a temporary table shaped like `table`, then joined: four statements."""
    if not rows:
        return 0
    temp = f"_bulk_{table}"
    names = ", ".join(map(_q, ["id", *columns]))
    sets = ", ".join(f"{_q(c)} = v.{_q(c)}" for c in columns)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {_q(temp)} ON COMMIT DROP AS SELECT {names} FROM {_q(table)} LIMIT 0")
        _copy(cur, temp, ["id", *columns], rows)
        cur.execute(f"UPDATE {_q(table)} t SET {sets} FROM {_q(temp)} v WHERE t.id = v.id")
        count = cur.rowcount
        cur.execute(f"DROP TABLE {_q(temp)}")
    return count


def model_defaults(model: type[models.Model], given: Iterable[str]) -> dict[str, object]:
    """column → default of every concrete column of `model` that is not in `given`,
    ready to COPY (the primary key and generated columns are the database's)."""
    given = set(given)
    defaults = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.generated or field.column in given:
            continue
        value = field.get_default()
        defaults[field.column] = Jsonb(value) if isinstance(field, models.JSONField) else value
    return defaults
