"""The registry's raw SQL: what stays raw because set-based speed needs it.

Bulk writes with COPY (discovery, inference), the asset-link upsert, the lineage walk and
the list's version read.
Table names come from the models' `_meta`. (Catalog introspection of the *sources* is
`registry.catalog` and the engines': it reads pg_catalog, not OpsHealth's tables.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from psycopg.types.json import Jsonb

from registry.models import AssetLink, Dependency, ListVersion, RegistryObject

_OBJECT = RegistryObject._meta.db_table
_DEPENDENCY = Dependency._meta.db_table
_LINK = AssetLink._meta.db_table
_LIST_VERSION = ListVersion._meta.db_table

# --- Bulk writes ----------------------------------------------------------------------
#
# Django's `bulk_create` prepares every field of every instance in Python, and
# `bulk_update` builds one `CASE WHEN id = … THEN …` per row and column (PostgreSQL then
# evaluates the CASE linearly for each row: 10,000 rows cost 10,000² comparisons). Even one
# INSERT or UPDATE over `unnest()` of column arrays spends most of its time adapting the
# arrays in Python. COPY streams the rows in psycopg's C adapters instead: discovery's
# first run writes tens of thousands of objects and columns this way (measured in
# bench/discovery.py). Each helper is a constant number of statements, whatever the rows.

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


def jsonb_with_key(column: str, key: str, value_json: str) -> RawSQL:
    """An UPDATE value: the jsonb `column` with its entry `key` set to `value_json` (a
    JSON text), the other entries untouched."""
    return RawSQL(f"{_q(column)} || jsonb_build_object(%s::text, %s::jsonb)", [key, value_json])


# --- Asset links ------------------------------------------------------------------------


def upsert_asset_links(rows: list[tuple[str, int | None, str]]) -> None:
    """(key, object id, rule) rows as one upsert of three array parameters, whatever
    their number (an ORM bulk_create sends four parameters per row)."""
    if not rows:
        return
    keys, objects, rules = (list(col) for col in zip(*rows, strict=True))
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {_LINK} (normalized_key, object_id, resolver_rule, resolved_at)
            SELECT v.k, v.o, v.r, now() FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS v(k, o, r)
            ON CONFLICT (normalized_key) DO UPDATE SET object_id = EXCLUDED.object_id,
                resolver_rule = EXCLUDED.resolver_rule, resolved_at = EXCLUDED.resolved_at
            """,
            [keys, objects, rules],
        )


# --- Lineage ----------------------------------------------------------------------------


def lineage(object_id: int, hops: int, per_column: int) -> list[tuple]:
    """The rows of `Dependency.lineage` (the fields of `LineageNode`), in one statement."""
    sql = f"""
        WITH RECURSIVE up(id, dist) AS (
            SELECT %(id)s::bigint, 0
            UNION
            SELECT d.upstream_id, u.dist + 1 FROM up u JOIN {_DEPENDENCY} d ON d.downstream_id = u.id
            WHERE u.dist < %(hops)s
        ),
        down(id, dist) AS (
            SELECT %(id)s::bigint, 0
            UNION
            SELECT d.downstream_id, w.dist + 1 FROM down w JOIN {_DEPENDENCY} d ON d.upstream_id = w.id
            WHERE w.dist < %(hops)s
        ),
        placed AS (
            SELECT DISTINCT ON (id) id, depth FROM (
                SELECT id, -min(dist) AS depth, min(dist) AS dist, 0 AS side FROM up GROUP BY id
                UNION ALL
                SELECT id, min(dist), min(dist), 1 FROM down GROUP BY id
            ) s
            ORDER BY id, dist, side
        ),
        ranked AS (
            SELECT p.id, p.depth, o.schema_name, o.object_name, o.object_type, o.exists_in_db,
                   row_number() OVER (PARTITION BY p.depth ORDER BY o.schema_name, o.object_name, o.id) AS n,
                   count(*) OVER (PARTITION BY p.depth) AS in_column
            FROM placed p JOIN {_OBJECT} o ON o.id = p.id
        ),
        kept AS (SELECT * FROM ranked WHERE n <= %(per_column)s)
        SELECT k.id, k.depth, k.schema_name, k.object_name, k.object_type, k.exists_in_db, k.in_column,
               ARRAY(SELECT d.downstream_id FROM {_DEPENDENCY} d JOIN kept m ON m.id = d.downstream_id
                     WHERE d.upstream_id = k.id ORDER BY 1)
        FROM kept k
        ORDER BY k.depth, k.n
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"id": object_id, "hops": hops, "per_column": per_column})
        return cursor.fetchall()


# --- The registry list's cache key (registry.api.objects) ----------------------------


def registry_state() -> str:
    """The registry's state as the list sees it (`ListVersion`, the marker migration
    0004_perf_list_version keeps).

    `version` counts write statements; `xmin`, the transaction that wrote the counter,
    is never reused, so a rolled-back transaction's count can't name a later state.
    Read before the page: the page's data is then at least as new as the state it is
    cached under, never older.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text || '.' || version FROM {_LIST_VERSION} WHERE id = 1")
        return cursor.fetchone()[0]
