"""Parity of the engines: the demo warehouse's tables and views, loaded into MariaDB and
into DuckDB, are discovered as the same objects with the same columns, and with (at
least 99 % of) the edges PostgreSQL records exactly.

The copy is made from what PostgreSQL discovery found: each table with its columns
(types mapped), each view and materialized view as a view whose definition is
PostgreSQL's own (`pg_get_viewdef`) transpiled by sqlglot. Materialized views become
plain views: neither engine has them.
"""

from __future__ import annotations

import os
from graphlib import TopologicalSorter

import psycopg
import pytest
import sqlglot
from sqlglot import exp

from opshealth.demo import warehouse
from registry.discovery import discover
from registry.models import Dependency, RegistryObject
from tests.factories.registry import SourceFactory

pytestmark = pytest.mark.django_db

DATABASE = f"test_parity_wh_{os.getpid()}"
COPIED_TYPES = ("table", "partitioned_table", "view", "matview")

# PostgreSQL type (format_type's first word) → MySQL and DuckDB column types.
TYPES = {
    "integer": ("INT", "INTEGER"),
    "bigint": ("BIGINT", "BIGINT"),
    "smallint": ("SMALLINT", "SMALLINT"),
    "numeric": ("DECIMAL(14,4)", "DECIMAL(14,4)"),
    "boolean": ("BOOLEAN", "BOOLEAN"),
    "date": ("DATE", "DATE"),
    "timestamp": ("DATETIME", "TIMESTAMP"),
    "double": ("DOUBLE", "DOUBLE"),
    "real": ("FLOAT", "REAL"),
    "jsonb": ("JSON", "JSON"),
    "json": ("JSON", "JSON"),
    "uuid": ("CHAR(36)", "UUID"),
}


def column_type(pg_type: str, engine: int) -> str:
    return TYPES.get(pg_type.split("(")[0].split()[0], ("VARCHAR(255)", "VARCHAR"))[engine]


