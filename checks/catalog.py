"""Identifiers of a monitored PostgreSQL database as refresh_matviews writes them.

What a source holds right now is read by its engine (`registry.engines`,
`SourceEngine.read_relations`).
"""

from __future__ import annotations


def quote_ident(schema_name: str, name: str) -> str:
    """ "schema"."name" with embedded quotes doubled (names like "Daily.Stats")."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema_name, name))
