"""Benchmark of health evaluation and the health API under concurrency.

    .venv/bin/python bench/health.py [--objects 10000] [--edges 30000] [--runs 1000000]
                                     [--clients 20] [--seconds 20] [--server-dir DIR]

1. A database `bench_health` (embedded server, or OPSHEALTH_BENCH_DATABASE_URL's server)
   gets a registry of N objects (RAW/CANON tables, views, matviews) with E dependency
   edges (a DAG: upstream ids below downstream ids), asset links, 200 pipelines with
   R runs over 90 days (one run asset each), watermarks, 100k check results, 20k code
   usages — generated set-based in SQL (INSERT … SELECT generate_series). Generated
   once; later runs reuse it.
2. Evaluation time: `evaluate()` 3 times, median and max.
3. Latency: gunicorn (gthread) serving the project (or `--server-dir`, another worktree
   sharing the schema, e.g. one with `ops/source-registry`), 20 client threads with
   keep-alive connections hitting each endpoint for S seconds; p50/p99 per endpoint.
   Targets (issue 4): evaluation < 5 s; p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")
os.environ.setdefault("OPSHEALTH_DB_NAME", "bench_health")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-use")
os.environ.setdefault("LOG_LEVEL", "WARNING")
if os.environ.get("OPSHEALTH_BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["OPSHEALTH_BENCH_DATABASE_URL"]

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from checks.evaluate import evaluate  # noqa: E402
from ledger.models import ApiToken  # noqa: E402
from registry.models import RegistryObject  # noqa: E402

GENERATE = """
INSERT INTO registry_source (name, engine, dsn, include_schemas, exclude_schemas, code_paths, search_path,
    discovered_search_path, is_active, last_discovery_status, last_discovery_error, server_version,
    created_at, updated_at)
VALUES ('bench', 'postgresql', %(dsn)s, '{}', '{}', '{}', '{}', '{}', true, 'ok', '', '', now(), now());

-- objects: 20 %% raw tables, 20 %% canon tables, 50 %% views, 10 %% matviews
INSERT INTO registry_registryobject (source_id, schema_name, object_name, object_type, is_partition, layer, role,
    criticality, should_monitor, provenance, notes, description, needs_review, review_reason, db_comment, owner,
    usage_context, has_unique_index, columns_hash, exists_in_db, created_at, updated_at, is_populated,
    discovered_at, last_verified_at, last_seen_at, health_enabled, is_expected)
SELECT (SELECT id FROM registry_source WHERE name = 'bench'),
       CASE WHEN i <= n * 0.2 THEN 'raw' WHEN i <= n * 0.4 THEN 'canon' ELSE 'mart' END,
       'o' || i,
       CASE WHEN i <= n * 0.4 THEN 'table' WHEN i <= n * 0.9 THEN 'view' ELSE 'matview' END,
       false,
       CASE WHEN i <= n * 0.2 THEN 'RAW' WHEN i <= n * 0.4 THEN 'CANON' WHEN i <= n * 0.9 THEN 'DERIVED' ELSE 'MV' END,
       CASE WHEN i <= n * 0.4 THEN 'PRIMARY' ELSE 'SECONDARY' END,
       CASE WHEN i %% 10 = 0 THEN 'critical' WHEN i %% 10 < 3 THEN 'important' ELSE 'normal' END,
       i %% 10 < 3, '{}', '', '', false, '', '', 'bench', '', i %% 2 = 0, '', i %% 500 <> 0, now(), now(),
       CASE WHEN i > n * 0.9 THEN i %% 97 <> 0 END, now(), now(), now(),
       CASE WHEN i %% 50 = 0 THEN true END, CASE WHEN i %% 100 = 0 THEN true END
FROM generate_series(1, %(objects)s) i, (SELECT %(objects)s::int AS n) p;

