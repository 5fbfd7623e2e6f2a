"""Benchmark of the alerting cycle and of webhook delivery.

    .venv/bin/python bench/alerts.py [--objects 10000] [--rules 1000] [--firing 5000]

1. A database `bench_alerts` (embedded server, or OPSHEALTH_BENCH_DATABASE_URL's server)
   gets a registry of N objects with dependency edges (a DAG), pipelines with runs (the
   latest of half the firing count failed), and a health evaluation in which the other
   half of the firing subjects are offending objects; R rules: an unscoped `run_failed`
   and an unscoped `check_status` with a webhook channel (together the firing subjects),
   the rest scoped to single pipelines of every pipeline kind (evaluated, mostly quiet).
   Generated set-based; the alerting tables are emptied before each run.
2. Judging (evaluate + incidents + suppression + enqueue) of the first cycle, which
   opens every incident and enqueues a message each, and of a steady cycle (every
   subject still firing). Target (issue 11): under 2 s.
3. Delivery of the enqueued messages to a local webhook receiver (http.server in
   another process, so it does not share our interpreter's lock). Target: at least 200
   notifications/s.
Prints each figure with its ratio to the target.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")
os.environ.setdefault("OPSHEALTH_DB_NAME", "bench_alerts")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-use")
os.environ.setdefault("LOG_LEVEL", "WARNING")
if os.environ.get("OPSHEALTH_BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["OPSHEALTH_BENCH_DATABASE_URL"]

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from checks.alerts.cycle import CycleReport, Judge  # noqa: E402
from checks.alerts.models import AlertRule, Channel, Incident, SubjectState  # noqa: E402
from checks.alerts.outbox import deliver_due  # noqa: E402
from checks.models import CheckRun, Evaluation  # noqa: E402
from registry.models import RegistryObject, Source  # noqa: E402

TARGET_CYCLE_S = 2.0
TARGET_DELIVERY_PER_S = 200

GENERATE = """
INSERT INTO registry_registryobject (source_id, schema_name, object_name, object_type, is_partition, layer, role,
    criticality, should_monitor, provenance, notes, description, needs_review, review_reason, db_comment, owner,
    usage_context, has_unique_index, columns_hash, exists_in_db, created_at, updated_at)
SELECT (SELECT id FROM registry_source WHERE name = 'bench'),
       CASE WHEN i <= n * 0.3 THEN 'raw' ELSE 'mart' END, 'o' || i,
       CASE WHEN i <= n * 0.3 THEN 'table' ELSE 'view' END, false,
       CASE WHEN i <= n * 0.3 THEN 'RAW' ELSE 'DERIVED' END, 'PRIMARY', 'normal', true, '{}', '', '', false,
       '', '', 'bench', '', false, '', true, now(), now()
FROM generate_series(1, %(objects)s) i, (SELECT %(objects)s::int AS n) p;

-- every view reads two objects with lower ids (a DAG)
INSERT INTO registry_dependency (source_id, upstream_id, downstream_id, dependency_type, provenance, discovered_at)
SELECT d.source_id, d.id - 1 - floor(random() * least(d.id - m.first, 50))::int, d.id, 'normal', 'catalog', now()
FROM registry_registryobject d, generate_series(1, 2) k, (SELECT min(id) AS first FROM registry_registryobject) m
WHERE d.object_type = 'view'
ON CONFLICT DO NOTHING;

INSERT INTO ledger_pipeline (namespace, name, owner, description, schedule_cron, schedule_timezone, created_at)
SELECT '', 'bench_' || i, '', '', '', 'UTC', now() FROM generate_series(1, %(pipelines)s) i;

-- five finished runs per pipeline; the latest failed for the first `failing` pipelines
INSERT INTO ledger_run (run_id, external_run_id, external_run_id_is_uuid, triggered_by, status, provider,
    storage_backend, args, git_sha, app_version, error_type, error_message, error_stack_hash, anomalies,
    created_at, updated_at, pipeline_id, started_at, ended_at, duration_ms, last_event_at)
SELECT gen_random_uuid(), 'r' || k, false, 'scheduler',
       CASE WHEN k = 5 AND p.rn <= %(failing)s THEN 'failed' ELSE 'success' END, '', '', '{}', '', '',
       CASE WHEN k = 5 AND p.rn <= %(failing)s THEN 'LoadError' ELSE '' END,
       CASE WHEN k = 5 AND p.rn <= %(failing)s THEN 'upstream file missing' ELSE '' END, '', '[]',
       now(), now(), p.id, now() - interval '1 hour' * (6 - k), now() - interval '1 hour' * (6 - k), 1000,
       now() - interval '1 hour' * (6 - k)
FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM ledger_pipeline) p, generate_series(1, 5) k;

