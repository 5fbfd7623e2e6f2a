"""Build a synthetic warehouse of N objects in a fresh database.

The reference generator of ../shared/bench/gen_warehouse.py (copied: CI has shared/
only beside the clone), as a function: `build(n, admin_conninfo, conninfo_of)`. The
objects it creates, and their order (the random sequence), are the reference's.

Layout (brief: N/2 tables + N/4 views + N/8 matviews = 7N/8; the remaining
N/8 are extra tables so that the object total is exactly N):
  tables   5N/8  (5-12 columns, ~65% single-col PK, ~5% composite PK,
                  ~30% with 1-2 FKs to earlier PK tables; ~2% quoted mixed-case names)
  views    N/4   (1-3 sources among tables / earlier views / earlier matviews;
                  templates: simple, join, union all, CTE, EXISTS, aggregate,
                  scalar subquery, lateral SRF)
  matviews N/8   (same templates; ~30% WITH NO DATA)
Schemas raw, canon, ops, public, mart.  Ground truth (object list, intended
dependency edges) are returned.
"""

import random
import time

import psycopg

SCHEMAS = ["raw", "canon", "ops", "public", "mart"]
TABLE_SCHEMA_W = [("raw", 35), ("canon", 25), ("ops", 15), ("public", 10), ("mart", 15)]
VIEW_SCHEMA_W = [("canon", 30), ("mart", 40), ("public", 15), ("ops", 15)]
MV_SCHEMA_W = [("mart", 60), ("ops", 25), ("public", 15)]
COLTYPES = [
    "integer",
    "bigint",
    "text",
    "varchar(64)",
    "numeric(12,2)",
    "timestamptz",
    "date",
    "boolean",
    "jsonb",
    "uuid",
    "double precision",
    "smallint",
]


def wchoice(rng, pairs):
    tot = sum(w for _, w in pairs)
    r = rng.uniform(0, tot)
    for v, w in pairs:
        r -= w
        if r <= 0:
            return v
    return pairs[-1][0]


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def qn(schema, name):
    return f"{qi(schema)}.{qi(name)}"