-- edges: every view/matview reads from objects with lower ids (a DAG)
INSERT INTO registry_dependency (source_id, upstream_id, downstream_id, dependency_type, discovered_at)
SELECT DISTINCT ON (up, down) o.source_id, up, down, 'normal', now()
FROM (
    SELECT d.id AS down, d.source_id,
           (SELECT min(id) FROM registry_registryobject) +
           floor(random() * (d.id - (SELECT min(id) FROM registry_registryobject)))::bigint AS up
    FROM registry_registryobject d, generate_series(1, 12) k
    WHERE d.object_type IN ('view', 'matview')
) o
WHERE up < down
LIMIT %(edges)s
ON CONFLICT DO NOTHING;

INSERT INTO registry_assetlink (normalized_key, object_id, resolver_rule, resolved_at)
SELECT schema_name || '.' || object_name, id, 'exact', now() FROM registry_registryobject
WHERE object_type IN ('table', 'matview');

INSERT INTO ledger_pipeline (namespace, name, owner, description, schedule_cron, schedule_interval,
    schedule_timezone, grace, created_at)
SELECT '', 'bench_' || i, '', '', '', interval '1 hour' * (1 + i %% 24), 'UTC', interval '30 minutes',
       now() - interval '100 days'
FROM generate_series(1, 200) i;

INSERT INTO ledger_run (run_id, external_run_id, external_run_id_is_uuid, triggered_by, status, provider,
    storage_backend, args, git_sha, app_version, error_type, error_message, error_stack_hash, anomalies,
    created_at, updated_at, pipeline_id, started_at, ended_at, duration_ms, last_event_at)
SELECT gen_random_uuid(), 'r' || i, false, 'scheduler',
       CASE WHEN random() < 0.05 THEN 'failed' ELSE 'success' END, '', '', '{}', '', '', '', '', '', '[]',
       now(), now(), p.first + (i %% 200),
       now() - interval '90 days' * (1 - i::float / %(runs)s),
       now() - interval '90 days' * (1 - i::float / %(runs)s) + interval '3 minutes', 180000,
       now() - interval '90 days' * (1 - i::float / %(runs)s) + interval '3 minutes'
FROM generate_series(1, %(runs)s) i, (SELECT min(id) AS first FROM ledger_pipeline) p;

-- one run asset per run, on the raw/canon tables and the matviews (refreshes)
INSERT INTO ledger_runasset (run_id, asset_key, normalized_key, kind, direction, partition_key, status, extra,
    error_message, created_at, ended_at, rows_inserted)
SELECT r.id, l.normalized_key, l.normalized_key,
       CASE WHEN l.normalized_key LIKE 'mart.%%' THEN 'matview' ELSE 'table' END, 'output', '', r.status, '{}',
       '', r.ended_at, r.ended_at, 100
FROM ledger_run r
-- the modulus is an uncorrelated subquery so the join stays a hash join
JOIN (SELECT normalized_key, row_number() OVER (ORDER BY id) - 1 AS k FROM registry_assetlink) l
  ON l.k = r.id %% (SELECT count(*) FROM registry_assetlink);

INSERT INTO ledger_watermark (asset_key, normalized_key, scope_key, watermark_ts, updated_at)
SELECT normalized_key, normalized_key, '', now() - random() * interval '3 days', now()
FROM registry_assetlink WHERE normalized_key NOT LIKE 'mart.%%';

INSERT INTO ledger_checkresult (asset_key, normalized_key, partition_key, check_name, severity, status,
    metrics, message, checked_at)
SELECT l.normalized_key, l.normalized_key, '', 'not_null(c' || (i %% 5) || ')', 'error',
       CASE WHEN random() < 0.03 THEN 'fail' ELSE 'pass' END, '{}', '', now() - random() * interval '30 days'
FROM generate_series(1, 100000) i
JOIN (SELECT normalized_key, row_number() OVER (ORDER BY id) - 1 AS k FROM registry_assetlink) l
  ON l.k = i %% 4000;

INSERT INTO registry_codeusage (source_id, object_id, raw_name, schema_name, object_name, resolvable,
    resolver_rule, code_path, file, line, kind, context, route, function, discovered_at)
