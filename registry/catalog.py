"""PostgreSQL catalog introspection: a handful of set-based queries, whatever the number
of objects.

Functions here take a psycopg cursor, import no models and return dataclasses, so they
can be tested alone against a real server. Django's `connection.introspection` is not
used: it sees only the search path and mishandles materialized views.

Queries (FACTS.md): objects (pg_class ⨝ pg_namespace ⨝ pg_stat_all_tables), columns
(pg_attribute, format_type), keys (pg_constraint, conkey/confkey expanded), dependencies
(pg_depend ⨝ pg_rewrite). View definitions are never fetched: `pg_get_viewdef` locks
every relation a view references until the end of the transaction, and the edges come
exactly from pg_depend anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

RELKINDS = {
    "r": "table",
    "p": "partitioned_table",
    "v": "view",
    "m": "matview",
    "f": "foreign_table",
}
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass(frozen=True)
class CatalogObject:
    oid: int
    schema: str
    name: str
    object_type: str  # a value of RELKINDS
    is_partition: bool
    parent_schema: str | None
    parent_name: str | None
    estimated_rows: int | None  # None: never analyzed
    size_bytes: int | None  # None for views
    last_analyze_at: datetime | None
    last_vacuum_at: datetime | None
    owner: str
    comment: str
    is_populated: bool | None  # matviews only
    has_unique_index: bool  # matviews: REFRESH … CONCURRENTLY is possible


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    position: int
    data_type: str
    is_nullable: bool
    is_primary_key: bool = False
    fk_target: str = ""  # "schema.table.column"


# Where an edge comes from: recorded by the server (pg_depend, MySQL's
# VIEW_TABLE_USAGE), or parsed from the view's definition with sqlglot.
CATALOG, PARSED = "catalog", "parsed"


@dataclass(frozen=True)
class CatalogDependency:
    upstream_oid: int
    downstream_oid: int
    provenance: str = CATALOG


@dataclass
class CatalogSnapshot:
    server_version: str
    search_path: list[str]
    objects: list[CatalogObject]
    columns: dict[int, list[CatalogColumn]] = field(default_factory=dict)  # by object oid
    dependencies: list[CatalogDependency] = field(default_factory=list)


_RELATIONS = """
    SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname <> ALL (%(system)s::text[])
      AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
      -- A schema is included when there is no include list or it is on it.
      AND (cardinality(%(include)s::text[]) = 0 OR n.nspname = ANY (%(include)s::text[]))
      AND n.nspname <> ALL (%(exclude)s::text[])
      AND c.oid <> ALL (%(exclude_oids)s::oid[])
      -- Relations an extension owns (pg_stat_statements…) are not warehouse objects.
      AND NOT EXISTS (
          SELECT 1 FROM pg_depend e
          WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
"""

_OBJECTS = f"""
    WITH rel AS ({_RELATIONS})
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition,
           pn.nspname, pc.relname,
           CASE WHEN c.relkind IN ('r', 'm', 'f') AND c.reltuples >= 0 THEN c.reltuples::bigint END,
           CASE WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid) END,
           GREATEST(s.last_analyze, s.last_autoanalyze),
           GREATEST(s.last_vacuum, s.last_autovacuum),
           pg_get_userbyid(c.relowner),
           coalesce(d.description, ''),
           CASE WHEN c.relkind = 'm' THEN c.relispopulated END,
           -- CONCURRENTLY needs a unique index on plain columns with no WHERE clause.
           c.relkind = 'm' AND EXISTS (
               SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                 AND i.indpred IS NULL AND i.indexprs IS NULL)
    FROM rel
    JOIN pg_class c ON c.oid = rel.oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
    LEFT JOIN pg_description d
           ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
    LEFT JOIN pg_inherits h ON c.relispartition AND h.inhrelid = c.oid
    LEFT JOIN pg_class pc ON pc.oid = h.inhparent
    LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
    ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
    SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
    FROM pg_attribute a
    WHERE a.attrelid = ANY (%(oids)s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum
"""

# One row per (constraint, column): conkey/confkey are expanded pairwise, so a
# composite foreign key maps each column to its own target column.
_KEYS = """
    SELECT con.conrelid, con.contype, a.attname, fn.nspname, fc.relname, fa.attname
    FROM pg_constraint con
    CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(attnum, fattnum)
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
    LEFT JOIN pg_class fc ON fc.oid = con.confrelid
    LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
    LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum
    WHERE con.contype IN ('p', 'f') AND con.conrelid = ANY (%(oids)s::oid[])
    ORDER BY con.conrelid, con.conname, k.attnum
"""

# A view's (or matview's) reads are the 'n' dependencies of its rewrite rule. A view
# depends on itself through its own rule's columns: excluded.
_DEPENDENCIES = """
    SELECT DISTINCT d.refobjid, r.ev_class
    FROM pg_rewrite r
    JOIN pg_depend d
      ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n'
    WHERE r.ev_class = ANY (%(oids)s::oid[])
      AND d.refobjid = ANY (%(oids)s::oid[])
      AND d.refobjid <> r.ev_class
    ORDER BY 2, 1
"""


def set_statement_timeout(cur, timeout_ms: int) -> None:
    """Bound every following catalog query of the current transaction."""
    cur.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))])


def read_search_path(cur) -> list[str]:
    """The connecting role's effective search path: `$user` expanded when that schema
    exists and dropped otherwise, missing schemas dropped, as PostgreSQL resolves it."""
    cur.execute("SELECT current_schemas(false)")
    return list(cur.fetchone()[0])


def read_server_version(cur) -> str:
    cur.execute("SHOW server_version")
    return cur.fetchone()[0]


def read_objects(
    cur,
    *,
    include_schemas: Iterable[str] = (),
    exclude_schemas: Iterable[str] = (),
    exclude_oids: Iterable[int] = (),
) -> list[CatalogObject]:
    params = {
        "system": list(SYSTEM_SCHEMAS),
        "include": list(include_schemas),
        "exclude": list(exclude_schemas),
        "exclude_oids": list(exclude_oids),
    }
    cur.execute(_OBJECTS, params)
    return [
        CatalogObject(
            oid=row[0],
            schema=row[1],
            name=row[2],
            object_type=RELKINDS[row[3]],
            is_partition=row[4],
            parent_schema=row[5],
            parent_name=row[6],
            estimated_rows=row[7],
            size_bytes=row[8],
            last_analyze_at=row[9],
            last_vacuum_at=row[10],
            owner=row[11],
            comment=row[12],
            is_populated=row[13],
            has_unique_index=row[14],
        )
        for row in cur.fetchall()
    ]


def read_columns(cur, oids: list[int]) -> dict[int, list[CatalogColumn]]:
    """Columns of the given relations, with primary-key flags and foreign-key targets."""
    cur.execute(_KEYS, {"oids": oids})
    pk: set[tuple[int, str]] = set()
    fk: dict[tuple[int, str], str] = {}
    for relid, contype, column, fschema, ftable, fcolumn in cur.fetchall():
        if contype == "p":
            pk.add((relid, column))
        else:
            # A column in two foreign keys keeps the first by constraint name.
            fk.setdefault((relid, column), f"{fschema}.{ftable}.{fcolumn}")
    cur.execute(_COLUMNS, {"oids": oids})
    columns: dict[int, list[CatalogColumn]] = {}
    for relid, name, position, data_type, nullable in cur.fetchall():
        columns.setdefault(relid, []).append(
            CatalogColumn(
                name=name,
                position=position,
                data_type=data_type,
                is_nullable=nullable,
                is_primary_key=(relid, name) in pk,
                fk_target=fk.get((relid, name), ""),
            )
        )
    return columns


def read_dependencies(cur, oids: list[int]) -> list[CatalogDependency]:
    """Distinct (object → view/matview reading it) pairs among the given relations."""
    cur.execute(_DEPENDENCIES, {"oids": oids})
    return [CatalogDependency(upstream_oid=up, downstream_oid=down) for up, down in cur.fetchall()]


def read_catalog(
    conn,
    *,
    include_schemas: Iterable[str] = (),
    exclude_schemas: Iterable[str] = (),
    exclude_oids: Iterable[int] = (),
    statement_timeout_ms: int = 60000,
) -> CatalogSnapshot:
    """Everything discovery needs, in one read-only REPEATABLE READ transaction so the
    queries see one consistent state of the catalog."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        set_statement_timeout(cur, statement_timeout_ms)
        objects = read_objects(
            cur, include_schemas=include_schemas, exclude_schemas=exclude_schemas, exclude_oids=exclude_oids
        )
        oids = [obj.oid for obj in objects]
        return CatalogSnapshot(
            server_version=read_server_version(cur),
            search_path=read_search_path(cur),
            objects=objects,
            columns=read_columns(cur, oids),
            dependencies=read_dependencies(cur, oids),
        )


def own_relation_oids(cur, table_names: Iterable[str]) -> list[int]:
    """OIDs of the named tables as this connection's search path resolves them (names
    that do not exist are skipped), plus every view and matview built on them,
    transitively: OpsHealth's own objects when the source is OpsHealth's database."""
    cur.execute(
        """
        WITH RECURSIVE own(oid) AS (
            SELECT r::oid FROM (SELECT to_regclass(quote_ident(t)) AS r FROM unnest(%s::text[]) t) x
            WHERE r IS NOT NULL
            UNION
            SELECT rw.ev_class
            FROM own
            JOIN pg_depend d
              ON d.refclassid = 'pg_class'::regclass AND d.refobjid = own.oid
             AND d.classid = 'pg_rewrite'::regclass AND d.deptype = 'n'
            JOIN pg_rewrite rw ON rw.oid = d.objid
        )
        SELECT oid FROM own
        """,
        [list(table_names)],
    )
    return [row[0] for row in cur.fetchall()]


# Every relation a query can name, outside the system schemas: what checks ask of a
# source's live catalog ("does this name exist", "is this view populated"). The schema
# filters of discovery do not apply. `has_unique_index`: a unique index without
# predicate or expression, which REFRESH … CONCURRENTLY needs.
_RELATIONS_SQL = """
SELECT n.nspname, c.relname, c.relkind::text, c.relispopulated,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                 AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique_index
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%%' AND n.nspname NOT LIKE 'pg_toast_temp_%%'
"""


@dataclass(frozen=True)
class Relation:
    schema_name: str
    name: str
    kind: str  # r table, p partitioned, v view, m matview, f foreign
    is_populated: bool
    has_unique_index: bool

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.name}"


def read_relations(conn) -> dict[tuple[str, str], Relation]:
    """(schema, name) → Relation for the whole database, in one statement."""
    rows = conn.execute(_RELATIONS_SQL).fetchall()
    return {(r[0], r[1]): Relation(*r) for r in rows}


def database_identity(cur) -> tuple:
    """What identifies one database of one running server, readable by any role:
    a second connection to the same database gets the same tuple."""
    # The server's start time tells two servers apart (the port does not: one client may
    # come over TCP, another over the Unix socket).
    cur.execute("SELECT current_database(), pg_postmaster_start_time()")
    return tuple(cur.fetchone())
