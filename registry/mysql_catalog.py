"""MariaDB / MySQL catalog introspection: a handful of set-based queries on
information_schema, whatever the number of objects.

Like `registry.catalog` (PostgreSQL): functions take a PyMySQL connection, import no
models and return the same dataclasses. A MySQL "database" is a schema here: what the
registry calls `schema_name`.

Queries: objects (TABLES), columns (COLUMNS), keys (KEY_COLUMN_USAGE), dependencies —
exact from VIEW_TABLE_USAGE where the server records them (MySQL 8.0.13 and later),
else parsed from VIEWS.VIEW_DEFINITION (MariaDB stores definitions fully qualified).
The schema filters travel as one JSON array each, so no statement's parameter count
depends on the configuration either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from registry.catalog import (
    PARSED,
    CatalogColumn,
    CatalogDependency,
    CatalogObject,
    CatalogSnapshot,
    Relation,
)
from registry.viewdeps import ObjectIndex, view_reads

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
OBJECT_TYPES = {"BASE TABLE": "table", "VIEW": "view"}

# `s` is the column holding the schema name; the three parameters are the system
# schemas, the include list (empty = every schema) and the exclude list, as JSON arrays.
_SCHEMA_FILTER = """
    NOT JSON_CONTAINS(%(system)s, JSON_QUOTE({s}))
    AND (JSON_LENGTH(%(include)s) = 0 OR JSON_CONTAINS(%(include)s, JSON_QUOTE({s})))
    AND NOT JSON_CONTAINS(%(exclude)s, JSON_QUOTE({s}))
"""

_OBJECTS = f"""
    SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_ROWS,
           t.DATA_LENGTH + t.INDEX_LENGTH, t.TABLE_COMMENT, v.DEFINER
    FROM information_schema.TABLES t
    LEFT JOIN information_schema.VIEWS v
           ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
    WHERE t.TABLE_TYPE IN ('BASE TABLE', 'VIEW') AND {_SCHEMA_FILTER.format(s="t.TABLE_SCHEMA")}
    ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
"""

_COLUMNS = f"""
    SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE = 'YES'
    FROM information_schema.COLUMNS
    WHERE {_SCHEMA_FILTER.format(s="TABLE_SCHEMA")}
    ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""

# MySQL always names a primary key PRIMARY; a foreign key has a referenced table.
_KEYS = f"""
    SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, CONSTRAINT_NAME = 'PRIMARY',
           REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
    FROM information_schema.KEY_COLUMN_USAGE
    WHERE (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
      AND {_SCHEMA_FILTER.format(s="TABLE_SCHEMA")}
    ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION
"""

_VIEW_TABLE_USAGE = f"""
    SELECT DISTINCT VIEW_SCHEMA, VIEW_NAME, TABLE_SCHEMA, TABLE_NAME
    FROM information_schema.VIEW_TABLE_USAGE
    WHERE {_SCHEMA_FILTER.format(s="VIEW_SCHEMA")}
"""

_VIEW_DEFINITIONS = f"""
    SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION
    FROM information_schema.VIEWS
    WHERE {_SCHEMA_FILTER.format(s="TABLE_SCHEMA")}
"""

_RELATIONS = """
    SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
    WHERE TABLE_TYPE IN ('BASE TABLE', 'VIEW') AND NOT JSON_CONTAINS(%(system)s, JSON_QUOTE(TABLE_SCHEMA))
"""


def is_mariadb(version: str) -> bool:
    return "mariadb" in version.lower()


def records_view_usage(version: str) -> bool:
    """MySQL 8.0.13 and later fill information_schema.VIEW_TABLE_USAGE; MariaDB does not."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return not is_mariadb(version) and bool(match) and tuple(map(int, match.groups())) >= (8, 0, 13)


def set_session_limits(cur, version: str, timeout_ms: int) -> None:
    """Read-only session; every following statement bounded by the server's own limit."""
    if is_mariadb(version):
        cur.execute("SET SESSION max_statement_time = %s", [timeout_ms / 1000])
    else:
        cur.execute("SET SESSION MAX_EXECUTION_TIME = %s", [int(timeout_ms)])
    cur.execute("SET SESSION TRANSACTION READ ONLY")


def read_server_version(cur) -> str:
    cur.execute("SELECT VERSION()")
    return cur.fetchone()[0]