SELECT o.source_id, CASE WHEN i %% 20 = 0 THEN NULL ELSE o.id END, o.object_name, o.schema_name,
       CASE WHEN i %% 20 = 0 THEN 'missing_' || i ELSE o.object_name END, true, '', 'app',
       'mod' || (i %% 300) || '.py', i %% 400, 'read', CASE WHEN i %% 3 = 0 THEN 'endpoint' ELSE 'script' END,
       '', '', now()
FROM generate_series(1, 20000) i
JOIN registry_registryobject o ON o.id = (SELECT min(id) FROM registry_registryobject) + i %% %(objects)s;
ANALYZE;
"""


def generate(objects: int, edges: int, runs: int) -> None:
    if RegistryObject.objects.filter(source__name="bench").exists():
        print("bench data present: reusing it (drop database bench_health to regenerate)")
        return
    db = connection.settings_dict
    dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname={db['NAME']}"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(GENERATE, {"dsn": dsn, "objects": objects, "edges": edges, "runs": runs})
    print(f"generated in {time.perf_counter() - started:.1f} s")


def counts() -> str:
    with connection.cursor() as cursor:
        parts = []
        for table in (
            "registry_registryobject",
            "registry_dependency",
            "ledger_run",
            "ledger_runasset",
            "ledger_watermark",
            "ledger_checkresult",
            "registry_codeusage",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            parts.append(f"{table.split('_', 1)[1]}={cursor.fetchone()[0]}")
        return ", ".join(parts)


def bench_evaluation(times: int = 3) -> None:
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        e = evaluate(trigger="cli")
        durations.append(time.perf_counter() - started)
    print(
        f"evaluate(): median {statistics.median(durations):.2f} s, max {max(durations):.2f} s "
        f"({e.violation_count} violations, global {e.global_status}, score {e.health_score})"
    )
    per_check = sorted(e.results.values_list("duration_ms", "check_key"), reverse=True)[:5]
    print("  slowest checks (ms): " + ", ".join(f"{k} {ms}" for ms, k in per_check))


def _client(port: int, path: str, token: str, stop: float, out: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - t0)
        if response.status != 200:
            errors.append(response.status)


def bench_latency(path: str, port: int, token: str, clients: int, seconds: float) -> None:
    latencies: list[float] = []
    errors: list[int] = []
    stop = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=_client, args=(port, path, token, stop, latencies, errors))
        for _ in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors and len(errors) == len(latencies):
        print(f"{path}: every request failed (HTTP {errors[0]}): not served by this server")
        return
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{path}: {len(latencies)} requests in {seconds:.0f} s ({len(latencies) / seconds:.0f}/s), "
        f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, non-200: {len(errors)}"
    )


def serve(server_dir: Path, port: int, workers: int, threads: int) -> subprocess.Popen:
    db = connection.settings_dict
    # The server (maybe another worktree's code) must use this very database, not start
    # an embedded server of its own; and must not write bytecode into that directory.
    url = f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}&port={db['PORT']}"
    env = dict(
        os.environ, DEBUG="false", ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=url, PYTHONDONTWRITEBYTECODE="1"
    )
    python = server_dir / ".venv" / "bin" / "gunicorn"
    cmd = [
        str(python if python.exists() else ROOT / ".venv" / "bin" / "gunicorn"),
        "opshealth.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-k",
        "gthread",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=server_dir, env=env)
    for _ in range(150):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/api/v1/")
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--server-dir", type=Path, default=ROOT)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--path",
        action="append",
        help="endpoints to load (default: ops/health-global, ops/source-registry?limit=50)",
    )
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    generate(args.objects, args.edges, args.runs)
    print(counts())
    bench_evaluation()
    if args.skip_http:
        return
    ApiToken.objects.filter(name="bench").delete()
    _, token = ApiToken.issue("bench", ApiToken.SCOPE_READ)
    proc = serve(args.server_dir, args.port, args.workers, args.threads)
    try:
        for path in args.path or ["/api/v1/ops/health-global", "/api/v1/ops/source-registry?limit=50"]:
            bench_latency(path, args.port, token, 5, 2)  # warm-up
            bench_latency(path, args.port, token, args.clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
