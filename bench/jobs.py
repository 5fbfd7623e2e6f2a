"""The scheduler's cost (issue 10): the share of one core OpsHealth's scheduled ticks use at
the default cadence, with 10,000 registry objects and 200 data checks. Target: < 10 %.

Builds a 10,000-object warehouse (bench/discovery.py's: 6,000 tables, 3,000 views, 1,000
materialized views) and an OpsHealth database of its own (`OPSHEALTH_DB_NAME`, default
opshealth_bench_jobs, on the embedded server), then measures the CPU of each tick — this
process plus every PostgreSQL process of the server, the finished ones included (the
postmaster's children times) — and weighs it by its runs per hour:

  discover          15 3 * * *    1/24 per hour
  evaluate_health   */5 * * * *   12 per hour
  refresh_matviews  0 * * * *     1 per hour: the views due (1,000 views on a 24 h
                                  schedule: 1,000/24 an hour at steady state)
  data_checks       * * * * *     60 per hour: 200 data checks (5 on each of 40 tables of
                                  10,000 rows: not_null twice, unique, no_negative,
                                  row_count), hourly (their default schedule), so one
                                  tick an hour runs all 200 and 59 find nothing due
  dispatch_alerts   * * * * *     60 per hour, with the alert rules the database has
  prune             30 4 * * *    1/24 per hour
  idle qcluster     always        a real `manage.py qcluster` (ORM broker) for 60 s

The server's CPU is only measurable on the embedded server (no DATABASE_URL); with
DATABASE_URL the figures are this process's alone, and say so.

    .venv/bin/python bench/jobs.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")
os.environ.setdefault("OPSHEALTH_DB_NAME", "opshealth_bench_jobs")

import django

django.setup()

import psutil  # noqa: E402
import psycopg  # noqa: E402
from discovery import build, drop  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_q.models import Schedule  # noqa: E402

from checks.datachecks.models import DataCheck, default_name  # noqa: E402
from opshealth import schedules  # noqa: E402
from registry.models import RegistryObject, Source  # noqa: E402

TABLES_CHECKED, ROWS = 40, 10_000


def server_cpu() -> float:
    """CPU seconds of the embedded PostgreSQL so far: postmaster, live and finished children."""
    if settings.EMBEDDED_POSTGRES is None:
        return 0.0
    pid = int((Path(settings.OPSHEALTH_DATA_DIR) / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    own = postmaster.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in postmaster.children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def cpu_of(fn: Callable[[], object]) -> float:
    """CPU seconds (this process + the database server) that one call costs."""
    started, server = time.process_time(), server_cpu()
    fn()
    return (time.process_time() - started) + (server_cpu() - server)


def median_cpu(fn: Callable[[], object], repeat: int = 3) -> float:
    return statistics.median(cpu_of(fn) for _ in range(repeat))


def create_data_checks(dsn: str, source: Source) -> None:
    """200 data checks: 5 on each of 40 tables, filled with 10,000 rows."""
    names = [(f"s{i % 10}", f"t{i}") for i in range(TABLES_CHECKED)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema, table in names:
            conn.execute(
                f"INSERT INTO {schema}.{table} (id, name, amount, created_at) SELECT g, 'n' || g, g % 97, now() "
                f"FROM generate_series(1, {ROWS}) g ON CONFLICT DO NOTHING"
            )
        conn.execute("ANALYZE")
    specs = [
        ("not_null", {"column": "name"}),
        ("not_null", {"column": "created_at"}),
        ("unique", {"columns": ["id"]}),
        ("no_negative", {"column": "amount"}),
        ("row_count", {"min": 1}),
    ]
    for schema, table in names:
        obj = RegistryObject.objects.get(source=source, schema_name=schema, object_name=table)
        for kind, params in specs:
            DataCheck(object=obj, name=default_name(kind, params), kind=kind, params=params).save()


def idle_cluster_cpu(seconds: float = 60) -> float:
    """CPU seconds per second of a real qcluster with nothing to do (the ticks are counted
    apart): its guard loop, scheduler and the ORM broker's polling."""
    Schedule.objects.all().delete()
    cluster = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(10)  # start-up is not steady state
    tree = [psutil.Process(cluster.pid), *psutil.Process(cluster.pid).children(recursive=True)]

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in tree if p.is_running())

    before, server = cpu(), server_cpu()
    time.sleep(seconds)
    spent = cpu() - before + server_cpu() - server
    cluster.terminate()
    cluster.wait(15)
    return spent / seconds


def main() -> None:
    call_command("migrate", verbosity=0)
    # From an empty database each time: an earlier run's refreshes would leave nothing due.
    call_command("flush", interactive=False, verbosity=0)
    print("building the 10,000-object warehouse…", flush=True)
    dsn = build(10_000)
    try:
        Source._default_manager.filter(name="bench-jobs").delete()
        source = Source._default_manager.create(name="bench-jobs", dsn=dsn)
        schedules.apply()
        discover = cpu_of(lambda: schedules.run("opshealth.discover"))
        evaluate = median_cpu(lambda: schedules.run("opshealth.evaluate_health"))
        first_refresh = cpu_of(lambda: schedules.run("opshealth.refresh_matviews"))  # all 1,000 are due
        idle_refresh = median_cpu(lambda: schedules.run("opshealth.refresh_matviews"))  # none due
        per_view = max(first_refresh - idle_refresh, 0) / 1000
        refresh_hourly = idle_refresh + per_view * 1000 / 24
        prune = median_cpu(lambda: schedules.run("opshealth.prune"))
        create_data_checks(dsn, source)
        checks_all = cpu_of(lambda: schedules.run("opshealth.data_checks"))  # all 200 are due
        checks_none = median_cpu(lambda: schedules.run("opshealth.data_checks"))
        dispatch = median_cpu(lambda: schedules.run("opshealth.dispatch_alerts"))
        idle = idle_cluster_cpu()
    finally:
        connection.close()
        drop(dsn)
    per_hour = {
        "discover (1/24 per hour)": discover / 24,
        "evaluate_health (12 per hour)": evaluate * 12,
        "refresh_matviews (hourly, 1000/24 views due)": refresh_hourly,
        "prune (1/24 per hour)": prune / 24,
        "data_checks (1 tick of 200, 59 of none)": checks_all + 59 * checks_none,
        "dispatch_alerts (60 per hour)": dispatch * 60,
        "idle qcluster (3600 s)": idle * 3600,
    }
    print(
        f"\nCPU per tick: discover {discover:.2f} s, evaluate {evaluate:.3f} s, refresh first {first_refresh:.2f} s "
        f"({per_view * 1000:.1f} ms per view), refresh nothing due {idle_refresh:.3f} s, prune {prune:.3f} s, "
        f"data checks 200 due {checks_all:.2f} s, none due {checks_none:.3f} s, dispatch_alerts {dispatch:.3f} s; "
        f"idle cluster {idle * 100:.2f} % of a core"
    )
    if settings.EMBEDDED_POSTGRES is None:
        print("(DATABASE_URL is set: the database server's CPU is not counted)")
    print("\nCPU seconds per hour at the default cadence:")
    for label, seconds in per_hour.items():
        print(f"  {label:48} {seconds:8.2f} s   {seconds / 36:6.2f} % of a core")
    share = sum(per_hour.values()) / 3600
    print(
        f"  {'total':48} {sum(per_hour.values()):8.2f} s   {share * 100:6.2f} % of one core   target < 10 %"
    )


if __name__ == "__main__":
    main()