def build(N, admin_conninfo, conninfo_of, seed=42):
    """Create database wh_N (dropped first) on the server of `admin_conninfo`;
    `conninfo_of(db)` is the conninfo of a database there. Returns the ground truth."""
    rng = random.Random(seed)
    n_views, n_mv = N // 4, N // 8
    n_tables = N - n_views - n_mv
    db = f"wh_{N}"
    admin = psycopg.connect(admin_conninfo, autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {db}")
    admin.close()
    conn = psycopg.connect(conninfo_of(db))
    cur = conn.cursor()
    t0 = time.time()
    for s in SCHEMAS:
        if s != "public":
            cur.execute(f"CREATE SCHEMA {s}")
    objs = []  # dicts: schema,name,kind,cols,pk(bool),unpop(bool)
    pk_tables = []  # indices of tables with single-col PK "id"
    truth_edges = []  # (view fqn, source fqn)
    stmts = 0

    def flush():
        nonlocal stmts
        stmts += 1
        if stmts % 400 == 0:  # keep lock usage per transaction bounded
            conn.commit()

    # ---------------- tables
    for i in range(n_tables):
        s = wchoice(rng, TABLE_SCHEMA_W)
        name = f"t_{s}_{i}"
        if rng.random() < 0.02:
            name = f"Tbl Mixed{i}"  # needs quoting everywhere
        ncol = rng.randint(5, 12)
        cols, defs = [], []
        r = rng.random()
        haspk = False
        if r < 0.65:
            if rng.random() < 0.2:
                defs.append("id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
            else:
                defs.append("id bigint PRIMARY KEY")
            cols.append("id")
            haspk = True
        elif r < 0.70:
            defs.append("tenant_id integer NOT NULL")
            defs.append("id bigint NOT NULL")
            cols += ["tenant_id", "id"]
        nfk = 0
        if pk_tables and rng.random() < 0.30:
            nfk = rng.randint(1, 2)
        for k in range(nfk):
            ref = objs[rng.choice(pk_tables)]
            cname = f"fk{k}_id"
            defs.append(f"{cname} bigint REFERENCES {qn(ref['schema'], ref['name'])}(id)")
            cols.append(cname)
        j = 0
        while len(cols) < ncol:
            j += 1
            cname = f"c{j}"
            typ = rng.choice(COLTYPES)
            extra = ""
            if rng.random() < 0.15:
                extra = " NOT NULL"
            if typ in ("integer", "bigint") and rng.random() < 0.1:
                extra += " DEFAULT 0"
            if typ == "timestamptz" and rng.random() < 0.2:
                extra += " DEFAULT now()"
            defs.append(f"{cname} {typ}{extra}")
            cols.append(cname)
        if r >= 0.65 and r < 0.70:
            defs.append("PRIMARY KEY (tenant_id, id)")
        cur.execute(f"CREATE TABLE {qn(s, name)} ({', '.join(defs)})")
        if rng.random() < 0.1:
            cur.execute(f"COMMENT ON TABLE {qn(s, name)} IS 'synthetic table {i}'")
        flush()
        objs.append(dict(schema=s, name=name, kind="table", cols=cols, pk=haspk, unpop=False))
        if haspk:
            pk_tables.append(len(objs) - 1)

    # ---------------- views and matviews (interleaved so chains mix kinds)
    kinds = ["view"] * n_views + ["matview"] * n_mv
    rng.shuffle(kinds)
    templates = ["simple", "join", "union", "cte", "exists", "agg", "scalar", "lateral"]
    derived = []  # indices of views/matviews created so far
    for vi, kind in enumerate(kinds):
        s = wchoice(rng, VIEW_SCHEMA_W if kind == "view" else MV_SCHEMA_W)
        name = f"{'v' if kind == 'view' else 'mv'}_{s}_{vi}"
        nodata = kind == "matview" and rng.random() < 0.30
        nsrc = rng.choice([1, 1, 2, 2, 2, 3])
        srcs = []
        while len(srcs) < nsrc:
            cand = rng.choice(derived) if derived and rng.random() < 0.4 else rng.randrange(n_tables)
            o = objs[cand]
            if kind == "matview" and not nodata and o["unpop"]:
                continue  # can't populate a matview over an unpopulated one
            if cand not in srcs:
                srcs.append(cand)
        tpl = rng.choice(templates) if nsrc >= 2 else rng.choice(["simple", "agg", "cte", "lateral"])
        if tpl == "simple":
            srcs, nsrc = srcs[:1], 1  # 'simple' reads one source only
        S = [objs[k] for k in srcs]
        ref = [qn(o["schema"], o["name"]) for o in S]

        def col(o):
            return qi(rng.choice(o["cols"]))

        outc = []
        if tpl == "simple":
            cs = rng.sample(S[0]["cols"], min(len(S[0]["cols"]), rng.randint(2, 6)))
            sel = ", ".join(f"a.{qi(c)} AS o{k}" for k, c in enumerate(cs))
            outc = [f"o{k}" for k in range(len(cs))]
            body = f"SELECT {sel} FROM {ref[0]} a WHERE a.{col(S[0])} IS NOT NULL"
        elif tpl == "join":
            parts = [f"{ref[0]} a"]
            for k in range(1, nsrc):
                al = "abc"[k]
                parts.append(f"LEFT JOIN {ref[k]} {al} ON {al}.{col(S[k])}::text = a.{col(S[0])}::text")
            sel = ", ".join(f"{'abc'[k]}.{col(S[k])} AS o{k}" for k in range(nsrc))
            outc = [f"o{k}" for k in range(nsrc)]
            body = f"SELECT {sel} FROM " + " ".join(parts)
        elif tpl == "union":
            body = " UNION ALL ".join(
                f"SELECT x.{col(S[k])}::text AS o0, {k} AS o1 FROM {ref[k]} x" for k in range(nsrc)
            )
            outc = ["o0", "o1"]
        elif tpl == "cte":
            body = f"WITH base AS (SELECT b.{col(S[0])} AS k, count(*) AS n FROM {ref[0]} b GROUP BY 1) "
            if nsrc >= 2:
                body += f"SELECT base.k::text AS o0, base.n AS o1, y.{col(S[1])} AS o2 FROM base JOIN {ref[1]} y ON y.{col(S[1])}::text = base.k::text"
                outc = ["o0", "o1", "o2"]
                for k in range(2, nsrc):
                    body += (
                        " WHERE" if k == 2 else " AND"
                    ) + f" EXISTS (SELECT 1 FROM {ref[k]} z{k} WHERE z{k}.{col(S[k])}::text = base.k::text)"
            else:
                body += "SELECT base.k::text AS o0, base.n AS o1 FROM base"
                outc = ["o0", "o1"]
        elif tpl == "exists":
            body = f"SELECT a.{col(S[0])} AS o0, a.{col(S[0])} AS o1 FROM {ref[0]} a WHERE "
            body += " AND ".join(
                f"EXISTS (SELECT 1 FROM {ref[k]} e{k} WHERE e{k}.{col(S[k])}::text = a.{col(S[0])}::text)"
                for k in range(1, nsrc)
            )
            outc = ["o0", "o1"]
        elif tpl == "agg":
            body = f"SELECT a.{col(S[0])}::text AS o0, count(*) AS o1, count(DISTINCT a.{col(S[0])}::text) AS o2 FROM {ref[0]} a"
            for k in range(1, nsrc):
                body += f" JOIN {ref[k]} j{k} ON j{k}.{col(S[k])}::text = a.{col(S[0])}::text"
            body += " GROUP BY 1"
            outc = ["o0", "o1", "o2"]
        elif tpl == "scalar":
            body = f"SELECT a.{col(S[0])} AS o0"
            for k in range(1, nsrc):
                body += f", (SELECT count(*) FROM {ref[k]} s{k}) AS o{k}"
            body += f" FROM {ref[0]} a"
            outc = [f"o{k}" for k in range(nsrc)]
        elif tpl == "lateral":
            body = f"SELECT a.{col(S[0])} AS o0, g.x AS o1 FROM {ref[0]} a CROSS JOIN LATERAL generate_series(1, 3) g(x)"
            for k in range(1, nsrc):
                body += f" LEFT JOIN {ref[k]} l{k} ON l{k}.{col(S[k])}::text = g.x::text"
            outc = ["o0", "o1"]
        if kind == "view":
            cur.execute(f"CREATE VIEW {qn(s, name)} AS {body}")
        else:
            cur.execute(
                f"CREATE MATERIALIZED VIEW {qn(s, name)} AS {body} WITH {'NO ' if nodata else ''}DATA"
            )
        flush()
        unpop = nodata or any(o["unpop"] for o in S)
        objs.append(
            dict(schema=s, name=name, kind=kind, cols=outc, pk=False, unpop=unpop, tpl=tpl, nodata=nodata)
        )
        derived.append(len(objs) - 1)
        for o in S:
            truth_edges.append([f"{s}.{name}", f"{o['schema']}.{o['name']}"])
    conn.commit()
    conn.autocommit = True  # database-wide ANALYZE in one transaction would exhaust the lock table at 50k
    cur.execute("ANALYZE")
    el = time.time() - t0
    conn.close()
    return dict(
        N=N,
        db=db,
        seed=seed,
        build_s=el,
        tables=n_tables,
        views=n_views,
        matviews=n_mv,
        objects=[[o["schema"], o["name"], o["kind"]] for o in objs],
        nodata=[f"{o['schema']}.{o['name']}" for o in objs if o.get("nodata")],
        edges=truth_edges,
    )
