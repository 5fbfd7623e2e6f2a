"""Benchmark of the code-usage scan on a synthetic repository.

    .venv/bin/python bench/codescan.py [--files 3000] [--repeat 3]

Builds a tree of N files in a temporary directory: FastAPI route modules calling
service modules (SQL as module constants, implicit concatenation, f-strings with a
templated table), cron scripts and `.sql` files. Every query text is distinct (no help
from the parse cache). Prints the median scan time, files/s and references found.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")

import django

django.setup()

from registry.codescan import scan_paths  # noqa: E402

ROUTES = '''from fastapi import APIRouter

from services import svc_{n}

router = APIRouter(prefix="/r{n}")


@router.get("/{{item_id}}")
def read_{n}(item_id: int):
    """select * from raw.not_in_docstrings"""
    return svc_{n}.fetch(item_id)


@router.post("/")
def write_{n}(payload: dict):
    return svc_{n}.store(payload)
'''

SERVICE = '''from services.db import run

FETCH = """
    select o.order_id, c.email
      from canon.orders_{n} o
      join canon.customers c on c.customer_id = o.customer_id
     where o.order_id = %s
"""


def fetch(item_id):
    return run(FETCH, (item_id,))


def store(payload):
    return run(
        "insert into raw.orders_{n}(order_id, payload) "
        "values (%s, %s) on conflict (order_id) do nothing",
        (payload["id"], payload),
    )


def report(table):
    return run(f"select count(*) from mart.{{table}} where bucket = {n}")
'''

SCRIPT = '''import psycopg


def main(conn):
    conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY mart.daily_{n}")
    conn.execute("""
        with recent as (select * from raw.events where day > now() - interval '{n} days')
        insert into canon.events_{n} select * from recent
    """)
'''

SQL = """set search_path to canon, public;
-- select * from raw.commented_{n}
insert into facts_{n} select * from raw.facts where batch = {n};
create or replace function mart.fn_{n}() returns bigint language sql as $$
    select count(*) from canon.facts_{n}
$$;
"""


def build(root: Path, files: int) -> None:
    (root / "services").mkdir()
    (root / "api").mkdir()
    (root / "scripts").mkdir()
    (root / "sql").mkdir()
    (root / "services" / "__init__.py").write_text("")
    (root / "services" / "db.py").write_text("def run(sql, params=()):\n    return sql, params\n")
    kinds = [("api/routes_{n}.py", ROUTES), ("services/svc_{n}.py", SERVICE),
             ("scripts/job_{n}.py", SCRIPT), ("sql/build_{n}.sql", SQL)]  # fmt: skip
    for n in range(files // len(kinds)):
        for name, template in kinds:
            (root / name.format(n=n)).write_text(template.format(n=n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.files)
        times, result = [], None
        for _ in range(args.repeat):
            from registry.codescan import _references

            _references.cache_clear()  # measure parsing, not the cache
            started = time.perf_counter()
            result = scan_paths([root])
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        endpoint = sum(r.context == "endpoint" for r in result.references)
        print(f"files scanned: {result.files_scanned}, errors: {len(result.errors)}")
        print(f"references: {len(result.references)} ({endpoint} endpoint)")
        print(
            f"median scan time: {median:.2f} s over {args.repeat} runs ({result.files_scanned / median:.0f} files/s)"
        )


if __name__ == "__main__":
    main()
