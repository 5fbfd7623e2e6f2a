"""Discovery benchmark on the reference warehouse (issue 14 part 4).

Builds the reference warehouse of N objects (bench/reference_warehouse.py, a copy of
../shared/bench/gen_warehouse.py) in database wh_N on OpsHealth's PostgreSQL server,
and times:

  (a)  the raw catalog read: discovery's own set-based queries (registry.catalog);
  (b1) `discover`, first (empty registry); (b2) `discover`, repeat (nothing changed);
  (c)  the reference Inspector approach (bench/reference_inspector.py, a copy of
       ../shared/bench/disc_inspector.py): SQLAlchemy's Inspector per object, sqlglot
       per view definition;

then prints medians and the ratios against the targets: (c)/(b1) >= 4, (b2)/(a) <= 2.
(a) and (b2) alternate, so a load change on the shared machine affects both alike. At
every size it also prints the peak memory (RSS) of a first discover, run alone in a
child process.

    .venv/bin/python bench/discovery.py                  # N = 10,000 and 50,000
    .venv/bin/python bench/discovery.py --sizes 1000 --repeat 3 --inspector-sizes 1000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")

import django

django.setup()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

from bench import reference_inspector, reference_warehouse  # noqa: E402
from registry import catalog  # noqa: E402
from registry.discovery import discover  # noqa: E402
from registry.models import Source  # noqa: E402


def dsn_for(dbname: str) -> str:
    s = connection.settings_dict
    params = {"host": s["HOST"], "port": s["PORT"], "user": s["USER"], "password": s["PASSWORD"]}
    return make_conninfo(dbname=dbname, **{k: v for k, v in params.items() if v})


def object_count(dsn: str) -> int | None:
    try:
        with psycopg.connect(dsn) as conn:
            return len(catalog.read_catalog(conn).objects)
    except psycopg.OperationalError:
        return None


def warehouse(n: int, rebuild: bool) -> str:
    """The reference warehouse of N objects: built, or reused when it is there whole."""
    dsn = dsn_for(f"wh_{n}")
    if not rebuild and object_count(dsn) == n:
        print(f"   reusing database wh_{n}", flush=True)
        return dsn
    print(f"   building the reference warehouse wh_{n}…", flush=True)
    truth = reference_warehouse.build(n, dsn_for(connection.settings_dict["NAME"]), dsn_for)
    print(f"   built in {truth['build_s']:.1f} s ({len(truth['edges']):,} intended edges)", flush=True)
    return dsn


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


def inspector(dsn: str) -> None:
    info = conninfo_to_dict(dsn)
    url = f"postgresql+psycopg://{info.get('user', '')}@/{info['dbname']}?host={info['host']}&port={info['port']}"
    _, _, failures = reference_inspector.run(url)
    if failures:
        print(f"   (c) {len(failures)} view definitions sqlglot could not parse", flush=True)


def remove_source(name: str) -> None:
    for source in Source._default_manager.filter(name=name):
        source.delete()


def fresh_source(name: str, dsn: str) -> None:
    remove_source(name)
    Source._default_manager.create(name=name, dsn=dsn)


def peak_memory(name: str, dsn: str) -> dict:
    """A first discover alone in a child process: its peak RSS, and the RSS it started with."""
    fresh_source(name, dsn)
    out = subprocess.run(
        [sys.executable, __file__, "--child-discover", name], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def high_water_mib() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork and exec, so the child would report the benchmark's own peak."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def child_discover(name: str) -> None:
    before = high_water_mib()
    discover(Source._default_manager.get(name=name), code_scan=False)
    print(json.dumps({"before_mib": before, "peak_mib": high_water_mib()}))


def bench(n: int, repeat: int, with_inspector: bool, rebuild: bool) -> None:
    print(f"\n== N = {n:,}", flush=True)
    dsn = warehouse(n, rebuild)
    snap = raw_catalog(dsn)
    print(
        f"   {len(snap.objects):,} objects, {sum(map(len, snap.columns.values())):,} columns, "
        f"{len(snap.dependencies):,} edges",
        flush=True,
    )
    name = f"bench-{n}"

    def run_discover() -> None:
        discover(Source._default_manager.get(name=name), code_scan=False)

    try:
        b_first = timed(run_discover, max(1, repeat // 2 + 1), before=lambda: fresh_source(name, dsn))
        a, b_repeat = [], []
        for _ in range(repeat):
            a += timed(lambda: raw_catalog(dsn), 1)
            b_repeat += timed(run_discover, 1)
        c = timed(lambda: inspector(dsn), 1) if with_inspector else []
        memory = peak_memory(name, dsn)
    finally:
        remove_source(name)
    med = {k: statistics.median(v) for k, v in {"a": a, "b1": b_first, "b2": b_repeat, "c": c}.items() if v}
    print(f"   (a)  raw catalog read           {med['a']:8.3f} s  (median of {len(a)}: {_list(a)})")
    print(
        f"   (b1) discover, first            {med['b1']:8.3f} s  (median of {len(b_first)}: {_list(b_first)})"
    )
    print(
        f"   (b2) discover, repeat           {med['b2']:8.3f} s  (median of {len(b_repeat)}: {_list(b_repeat)})"
    )
    if c:
        print(f"   (c)  reference Inspector        {med['c']:8.3f} s")
    print(f"   (b1)/(a) = {med['b1'] / med['a']:5.1f}x")
    print(f"   (b2)/(a) = {med['b2'] / med['a']:5.1f}x   target <= 2x")
    if c:
        print(f"   (c)/(b1) = {med['c'] / med['b1']:5.1f}x   target >= 4x")
    print(
        f"   peak memory of a first discover: {memory['peak_mib']:.0f} MiB RSS "
        f"({memory['peak_mib'] - memory['before_mib']:.0f} MiB above the {memory['before_mib']:.0f} MiB it started with)"
    )


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--inspector-sizes", type=int, nargs="*", default=[10000], help="sizes that run (c)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of (a) and (b2); (b1) gets half")
    parser.add_argument("--rebuild", action="store_true", help="rebuild wh_N even when it is there")
    parser.add_argument("--child-discover", metavar="SOURCE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_discover:
        child_discover(args.child_discover)
        return
    call_command("migrate", verbosity=0)
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, Python {sys.version.split()[0]}")
    for n in args.sizes:
        bench(n, args.repeat, n in args.inspector_sizes, args.rebuild)


if __name__ == "__main__":
    main()
