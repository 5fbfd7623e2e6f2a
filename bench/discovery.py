"""Discovery benchmark (issue 2 section 8).

Builds a synthetic warehouse of N objects (tables, view chains, materialized views) in a
scratch database on OpsHealth's PostgreSQL server and times, in one run:

  (a) the raw catalog queries alone (registry.catalog.read_catalog);
  (b) `discover` end to end, first (empty registry) and repeat (nothing changed);
  (c) what catalog tools commonly do: SQLAlchemy's Inspector per object plus sqlglot
      parsing of every view definition (it only reads);

and prints medians and the ratios (b)/(a) and (c)/(b). Targets: a first discover of
10,000 objects at least 4x faster than (c); a repeat discover within 3x of (a).

    .venv/bin/python bench/discovery.py                 # N = 1,000 and 10,000
    .venv/bin/python bench/discovery.py --sizes 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")

import django

django.setup()

import psycopg  # noqa: E402
import sqlglot  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402
from sqlalchemy import create_engine, inspect  # noqa: E402
from sqlglot import exp  # noqa: E402

from registry import catalog  # noqa: E402
from registry.discovery import discover  # noqa: E402
from registry.models import Source  # noqa: E402


def dsn_for(dbname: str) -> str:
    s = connection.settings_dict
    params = {"host": s["HOST"], "port": s["PORT"], "user": s["USER"], "password": s["PASSWORD"]}
    return make_conninfo(dbname=dbname, **{k: v for k, v in params.items() if v})


def warehouse_sql(n: int) -> list[str]:
    """N objects over 10 schemas: 60 % tables (5-8 columns, PK, some FKs), 30 % views in
    chains of three, 10 % materialized views over the views."""
    n_tables, n_views = n * 6 // 10, n * 3 // 10
    n_mvs = n - n_tables - n_views
    out = [f"CREATE SCHEMA s{i};" for i in range(10)]
    for i in range(n_tables):
        extra = ", ".join(f"c{j} text" for j in range(i % 4))
        fk = f", parent_id int REFERENCES s{(i - 1) % 10}.t{i - 1}" if i % 5 and i else ""
        out.append(
            f"CREATE TABLE s{i % 10}.t{i} (id int PRIMARY KEY, name text NOT NULL, amount numeric(12,2),"
            f" created_at timestamptz{fk}{', ' + extra if extra else ''});"
        )
    for i in range(n_views):
        t = i % n_tables
        if i % 3 == 0:  # head of a chain: reads a table (and joins another every other time)
            src = f"SELECT a.id, a.name, a.amount FROM s{t % 10}.t{t} a"
            if i % 2 == 0:
                u = (t + 1) % n_tables
                src += f" JOIN s{u % 10}.t{u} b ON b.id = a.id"
        else:
            src = f"SELECT id, name, amount FROM s{(i - 1) % 10}.v{i - 1} WHERE amount > {i % 7}"
        out.append(f"CREATE VIEW s{i % 10}.v{i} AS {src};")
    for i in range(n_mvs):
        v = (i * 3 + 2) % n_views
        out.append(
            f"CREATE MATERIALIZED VIEW s{i % 10}.m{i} AS SELECT name, sum(amount) AS total"
            f" FROM s{v % 10}.v{v} GROUP BY name WITH NO DATA;"
        )
    return out


def build(n: int) -> str:
    name = f"bench_discovery_{n}"
    admin = dsn_for(connection.settings_dict["NAME"])
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = dsn_for(name)
    statements = warehouse_sql(n)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A multi-statement string is one implicit transaction: batches keep its locks
        # under max_locks_per_transaction.
        for i in range(0, len(statements), 500):
            conn.execute("\n".join(statements[i : i + 500]))
        conn.execute("ANALYZE")
    return dsn


def drop(dsn: str) -> None:
    name = conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(dsn_for(connection.settings_dict["NAME"]), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def timed(fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> list[float]:
    times = []
    for _ in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def raw_catalog(dsn: str) -> catalog.CatalogSnapshot:
    with psycopg.connect(dsn) as conn:
        return catalog.read_catalog(conn)


def inspector_approach(dsn: str) -> tuple[int, int, int]:
    """Per object: columns, primary key, foreign keys; per view: its definition, parsed
    with sqlglot for the tables it reads. Returns (objects, columns, edges)."""
    info = conninfo_to_dict(dsn)
    url = f"postgresql+psycopg://{info.get('user', '')}@/{info['dbname']}?host={info['host']}&port={info['port']}"
    engine = create_engine(url)
    objects = columns = edges = 0
    try:
        insp = inspect(engine)
        for schema in insp.get_schema_names():
            if schema in ("information_schema",) or schema.startswith("pg_"):
                continue
            tables = insp.get_table_names(schema=schema)
            views = insp.get_view_names(schema=schema) + insp.get_materialized_view_names(schema=schema)
            for name in tables + views:
                objects += 1
                columns += len(insp.get_columns(name, schema=schema))
                insp.get_pk_constraint(name, schema=schema)
                insp.get_foreign_keys(name, schema=schema)
            for name in views:
                definition = insp.get_view_definition(name, schema=schema)
                tree = sqlglot.parse_one(definition, dialect="postgres")
                edges += len({(t.db, t.name) for t in tree.find_all(exp.Table)})
    finally:
        engine.dispose()
    return objects, columns, edges


def bench(n: int, repeat: int, slow_repeat: int) -> dict[str, float]:
    print(f"\n== N = {n:,}: building the warehouse…", flush=True)
    started = time.perf_counter()
    dsn = build(n)
    print(f"   built in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        snap = raw_catalog(dsn)
        print(
            f"   {len(snap.objects):,} objects, {sum(map(len, snap.columns.values())):,} columns, "
            f"{len(snap.dependencies):,} edges",
            flush=True,
        )
        source_name = f"bench-{n}"

        def fresh_source() -> None:
            Source._default_manager.filter(name=source_name).delete()
            Source._default_manager.create(name=source_name, dsn=dsn)

        def run_discover() -> None:
            discover(Source._default_manager.get(name=source_name), code_scan=False)

        b_first = timed(run_discover, max(1, repeat // 2 + 1), before=fresh_source)
        # (a) and the repeat (b) alternate, so a load change on a shared machine
        # affects both alike.
        a, b_repeat = [], []
        for _ in range(repeat):
            a += timed(lambda: raw_catalog(dsn), 1)
            b_repeat += timed(run_discover, 1)
        c = timed(lambda: inspector_approach(dsn), slow_repeat)
        Source._default_manager.filter(name=source_name).delete()
    finally:
        drop(dsn)
    med = {k: statistics.median(v) for k, v in {"a": a, "b1": b_first, "b2": b_repeat, "c": c}.items()}
    print(f"   (a) raw catalog queries        {med['a']:8.3f} s  (median of {len(a)})")
    print(f"   (b) discover, first            {med['b1']:8.3f} s  (median of {len(b_first)})")
    print(f"   (b) discover, repeat           {med['b2']:8.3f} s  (median of {len(b_repeat)})")
    print(f"   (c) Inspector + sqlglot        {med['c']:8.3f} s  (median of {len(c)})")
    print(f"   (b first)/(a)  = {med['b1'] / med['a']:6.1f}x")
    print(f"   (b repeat)/(a) = {med['b2'] / med['a']:6.1f}x   target ≤ 3x")
    print(f"   (c)/(b first)  = {med['c'] / med['b1']:6.1f}x   target ≥ 4x")
    return med


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of (a) and repeat (b); first (b) gets half"
    )
    parser.add_argument("--slow-repeat", type=int, default=1, help="runs of (c), the slow approach")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, Python {sys.version.split()[0]}")
    for n in args.sizes:
        bench(n, args.repeat, args.slow_repeat)


if __name__ == "__main__":
    main()
