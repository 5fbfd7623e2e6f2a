"""The SQL of data checks in each engine's dialect: the few constructs that differ.

The kinds build their statements with `psycopg.sql` and ask the dialect of the check's
source (`dialect_of`) for identifiers, literals and the constructs engines spell
differently. `Dialect` is PostgreSQL's, the reference: its text is what the kinds always
produced. DuckDB parses PostgreSQL's quoting and literals (`"name"`, `E'…'`,
`'2026-11-01'::date`); MySQL and MariaDB need backticks, `CASE` inside aggregates (no
`FILTER`), `IN` lists (no arrays) and a recursive calendar (no `generate_series`).

A rendered statement is `render(query, conn)`: PostgreSQL's through the connection (its
string escaping), the others' without one.
"""

from __future__ import annotations

from datetime import date

from psycopg import sql

# PostgreSQL looks a value up in a hash table of an `= ANY(array)` (one hash and one
# comparison per row instead of one comparison per element) from 9 elements on
# (MIN_ARRAY_SIZE_FOR_HASHED_SAOP): a shorter list is repeated up to that size.
HASHED_ARRAY_SIZE = 9


class Dialect:
    """PostgreSQL."""

    engine = "postgresql"
    # What a monotonic check without order_by follows: the physical row order.
    row_order: str | None = "ctid"

    def ident(self, *names: str) -> sql.Composable:
        return sql.Identifier(*names)

    def table(self, check) -> sql.Composable:
        return self.ident(check.object.schema_name, check.object.object_name)

    def literal(self, value: str | date) -> sql.Composable:
        return sql.Literal(value)

    def count_where(self, condition: sql.Composable | None) -> sql.Composable:
        """The number of rows meeting `condition` (None: of all rows)."""
        if condition is None:
            return sql.SQL("count(*)")
        return sql.SQL("count(*) FILTER (WHERE {})").format(condition)

    def aggregate(
        self, function: str, argument: sql.Composable, condition: sql.Composable | None
    ) -> sql.Composable:
        """`function(argument)` over the rows meeting `condition` (None: all rows)."""
        call = sql.SQL("{}({})").format(sql.SQL(function), argument)
        if condition is None:
            return call
        return sql.SQL("{} FILTER (WHERE {})").format(call, condition)

    def count_distinct(self, columns: list[sql.Composable], condition: sql.Composable) -> sql.Composable:
        """The number of distinct `columns` tuples among the rows meeting `condition`."""
        key = columns[0] if len(columns) == 1 else sql.SQL("({})").format(sql.SQL(", ").join(columns))
        return sql.SQL("count(DISTINCT {}) FILTER (WHERE {})").format(key, condition)

    def in_values(self, column: sql.Composable, values: list[str]) -> sql.Composable:
        """`column` is one of `values`, texts read as the column's type."""
        # An untyped array literal ('{"a","b"}') takes the column's own type: no cast per
        # row, and an index-friendly comparison; a value the type cannot hold is an error.
        values = values * -(-HASHED_ARRAY_SIZE // len(values))
        elements = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        accepted = sql.Literal("{" + ",".join(f'"{e}"' for e in elements) + "}")
        return sql.SQL("{c} = ANY({v})").format(c=column, v=accepted)

    def lag(self, column: str, partition_by: list[str], order_by: list[str]) -> sql.Composable:
        """`column`'s value in the previous row of its partition, in `order_by` order. lag()
        ignores frames, but the default one (RANGE … CURRENT ROW) makes PostgreSQL read
        ahead to the end of each group of equal sort keys; a one-row ROWS frame does not
        (measured: a third less CPU on 10 million rows with the sort in memory)."""
        partition = (
            sql.SQL("PARTITION BY {} ").format(sql.SQL(", ").join(map(self.ident, partition_by)))
            if partition_by
            else sql.SQL("")
        )
        return sql.SQL("lag({c}) OVER ({p}ORDER BY {o} ROWS BETWEEN CURRENT ROW AND CURRENT ROW)").format(
            c=self.ident(column), p=partition, o=sql.SQL(", ").join(map(self.ident, order_by))
        )

    def as_date(self, expression: sql.Composable) -> sql.Composable:
        return sql.SQL("{}::date").format(expression)

    def not_distinct(self, a: sql.Composable, b: sql.Composable) -> sql.Composable:
        """a = b, NULL equal to NULL."""
        return sql.SQL("{} IS NOT DISTINCT FROM {}").format(a, b)

    def calendar(self, start: date, end: date, excluded: list[date]) -> sql.Composable:
        """The common table expressions (after `WITH`) ending with `days`, of one column
        `day`: every day from `start` to `end`, except the `excluded` ones."""
        return sql.SQL(
            "days AS (SELECT d::date AS day FROM generate_series({s}::date, {e}::date, interval '1 day') AS d"
            " WHERE NOT (d::date = ANY({x}::date[])))"
        ).format(s=self.literal(start), e=self.literal(end), x=sql.Literal(excluded))

    def outside(self, day: sql.Composable, excluded: list[date]) -> sql.Composable:
        """` WHERE day NOT IN (the excluded dates)`, or nothing: a calendar's filter where
        arrays of literals are not at hand."""
        if not excluded:
            return sql.SQL("")
        return sql.SQL(" WHERE {} NOT IN ({})").format(day, sql.SQL(", ").join(map(self.literal, excluded)))

    def render(self, query: sql.Composable, conn) -> str:
        return query.as_string(conn)


class DuckdbDialect(Dialect):
    """DuckDB: PostgreSQL's text, except arrays of literals and the row order."""

    engine = "duckdb"
    row_order = "rowid"

    def in_values(self, column, values):
        return sql.SQL("{} IN ({})").format(column, sql.SQL(", ").join(map(self.literal, values)))

    def calendar(self, start, end, excluded):
        # generate_series(date, date, interval) counts in timestamps.
        return sql.SQL(
            "days AS (SELECT d::date AS day FROM generate_series({s}, {e}, interval '1 day') AS d{x})"
        ).format(s=self.literal(start), e=self.literal(end), x=self.outside(sql.SQL("d::date"), excluded))

    def render(self, query, conn):
        return query.as_string(None)


class MysqlDialect(Dialect):
    """MySQL 8 and MariaDB 10.2+ (window functions and common table expressions)."""

    engine = "mysql"
    # InnoDB has no row address to follow: a monotonic check names its order_by.
    row_order = None

    def ident(self, *names):
        return sql.SQL(".".join("`" + name.replace("`", "``") + "`" for name in names))

    def literal(self, value):
        if isinstance(value, date):
            return sql.SQL(f"'{value.isoformat()}'")
        if value.isprintable() and "\\" not in value:
            return sql.SQL("'" + value.replace("'", "''") + "'")
        # A backslash is an escape or a plain character depending on the server's
        # sql_mode (NO_BACKSLASH_ESCAPES): as hexadecimal it is neither. The character set
        # introducer keeps it a text, compared in the column's collation like any literal.
        return sql.SQL(f"_utf8mb4 X'{value.encode().hex()}'")

    def count_where(self, condition):
        if condition is None:
            return sql.SQL("count(*)")
        return sql.SQL("count(CASE WHEN {} THEN 1 END)").format(condition)

    def aggregate(self, function, argument, condition):
        if condition is None:
            return super().aggregate(function, argument, None)
        return sql.SQL("{}(CASE WHEN {} THEN {} END)").format(sql.SQL(function), condition, argument)

    def count_distinct(self, columns, condition):
        # count(DISTINCT a, b) skips the tuples with a NULL: those the CASE leaves out.
        cases = (sql.SQL("CASE WHEN {} THEN {} END").format(condition, c) for c in columns)
        return sql.SQL("count(DISTINCT {})").format(sql.SQL(", ").join(cases))

    def in_values(self, column, values):
        return sql.SQL("{} IN ({})").format(column, sql.SQL(", ").join(map(self.literal, values)))

    def as_date(self, expression):
        return sql.SQL("CAST({} AS DATE)").format(expression)

    def not_distinct(self, a, b):
        return sql.SQL("{} <=> {}").format(a, b)

    def calendar(self, start, end, excluded):
        # One recursion step per day: the session allows as many as gap_days' longest
        # window (checks.datachecks.sessions.MysqlSession).
        return sql.SQL(
            "RECURSIVE calendar AS (SELECT CAST({s} AS DATE) AS day"
            " UNION ALL SELECT day + INTERVAL 1 DAY FROM calendar WHERE day < {e}),"
            " days AS (SELECT day FROM calendar{x})"
        ).format(s=self.literal(start), e=self.literal(end), x=self.outside(sql.SQL("day"), excluded))

    def render(self, query, conn):
        return query.as_string(None)


DIALECTS: dict[str, Dialect] = {d.engine: d for d in (Dialect(), DuckdbDialect(), MysqlDialect())}


def dialect_of(check) -> Dialect:
    """The dialect of the check's source."""
    return DIALECTS[check.object.source.engine]
