"""What a monitored PostgreSQL database holds right now: one catalog query per source.

SQL at the edge (STYLE.md): functions take a psycopg connection and return small
dataclasses; no models here. The checks read it for "does this name exist"
(unregistered_used_object, used_object_missing) and "is this view populated"
(mv_not_populated); refresh_matviews reads it for populated/unique-index flags.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every relation a query can name, outside the system schemas. `has_unique_index`: a
# unique index without predicate or expression, which REFRESH … CONCURRENTLY needs.
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


def quote_ident(schema_name: str, name: str) -> str:
    """ "schema"."name" with embedded quotes doubled (names like "Daily.Stats")."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema_name, name))
