"""DuckDB catalog introspection: the `duckdb_*()` table functions of one database file,
opened read-only, in four queries whatever the number of objects.

Like `registry.catalog` (PostgreSQL): functions take a DuckDB connection, import no
models and return the same dataclasses. DuckDB's OIDs identify the objects.
`duckdb_dependencies()` holds no view edges by default, so a view's reads are parsed
from its definition (provenance `parsed`): an unqualified name is looked up in the
view's schema, then in `main`, as DuckDB binds it.
"""

from __future__ import annotations

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

DEFAULT_SCHEMA = "main"

# Only this file's own database (not the system and temp catalogs, nor attached ones).
_SCHEMAS = """
    database_name = current_database()
    AND (len($include::VARCHAR[]) = 0 OR list_contains($include::VARCHAR[], schema_name))
    AND NOT list_contains($exclude::VARCHAR[], schema_name)
"""
_SCHEMA_FILTER = f"{_SCHEMAS} AND NOT internal AND NOT temporary"

_OBJECTS = f"""
    SELECT table_oid, schema_name, table_name, 'table', estimated_size, coalesce(comment, ''), NULL
    FROM duckdb_tables() WHERE {_SCHEMA_FILTER}
    UNION ALL
    SELECT view_oid, schema_name, view_name, 'view', NULL, coalesce(comment, ''), sql
    FROM duckdb_views() WHERE {_SCHEMA_FILTER}
    ORDER BY 2, 3
"""

# Views' columns are listed too, under the view's OID.
_COLUMNS = f"""
    SELECT table_oid, column_name, column_index, data_type, is_nullable
    FROM duckdb_columns() WHERE {_SCHEMAS} AND NOT internal
    ORDER BY table_oid, column_index
"""

_KEYS = f"""
    SELECT table_oid, schema_name, constraint_type, constraint_column_names, referenced_table,
           referenced_column_names
    FROM duckdb_constraints()
    WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') AND {_SCHEMAS}
    ORDER BY table_oid, constraint_index
"""

_RELATIONS = """
    SELECT schema_name, table_name, 'r' FROM duckdb_tables()
    WHERE database_name = current_database() AND NOT internal AND NOT temporary
    UNION ALL
    SELECT schema_name, view_name, 'v' FROM duckdb_views()
    WHERE database_name = current_database() AND NOT internal AND NOT temporary
"""


def read_server_version(conn) -> str:
    return conn.execute("SELECT version()").fetchone()[0]


def read_catalog(
    conn, *, include_schemas: Iterable[str] = (), exclude_schemas: Iterable[str] = ()
) -> CatalogSnapshot:
    """Everything discovery needs, in one (read-only) transaction."""
    params = {"include": list(include_schemas), "exclude": list(exclude_schemas)}
    conn.execute("BEGIN TRANSACTION")
    try:
        rows = conn.execute(_OBJECTS, params).fetchall()
        keys = conn.execute(_KEYS, params).fetchall()
        column_rows = conn.execute(_COLUMNS, params).fetchall()
        version = read_server_version(conn)
    finally:
        conn.execute("ROLLBACK")
    objects = [
        CatalogObject(
            oid=oid,
            schema=schema,
            name=name,
            object_type=object_type,
            is_partition=False,
            parent_schema=None,
            parent_name=None,
            estimated_rows=None if size is None else int(size),
            size_bytes=None,  # DuckDB reports no per-table size
            last_analyze_at=None,
            last_vacuum_at=None,
            owner="",
            comment=comment,
            is_populated=None,
            has_unique_index=False,
        )
        for oid, schema, name, object_type, size, comment, _ in rows
    ]
    index = ObjectIndex((o.schema, o.name, o.oid) for o in objects)
    return CatalogSnapshot(
        server_version=version,
        search_path=[DEFAULT_SCHEMA],
        objects=objects,
        columns=_columns(column_rows, keys),
        dependencies=_dependencies(rows, index),
    )


def _columns(rows: list[tuple], keys: list[tuple]) -> dict[int, list[CatalogColumn]]:
    pk: set[tuple[int, str]] = set()
    fk: dict[tuple[int, str], str] = {}
    for oid, schema, kind, names, ref_table, ref_names in keys:
        if kind == "PRIMARY KEY":
            pk.update((oid, name) for name in names)
            continue
        # DuckDB names the referenced table without its schema: foreign keys stay
        # within one schema.
        for name, ref in zip(names, ref_names, strict=False):
            fk.setdefault((oid, name), f"{schema}.{ref_table}.{ref}")
    columns: dict[int, list[CatalogColumn]] = {}
    for oid, name, position, data_type, nullable in rows:
        columns.setdefault(oid, []).append(
            CatalogColumn(
                name=name,
                position=int(position),
                data_type=data_type,
                is_nullable=bool(nullable),
                is_primary_key=(oid, name) in pk,
                fk_target=fk.get((oid, name), ""),
            )
        )
    return columns


def _dependencies(rows: list[tuple], index: ObjectIndex) -> list[CatalogDependency]:
    edges = set()
    for oid, schema, _, object_type, _, _, definition in rows:
        if object_type != "view" or not definition:
            continue
        reads = view_reads(
            definition, dialect="duckdb", schema=schema, index=index, fallback_schemas=[DEFAULT_SCHEMA]
        )
        edges.update((up, oid) for up in reads or () if up != oid)
    return [CatalogDependency(up, down, PARSED) for up, down in sorted(edges)]


def read_relations(conn) -> dict[tuple[str, str], Relation]:
    """(schema, name) → Relation for every table and view of the file, in one statement."""
    rows = conn.execute(_RELATIONS).fetchall()
    return {(s, n): Relation(s, n, kind, True, False) for s, n, kind in rows}