def read_catalog(
    conn,
    *,
    include_schemas: Iterable[str] = (),
    exclude_schemas: Iterable[str] = (),
    statement_timeout_ms: int = 60000,
) -> CatalogSnapshot:
    """Everything discovery needs, in one read-only transaction."""
    params = {
        "system": json.dumps(list(SYSTEM_SCHEMAS)),
        "include": json.dumps(list(include_schemas)),
        "exclude": json.dumps(list(exclude_schemas)),
    }
    with conn.cursor() as cur:
        version = read_server_version(cur)
        set_session_limits(cur, version, statement_timeout_ms)
        cur.execute("START TRANSACTION READ ONLY")
        try:
            objects = _objects(cur, params)
            index = ObjectIndex((o.schema, o.name, o.oid) for o in objects)
            columns = _columns(cur, params, index)
            if records_view_usage(version):
                dependencies = _recorded_dependencies(cur, params, index)
            else:
                dependencies = _parsed_dependencies(cur, params, index)
            cur.execute("SELECT DATABASE()")
            database = cur.fetchone()[0]
        finally:
            cur.execute("ROLLBACK")
    return CatalogSnapshot(
        server_version=version,
        search_path=[database] if database else [],
        objects=objects,
        columns=columns,
        dependencies=dependencies,
    )


def _objects(cur, params: dict) -> list[CatalogObject]:
    cur.execute(_OBJECTS, params)
    objects = []
    # No OIDs in MySQL: a position in this snapshot stands for one.
    for oid, (schema, name, table_type, rows, size, comment, definer) in enumerate(cur.fetchall(), 1):
        is_view = table_type == "VIEW"
        objects.append(
            CatalogObject(
                oid=oid,
                schema=schema,
                name=name,
                object_type=OBJECT_TYPES[table_type],
                is_partition=False,
                parent_schema=None,
                parent_name=None,
                estimated_rows=None if is_view or rows is None else int(rows),
                size_bytes=None if is_view or size is None else int(size),
                last_analyze_at=None,
                last_vacuum_at=None,
                owner=definer or "",
                # MariaDB reports the comment of every view as 'VIEW'.
                comment="" if is_view else comment or "",
                is_populated=None,
                has_unique_index=False,
            )
        )
    return objects


def _columns(cur, params: dict, index: ObjectIndex) -> dict[int, list[CatalogColumn]]:
    cur.execute(_KEYS, params)
    pk: set[tuple[str, str, str]] = set()
    fk: dict[tuple[str, str, str], str] = {}
    for schema, table, column, is_pk, fschema, ftable, fcolumn in cur.fetchall():
        if is_pk:
            pk.add((schema, table, column))
        else:
            fk.setdefault((schema, table, column), f"{fschema}.{ftable}.{fcolumn}")
    cur.execute(_COLUMNS, params)
    columns: dict[int, list[CatalogColumn]] = {}
    for schema, table, name, position, data_type, nullable in cur.fetchall():
        oid = index.exact.get((schema, table))
        if oid is None:  # created between the two statements
            continue
        key = (schema, table, name)
        columns.setdefault(oid, []).append(
            CatalogColumn(
                name=name,
                position=int(position),
                data_type=data_type,
                is_nullable=bool(nullable),
                is_primary_key=key in pk,
                fk_target=fk.get(key, ""),
            )
        )
    return columns


def _recorded_dependencies(cur, params: dict, index: ObjectIndex) -> list[CatalogDependency]:
    cur.execute(_VIEW_TABLE_USAGE, params)
    edges = set()
    for view_schema, view_name, schema, name in cur.fetchall():
        up, down = index.exact.get((schema, name)), index.exact.get((view_schema, view_name))
        if up is not None and down is not None and up != down:
            edges.add((up, down))
    return [CatalogDependency(up, down) for up, down in sorted(edges)]


def _parsed_dependencies(cur, params: dict, index: ObjectIndex) -> list[CatalogDependency]:
    cur.execute(_VIEW_DEFINITIONS, params)
    edges = set()
    for schema, name, definition in cur.fetchall():
        down = index.exact.get((schema, name))
        if down is None or not definition:
            continue
        reads = view_reads(definition, dialect="mysql", schema=schema, index=index) or set()
        edges.update((up, down) for up in reads if up != down)
    return [CatalogDependency(up, down, PARSED) for up, down in sorted(edges)]


def read_relations(conn) -> dict[tuple[str, str], Relation]:
    """(schema, name) → Relation for every database of the server, in one statement."""
    with conn.cursor() as cur:
        cur.execute(_RELATIONS, {"system": json.dumps(list(SYSTEM_SCHEMAS))})
        rows = cur.fetchall()
    return {(s, n): Relation(s, n, "v" if t == "VIEW" else "r", True, False) for s, n, t in rows}
