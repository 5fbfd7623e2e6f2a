"""Ingestion throughput: runs/bulk, single POSTs and /api/v1/lineage, beside the raw
PostgreSQL ceiling (a batched INSERT … ON CONFLICT of the same rows).

    .venv/bin/python bench/ingest.py [--runs 3000] [--repeat 3] [--workers N] [--clients 8]
                                     [--load auto|wrk|python] [--seconds 10] [--single-runs 400]

Uses the embedded PostgreSQL with a database of its own (`opshealth_bench`, or
OPSHEALTH_DB_NAME) and a real HTTP server (gunicorn configured by deploy/gunicorn.conf.py, DEBUG off). Every phase writes
fresh runs (START then COMPLETE/success events), so nothing is a duplicate no-op.

The one-event-per-request phases are driven by `wrk` when it is installed
(`apt-get install wrk`; bench/wrk_events.lua makes the events) for --seconds each,
else by --clients Python threads posting --single-runs runs. wrk is C and takes little
of the two cores the server needs; the threads took a fifth of them. For those phases
the server's CPU time per event is printed too, gunicorn's processes and PostgreSQL's
backends apart: it moves less with the machine's other load than the rate does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")
os.environ.setdefault("OPSHEALTH_DB_NAME", "opshealth_bench")
os.environ["DEBUG"] = "False"
# Persistent database connections in the server, as a deployment would configure.
os.environ.setdefault("DB_CONN_MAX_AGE", "60")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from serving import cpu_seconds, run_wrk, server_pids, start_server  # noqa: E402  (bench/serving.py)

from ledger.models import ApiToken  # noqa: E402

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rest_events(prefix: str, runs: int) -> list[dict]:
    events = []
    for i in range(runs):
        common = {"pipeline": f"bench_{i % 50}", "external_run_id": f"{prefix}-{i}"}
        start = T0 + timedelta(seconds=i)
        events.append({**common, "status": "started", "event_time": start.isoformat()})
        events.append(
            {
                **common,
                "status": "success",
                "event_time": (start + timedelta(seconds=30)).isoformat(),
                "assets": [{"asset_key": f"raw.t{i % 100}", "rows_inserted": i}],
            }
        )
    return events


def ol_events(runs: int) -> list[dict]:
    events = []
    for i in range(runs):
        run_id, start = str(uuid.uuid4()), T0 + timedelta(seconds=i)
        base = {
            "run": {"runId": run_id},
            "job": {"namespace": "bench", "name": f"job_{i % 50}"},
            "producer": "https://example.com/bench",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        }
        out = [
            {
                "namespace": "postgres://wh:5432",
                "name": f"db.raw.t{i % 100}",
                "outputFacets": {"outputStatistics": {"rowCount": i, "size": i * 100}},
            }
        ]
        events.append({**base, "eventType": "START", "eventTime": start.isoformat(), "outputs": out[:1]})
        events.append(
            {
                **base,
                "eventType": "COMPLETE",
                "eventTime": (start + timedelta(seconds=30)).isoformat(),
                "outputs": out,
            }
        )
    return events


def ceiling(runs: int) -> float:
    """The same rows (2 upserts per run) straight into ledger_run: executemany in one
    transaction (psycopg 3 pipeline mode), no HTTP, no Django."""
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM ledger_pipeline ORDER BY id LIMIT 1")
        row = cur.fetchone()
    pipeline_id = row[0]
    s = connection.settings_dict
    dsn = f"host={s['HOST']} port={s['PORT']} user={s['USER']} dbname={s['NAME']}"
    prefix = uuid.uuid4().hex[:8]
    rows = []
    for i in range(runs):
        start = T0 + timedelta(seconds=i)
        rows.append((pipeline_id, f"{prefix}-{i}", "started", start, None))
        rows.append((pipeline_id, f"{prefix}-{i}", "success", start, start + timedelta(seconds=30)))
    sql = """
        INSERT INTO ledger_run (run_id, pipeline_id, external_run_id, external_run_id_is_uuid, triggered_by,
            status, started_at, ended_at, provider, storage_backend, args, git_sha, app_version, error_type,
            error_message, error_stack_hash, anomalies, created_at, updated_at)
        VALUES (gen_random_uuid(), %s, %s, false, 'api', %s, %s, %s, '', '', '{}', '', '', '', '', '', '[]',
                now(), now())
        ON CONFLICT (pipeline_id, external_run_id) DO UPDATE SET status = EXCLUDED.status,
            ended_at = EXCLUDED.ended_at, updated_at = now()
    """
    with psycopg.connect(dsn) as conn:
        t = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, rows)
        return len(rows) / (time.perf_counter() - t)


def post_all(base: str, token: str, path: str, bodies: list, clients: int) -> float:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sessions = {}

    def one(body) -> int:
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        response = session.post(base + path, data=json.dumps(body), headers=headers, timeout=120)
        if response.status_code >= 300:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        return len(body) if isinstance(body, list) else 1

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        count = sum(pool.map(one, bodies))
    return count / (time.perf_counter() - t)


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3000, help="runs per phase (2 events each)")
    parser.add_argument(
        "--single-runs", type=int, default=400, help="runs per one-event phase with --load python"
    )
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto", help="one-event load")
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk phase")
    args = parser.parse_args()
    if args.load == "auto":
        args.load = "wrk" if shutil.which("wrk") else "python"

    call_command("migrate", verbosity=0)
    _, token = ApiToken.issue(f"bench-{uuid.uuid4().hex[:8]}", ApiToken.SCOPE_INGEST)
    proc, base = start_server(args.workers)
    args.gunicorn_pid = proc.pid
    rounds: dict[str, list[float]] = {}
    try:
        # Warm up (workers import, first pipelines exist).
        post_all(base, token, "/api/v1/ledger/runs/bulk", chunks(rest_events("warm", 500), 1000), 1)
        # The methods alternate within each round, so a burst of load on this shared
        # machine hits them all alike; the medians over rounds are reported.
        for _ in range(args.repeat):
            for name, rate in one_round(base, token, args).items():
                rounds.setdefault(name, []).append(rate)
    finally:
        proc.terminate()
        proc.wait()
    results = {name: statistics.median(rates) for name, rates in rounds.items()}
    ceiling_rate = results[CEILING]
    # The batched paths use one client, like the ceiling's one connection; the
    # one-event paths use --clients concurrent clients.
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of {args.repeat} rounds; "
        f"one-event load: {args.load} ({args.clients} connections)"
    )
    print(
        f"{'path':48} {'events/s':>10} {'of ceiling':>10}  {'min-max':>13}  "
        "server CPU/event (gunicorn + PostgreSQL)"
    )
    for name, rate in results.items():
        spread = f"{min(rounds[name]):.0f}-{max(rounds[name]):.0f}"
        cpu = ""
        if name in CPU:
            web, db = (statistics.median(part) for part in zip(*CPU[name], strict=True))
            cpu = f"{web + db:.2f} ms ({web:.2f} + {db:.2f})"
        print(f"{name:48} {rate:10.0f} {rate / ceiling_rate:10.1%}  {spread:>13}  {cpu}")


CEILING = "raw PostgreSQL ceiling (executemany, 1 tx)"
CPU: dict[str, list[list[float]]] = {}  # phase -> [gunicorn, PostgreSQL] CPU ms per event, per round


def post_singles(base: str, token: str, path: str, kind: str, args) -> float:
    """One event per request, from wrk or Python threads; events/s."""
    if args.load == "python":
        bodies = (
            rest_events(uuid.uuid4().hex[:8], args.single_runs)
            if kind == "rest"
            else ol_events(args.single_runs)
        )
        return post_all(base, token, path, bodies, args.clients)
    web, db = server_pids(args.gunicorn_pid, connection.settings_dict["NAME"])
    before = cpu_seconds(web), cpu_seconds(db)
    cmd = ["wrk", "-t", "2", "-c", str(args.clients), "-d", f"{args.seconds:g}s", "--timeout", "30s"]
    cmd += ["-H", f"Authorization: Bearer {token}", "-s", str(ROOT / "bench" / "wrk_events.lua")]
    f = run_wrk([*cmd, base + path, "--", uuid.uuid4().hex[:8], kind])
    if f["non2xx"] or f["socket_errors"]:
        raise RuntimeError(f"{path}: {f['non2xx']} non-2xx answers, {f['socket_errors']} socket errors")
    name = f"POST {path.removeprefix('/api/v1')} (one event/request)"
    spent = [
        (cpu_seconds(pids) - b) * 1000 / f["requests"] for pids, b in zip((web, db), before, strict=True)
    ]
    CPU.setdefault(name, []).append(spent)
    return f["requests"] / (f["duration_us"] / 1e6)


def one_round(base: str, token: str, args) -> dict[str, float]:
    results = {CEILING: ceiling(args.runs)}
    bulk = chunks(rest_events(uuid.uuid4().hex[:8], args.runs), 1000)
    results["POST /ledger/runs/bulk (1,000/request)"] = post_all(
        base, token, "/api/v1/ledger/runs/bulk", bulk, 1
    )
    results["POST /ledger/runs (one event/request)"] = post_singles(
        base, token, "/api/v1/ledger/runs", "rest", args
    )
    results["POST /lineage (one event/request)"] = post_singles(
        base, token, "/api/v1/lineage", "lineage", args
    )
    batch = chunks(ol_events(args.runs), 1000)
    results["POST /lineage/batch (1,000/request)"] = post_all(base, token, "/api/v1/lineage/batch", batch, 1)
    return results


if __name__ == "__main__":
    main()