@pytest.fixture(scope="module")
def pg_demo(django_db_setup, django_db_blocker):
    result = warehouse.build(DATABASE, reset=True)
    with psycopg.connect(result.dsn) as conn:
        definitions = {
            (schema, name): definition
            for schema, name, definition in conn.execute(
                "SELECT n.nspname, c.relname, pg_get_viewdef(c.oid, true) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm')"
            )
        }
    yield result.dsn, definitions
    with psycopg.connect(warehouse.demo_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


class Demo:
    """The PostgreSQL discovery of the demo warehouse: objects, columns, exact edges."""

    def __init__(self, dsn: str, definitions: dict):
        self.source = SourceFactory(name="pg", dsn=dsn, exclude_schemas=["ops"])
        discover(self.source, code_scan=False)
        self.objects = list(
            RegistryObject.objects.filter(source=self.source, object_type__in=COPIED_TYPES).prefetch_related(
                "columns"
            )
        )
        self.definitions = definitions
        self.edges = edges(self.source)

    def columns(self) -> dict[tuple[str, str], list[str]]:
        return {(o.schema_name, o.object_name): [c.name for c in o.columns.all()] for o in self.objects}

    def schemas(self) -> list[str]:
        return sorted({o.schema_name for o in self.objects})

    def statements(self, engine: int, schema_of, dialect: str) -> list[str]:
        """CREATE statements for one engine, views after what they read."""
        quote = "`" if engine == 0 else '"'

        def name(schema: str, obj: str) -> str:
            return f"{quote}{schema_of(schema)}{quote}.{quote}{obj.replace(quote, quote * 2)}{quote}"

        out = []
        tables = [o for o in self.objects if o.object_type not in ("view", "matview")]
        for o in tables:
            cols = ", ".join(
                f"{quote}{c.name}{quote} {column_type(c.data_type, engine)}" for c in o.columns.all()
            )
            out.append(f"CREATE TABLE {name(o.schema_name, o.object_name)} ({cols})")
        views = {
            (o.schema_name, o.object_name): o for o in self.objects if o.object_type in ("view", "matview")
        }
        order = TopologicalSorter({key: {up for up, down in self.edges if down == key} for key in views})
        for key in order.static_order():
            if key in views:
                body = transpile(self.definitions[key], schema_of, dialect)
                out.append(f"CREATE VIEW {name(*key)} AS {body}")
        return out


def _any_array_as_in(node: exp.Expression) -> exp.Expression:
    # pg_get_viewdef prints `x IN ('a', 'b')` as `x = ANY (ARRAY['a', 'b'])`.
    right = node.expression if isinstance(node, exp.EQ) else None
    array = right.this.unnest() if isinstance(right, exp.Any) else None
    if isinstance(array, exp.Array):
        return exp.In(this=node.this, expressions=array.expressions)
    return node


def _filter_as_case(node: exp.Expression) -> exp.Expression:
    # MySQL has no `agg(x) FILTER (WHERE c)`: `agg(CASE WHEN c THEN x END)` means the same.
    if not isinstance(node, exp.Filter):
        return node
    agg, condition = node.this.copy(), node.expression.this
    value = exp.Literal.number(1) if isinstance(agg.this, exp.Star) else agg.this
    agg.set("this", exp.Case(ifs=[exp.If(this=condition, true=value)]))
    return agg


def transpile(definition: str, schema_of, dialect: str) -> str:
    tree = sqlglot.parse_one(definition, read="postgres").transform(_any_array_as_in)
    tree = tree.transform(_filter_as_case)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and table.name not in ctes:
            # pg_get_viewdef leaves names on the search path (public) unqualified.
            table.set("db", exp.to_identifier(schema_of(table.db or "public"), quoted=True))
    return tree.sql(dialect=dialect)


def edges(source) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    return {
        (
            (d.upstream.schema_name, d.upstream.object_name),
            (d.downstream.schema_name, d.downstream.object_name),
        )
        for d in Dependency.objects.filter(source=source).select_related("upstream", "downstream")
    }


def discovered(source, unprefix) -> tuple[dict, set]:
    objects = RegistryObject.objects.filter(source=source).prefetch_related("columns")
    columns = {(unprefix(o.schema_name), o.object_name): [c.name for c in o.columns.all()] for o in objects}
    found = {((unprefix(u[0]), u[1]), (unprefix(d[0]), d[1])) for u, d in edges(source)}
    return columns, found


def assert_parity(demo: Demo, columns: dict, found: set) -> None:
    assert columns == demo.columns()
    assert len(demo.edges) >= 10 and len(columns) >= 30, (len(demo.edges), len(columns))
    kept = len(found & demo.edges) / len(demo.edges)
    assert kept >= 0.99, sorted(demo.edges - found)
    assert found <= demo.edges  # nothing invented


@pytest.mark.services
def test_mariadb_finds_the_demo_warehouse_objects_columns_and_edges(pg_demo, mariadb):
    demo = Demo(*pg_demo)
    databases = {schema: mariadb.database(f"_{schema}") for schema in demo.schemas()}
    mariadb.execute(*demo.statements(0, databases.__getitem__, "mysql"))
    source = SourceFactory(
        name="maria",
        engine="mysql",
        dsn=mariadb.dsn(databases["public"]),
        include_schemas=list(databases.values()),
    )
    discover(source, code_scan=False)
    names = {db: schema for schema, db in databases.items()}
    assert_parity(demo, *discovered(source, names.__getitem__))


def test_duckdb_finds_the_demo_warehouse_objects_columns_and_edges(pg_demo, duckdb_file):
    demo = Demo(*pg_demo)
    schemas = "".join(f'CREATE SCHEMA IF NOT EXISTS "{s}";' for s in demo.schemas())
    path = duckdb_file(schemas + ";".join(demo.statements(1, lambda s: s, "duckdb")))
    source = SourceFactory(name="duck", engine="duckdb", dsn=str(path))
    discover(source, code_scan=False)
    assert_parity(demo, *discovered(source, lambda s: s))
