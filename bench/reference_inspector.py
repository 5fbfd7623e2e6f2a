"""The peer approach (OpenMetadata / DataHub style): the reference Inspector method of
../shared/bench/disc_inspector.py (copied: CI has shared/ only beside the clone), as a
function `run(sqlalchemy_url)`. SQLAlchemy 2.x with psycopg 3.

For each user schema: get_table_names, get_view_names,
get_materialized_view_names; for each table get_columns, get_pk_constraint,
get_foreign_keys; for each view/matview get_columns, get_view_definition.
Then parse every view definition with sqlglot (postgres dialect) and collect
referenced tables (CTE names excluded).  Unqualified names are resolved two
ways: (1) against the view's own schema (a common parser default), (2) against
'public' (the search_path pg_get_viewdef ran with) -- reported separately.
One connection in AUTOCOMMIT (no lock build-up from pg_get_viewdef),
fresh Inspector (empty info_cache) per run.
"""

import time

import sqlalchemy
import sqlglot
from sqlalchemy import create_engine, inspect
from sqlglot import exp

SA2 = sqlalchemy.__version__.startswith("2")
SKIP = {"information_schema"}


def parse_refs(sql):
    """-> (list of (schema or None, name)) or raises."""
    ast = sqlglot.parse_one(sql, read="postgres")
    ctes = {c.alias_or_name for c in ast.find_all(exp.CTE)}
    out = set()
    for t in ast.find_all(exp.Table):
        name = t.name
        if not name:
            continue
        db = t.db or None
        if db is None and name in ctes:
            continue
        out.add((db, name))
    return out


def run(url):
    """`url`: a postgresql+psycopg:// SQLAlchemy URL. Returns (objects, timings, parse failures)."""
    T = {}
    t0 = time.perf_counter()
    engine = create_engine(url)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    insp = inspect(conn)
    T["connect"] = time.perf_counter() - t0
    res = {}
    nq = dict(tables=0, views=0)
    for s in insp.get_schema_names():
        if s in SKIP or s.startswith("pg_"):
            continue
        tables = insp.get_table_names(schema=s)
        if SA2:
            views = insp.get_view_names(schema=s)
            mvs = insp.get_materialized_view_names(schema=s)
        else:  # 1.4: get_view_names returns plain + materialized
            allv = insp.get_view_names(schema=s)
            mvs = insp.dialect.get_view_names(conn, s, include=("materialized",), info_cache=insp.info_cache)
            ms = set(mvs)
            views = [v for v in allv if v not in ms]
        for t in tables:
            cols = insp.get_columns(t, schema=s)
            pk = insp.get_pk_constraint(t, schema=s)
            fks = insp.get_foreign_keys(t, schema=s)
            res[(s, t)] = dict(kind="table", columns=[c["name"] for c in cols], pk=pk, fks=fks)
            nq["tables"] += 1
        for kind, names in (("view", views), ("matview", mvs)):
            for v in names:
                cols = insp.get_columns(v, schema=s)
                d = insp.get_view_definition(v, schema=s)
                res[(s, v)] = dict(kind=kind, columns=[c["name"] for c in cols], definition=d)
                nq["views"] += 1
    conn.close()
    engine.dispose()
    T["inspector"] = time.perf_counter() - t0

    t = time.perf_counter()
    parse_fail = []
    for (s, v), o in res.items():
        if o["kind"] == "table":
            continue
        try:
            o["refs"] = parse_refs(o["definition"])
        except Exception as e:
            parse_fail.append(f"{s}.{v}: {type(e).__name__}")
            o["refs"] = set()
    T["parse_sqlglot"] = time.perf_counter() - t
    T["total"] = time.perf_counter() - t0
    return res, T, parse_fail
