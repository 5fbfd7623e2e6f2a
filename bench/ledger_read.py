"""Benchmark of the ledger's read side on a large ledger.

    .venv/bin/python bench/ledger_read.py [--pipelines 200] [--runs-per-pipeline 1000] [--repeat 5]

Fills the ledger of the configured database (the embedded one by default) with
synthetic runs inside a transaction that is rolled back at the end, then times each
read endpoint, analytics query, reporting view, the runs admin changelist and a
prune; prints the median of `--repeat` timings and the query count of each.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from ledger import analytics  # noqa: E402
from ledger.models import CheckResult, Client, Pipeline, Run  # noqa: E402


class Rollback(Exception):
    pass


def populate(pipelines: int, runs_per_pipeline: int) -> None:
    now = timezone.now()
    rng = random.Random(42)
    clients = Client.objects.bulk_create([Client(name=f"bench-client-{i}") for i in range(20)])
    pipes = Pipeline.objects.bulk_create(
        [
            Pipeline(
                namespace="bench",
                name=f"pipeline_{i}",
                client=clients[i % 20],
                schedule_cron="0 * * * *",
                grace=timedelta(minutes=10),
                max_duration=timedelta(hours=2),
            )
            for i in range(pipelines)
        ]
    )
    step = timedelta(days=60) / runs_per_pipeline
    batch: list[Run] = []
    for p_index, pipeline in enumerate(pipes):
        # A few pipelines flap, a few are down, the rest fail rarely.
        failure_odds = 0.5 if p_index % 10 == 0 else 0.02
        for i in range(runs_per_pipeline):
            started = now - timedelta(days=60) + i * step
            failed = rng.random() < failure_odds or (p_index % 25 == 1 and i > runs_per_pipeline - 5)
            batch.append(
                Run(
                    run_id=uuid.uuid4(),
                    pipeline=pipeline,
                    external_run_id=f"{p_index}-{i}",
                    triggered_by="cron",
                    status=Run.FAILED if failed else Run.SUCCESS,
                    started_at=started,
                    ended_at=started + timedelta(minutes=3),
                    duration_ms=180_000,
                    nominal_time=started.replace(second=0, microsecond=0),
                    error_type="ValueError" if failed else "",
                )
            )
            if len(batch) >= 10_000:
                Run.objects.bulk_create(batch)
                batch = []
    Run.objects.bulk_create(batch)
    CheckResult.objects.bulk_create(
        [
            CheckResult(
                asset_key=f"raw.t{i % 500}",
                normalized_key=f"raw.t{i % 500}",
                check_name="not_null",
                status="fail" if i % 7 == 0 else "pass",
                checked_at=now - timedelta(minutes=i),
            )
            for i in range(50_000)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_run; ANALYZE ledger_checkresult; ANALYZE ledger_pipeline")


def timed(label: str, fn, repeat: int) -> None:
    timings, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            fn()
            timings.append(time.perf_counter() - start)
        queries = len(captured)
    print(f"{label:<48} {statistics.median(timings) * 1000:9.1f} ms  {queries:3d} queries")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pipelines", type=int, default=200)
    parser.add_argument("--runs-per-pipeline", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    try:
        with transaction.atomic():
            start = time.perf_counter()
            populate(args.pipelines, args.runs_per_pipeline)
            total = args.pipelines * args.runs_per_pipeline
            print(f"populated {total:,} runs, 50,000 check results in {time.perf_counter() - start:.1f} s\n")
            run_benchmarks(args.repeat)
            raise Rollback
    except Rollback:
        print("\n(rolled back)")


def run_benchmarks(repeat: int) -> None:
    now = timezone.now()
    since = now - timedelta(days=30)
    user = get_user_model().objects.create_superuser("bench-admin", "b@example.com", "pw")
    client = DjangoClient()
    client.force_login(user)

    def get(path: str):
        def call():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return call

    timed("analytics.flaky_ranking (30 d)", lambda: analytics.flaky_ranking(since), repeat)
    timed("analytics.mean_time_to_recovery (30 d)", lambda: analytics.mean_time_to_recovery(since), repeat)
    timed(
        "analytics.failure_rates by pipeline (30 d)",
        lambda: analytics.failure_rates(since, "pipeline"),
        repeat,
    )
    timed("analytics.runs_per_day (30 d)", lambda: analytics.runs_per_day(since, now), repeat)
    timed("analytics.schedule_states (all pipelines)", lambda: analytics.schedule_states(now), repeat)
    for path in (
        "/api/v1/ledger/pipelines?limit=50",
        "/api/v1/ledger/runs?limit=50",
        "/api/v1/ledger/runs?limit=50&status=failed",
        "/api/v1/ledger/check-results?limit=50&status=fail",
        "/api/v1/ledger/failures?days=7",
        "/api/v1/ledger/flaky?days=30",
        "/api/v1/ledger/mttr?days=30",
        "/api/v1/ledger/failure-rate?days=30&by=client",
    ):
        timed(f"GET {path.removeprefix('/api/v1/ledger/')}", get(path), repeat)
    deep = client.get("/api/v1/ledger/runs?limit=50")
    for _ in range(20):  # walk 20 pages to a deep cursor
        deep = client.get(deep.json()["next"])
    timed("GET runs, page 21 by cursor", get(deep.json()["next"]), repeat)
    timed("admin runs changelist", get("/admin/ledger/run/"), repeat)
    timed("admin runs changelist, status=failed", get("/admin/ledger/run/?status__exact=failed"), repeat)
    for view in (
        "v1_latest_run_per_pipeline",
        "v2_latest_outcome_per_pipeline",
        "v1_failure_rate",
        "v1_flaky_ranking",
        "v1_mttr",
    ):

        def select(view=view):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT * FROM ops_reporting.{view}")
                cursor.fetchall()

        timed(f"SELECT * FROM ops_reporting.{view}", select, repeat)
    timed(
        "prune_ledger --older-than 45d (once)",
        lambda: call_command("prune_ledger", "--older-than", "45d", stdout=io.StringIO()),
        1,
    )


if __name__ == "__main__":
    main()