INSERT INTO checks_violation (evaluation_id, check_run_id, check_key, level, object_id, subject_type, subject,
    detail)
SELECT %(evaluation)s, %(check_run)s, 'freshness_sla_breach', 'ERROR', o.id, 'object',
       o.schema_name || '.' || o.object_name, '{"decided_by": "watermark", "age_hours": 30}'
FROM registry_registryobject o ORDER BY o.id DESC LIMIT %(violations)s;
ANALYZE;
"""

ALERT_TABLES = ["checks_delivery", "checks_notification", "checks_incidentevent", "checks_subjectstate"]


def receiver(port: int, ready) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def generate(objects: int, rules: int, firing: int, url: str) -> None:
    if not RegistryObject.objects.filter(source__name="bench").exists():
        started = time.perf_counter()
        now = timezone.now()
        Source.objects.get_or_create(name="bench", defaults={"dsn": "postgresql://bench@127.0.0.1/bench"})
        evaluation = Evaluation.objects.create(
            evaluated_at=now,
            global_status="ERROR",
            band="critical",
            healthy_threshold=99,
            degraded_threshold=95,
        )
        check_run = CheckRun.objects.create(
            evaluation=evaluation,
            check_key="freshness_sla_breach",
            severity="warning",
            status="ERROR",
            message="Objects are older than allowed.",
            drilldown_url="/api/v1/ops/health-checks/freshness_sla_breach",
            evaluated_at=now,
        )
        params = {
            "objects": objects,
            "pipelines": max(rules, firing // 2) + 10,
            "failing": firing // 2,
            "violations": firing - firing // 2,
            "evaluation": evaluation.pk,
            "check_run": check_run.pk,
        }
        with connection.cursor() as cursor:
            for statement in filter(str.strip, re.split(r";\s*\n", GENERATE)):
                cursor.execute(statement, params)
        print(f"generated in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        for table in [*ALERT_TABLES, "checks_incident", "checks_alertrule_channels", "checks_alertrule"]:
            cursor.execute(f"DELETE FROM {table}")
    Channel.objects.all().delete()
    hook = Channel.objects.create(name="bench-hook", kind="webhook", target=url)
    kinds = ["run_failed", "consecutive_failures", "failures_of_last", "failure_rate"]
    params = {
        "run_failed": {},
        "consecutive_failures": {"n": 2},
        "failures_of_last": {"n": 2, "m": 5},
        "failure_rate": {"window": "1d", "window_seconds": 86400, "threshold": 0.5, "min_sample": 3},
    }
    scoped = [
        AlertRule(
            name=f"scoped {i}", kind=kinds[i % 4], params=params[kinds[i % 4]], scope_pipeline=f"bench_{i}"
        )
        for i in range(1, rules - 1)
    ]
    AlertRule.objects.bulk_create(
        [
            AlertRule(name="any pipeline failed", kind="run_failed"),
            AlertRule(name="any check at ERROR", kind="check_status", params={"level": "ERROR"}),
            *scoped,
        ]
    )
    for rule in AlertRule.objects.filter(name__startswith="any"):
        rule.channels.set([hook])


def judge() -> tuple[float, CycleReport]:
    report = CycleReport(judged=True)
    started = time.perf_counter()
    with transaction.atomic():
        Judge(timezone.now(), report).run()
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--firing", type=int, default=5_000)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=receiver, args=(args.port, ready), daemon=True)
    server.start()
    ready.wait(10)
    try:
        call_command("migrate", verbosity=0)
        generate(args.objects, args.rules, args.firing, f"http://127.0.0.1:{args.port}/hooks/bench")
        print(
            f"{RegistryObject.objects.count()} objects, {AlertRule.objects.count()} rules, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        first, report = judge()
        print(f"first cycle:  {first:.2f} s ({first / TARGET_CYCLE_S:.2f} x the 2 s target): {report}")
        steady, report = judge()
        print(f"steady cycle: {steady:.2f} s ({steady / TARGET_CYCLE_S:.2f} x the 2 s target): {report}")
        pending = Incident.objects.count()
        started = time.perf_counter()
        sent, retried, failed = deliver_due()
        seconds = time.perf_counter() - started
        rate = sent / seconds if seconds else 0.0
        print(
            f"delivery: {sent} sent, {retried} to retry, {failed} failed in {seconds:.2f} s = {rate:.0f}/s "
            f"({rate / TARGET_DELIVERY_PER_S:.2f} x the 200/s target); {pending} incidents, "
            f"{SubjectState.objects.count()} subject states"
        )
        print(
            json.dumps(
                {"first_cycle_s": round(first, 3), "steady_cycle_s": round(steady, 3), "per_s": round(rate)}
            )
        )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
