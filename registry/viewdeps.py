"""View dependencies parsed from view definitions, for servers that do not record them.

MariaDB (and MySQL before 8.0.13) and DuckDB keep no view → table edges in their
catalogs, only each view's definition. The definition is parsed with sqlglot in the
server's dialect; every table it names that is not a CTE is resolved against the
catalog being read: a qualified name exactly (then case-insensitively, as DuckDB folds
identifiers), an unqualified one in the view's own schema, then in the fallback schemas.
Names that match no object of the catalog (another database, a table function) give no
edge. Such edges carry the provenance `parsed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError


class ObjectIndex:
    """(schema, name) → oid of a catalog's objects, looked up exactly, then by case."""

    def __init__(self, objects: Iterable[tuple[str, str, int]]):
        self.exact: dict[tuple[str, str], int] = {}
        self.folded: dict[tuple[str, str], int] = {}
        for schema, name, oid in objects:
            self.exact[(schema, name)] = oid
            self.folded.setdefault((schema.lower(), name.lower()), oid)

    def get(self, schema: str, name: str) -> int | None:
        found = self.exact.get((schema, name))
        return found if found is not None else self.folded.get((schema.lower(), name.lower()))


def view_reads(
    definition: str, *, dialect: str, schema: str, index: ObjectIndex, fallback_schemas: Sequence[str] = ()
) -> set[int] | None:
    """OIDs of the catalog objects a view definition reads; None when it cannot be parsed."""
    try:
        tree = sqlglot.parse_one(definition, read=dialect)
    except SqlglotError:
        return None
    except Exception:  # a sqlglot bug on odd input: no edges rather than no discovery
        return None
    if isinstance(tree, exp.Create):  # DuckDB keeps the whole CREATE VIEW statement
        tree = tree.expression
    if tree is None:
        return None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    found: set[int] = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: read_csv(…), generate_series(…)
        name, db = table.name, table.db
        if not db and name.lower() in ctes:
            continue
        for candidate in [db] if db else [schema, *fallback_schemas]:
            oid = index.get(candidate, name)
            if oid is not None:
                found.add(oid)
                break
    return found
