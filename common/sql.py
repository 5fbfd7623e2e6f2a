"""A queryset as SQL text, for the raw statements that set-based speed keeps raw."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet


def bound_sql(queryset: QuerySet) -> str:
    """The SQL of `queryset` with its parameters bound (psycopg's client-side quoting),
    to embed in a raw statement: the statement then applies the queryset's rule instead
    of a copy of it. Meant for querysets whose parameters are the code's constants
    (statuses, a `RawSQL` column reference); the result contains no placeholder, so it
    mixes with a statement's own `%s` or `%(name)s` ones. Opens no transaction and runs
    no query, but needs the database connection: call it lazily, not at import."""
    sql, params = queryset.query.sql_with_params()
    return connection.ops.compose_sql(sql, params)
