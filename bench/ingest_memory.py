"""Peak worker memory under the largest ingestion requests the limits let through.

    .venv/bin/python bench/ingest_memory.py [--parallel 8] [--workers N]

Starts gunicorn with deploy/gunicorn.conf.py (DEBUG off) on the embedded PostgreSQL
(database `opshealth_bench`, or OPSHEALTH_DB_NAME), then, for each shape below, sends
--parallel requests at once and prints the peak resident memory (VmHWM, reset before
each shape through /proc/PID/clear_refs) of each worker. Every request is as large as
OPSHEALTH_MAX_PAYLOAD_BYTES and OPSHEALTH_MAX_ASSETS_PER_EVENT allow:

- `runs`: one event with the most assets, its `args` padded up to the payload limit;
- `runs/bulk`: events of the most assets each, as many as OPSHEALTH_MAX_ASSETS_PER_REQUEST
  and the payload limit let through;
- `lineage/batch`: OpenLineage COMPLETE events of the most outputs each, likewise.

Target (issue 9): the largest worker peak below 300 MB. Before the asset cap, one 3.1 MB
event of 60,000 assets cost a worker about 187 MB, and 8 in parallel took the workers
from 156 MB to 1.8 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")
os.environ.setdefault("OPSHEALTH_DB_NAME", "opshealth_bench")
os.environ["DEBUG"] = "False"
os.environ.setdefault("DB_CONN_MAX_AGE", "60")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from serving import server_pids, start_server  # noqa: E402  (bench/serving.py)

from ledger.models import ApiToken  # noqa: E402

MB = 2**20


def assets(prefix: str, n: int) -> list[dict]:
    return [{"asset_key": f"raw.{prefix}_{i:05d}", "rows_inserted": i, "kind": "table"} for i in range(n)]


def run_event(tag: str, i: int, n: int, args: dict | None = None) -> dict:
    return {
        "pipeline": "bench.memory",
        "external_run_id": f"{tag}-{i}",
        "status": "success",
        "event_time": datetime.now(UTC).isoformat(),
        "args": args or {},
        "assets": assets(f"{tag}{i}", n),
    }


def lineage_event(tag: str, i: int, n: int) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "bench", "name": f"memory.{tag}.{i}"},
        "producer": "https://example.com/bench",
        "outputs": [
            {"namespace": "postgres://wh:5432", "name": f"db.raw.{tag}{i}_{k:05d}"} for k in range(n)
        ],
    }


def bodies(shape: str, parallel: int) -> list[bytes]:
    """`parallel` bodies of `shape`, each just under the payload limit."""
    limit = int(settings.OPSHEALTH_MAX_PAYLOAD_BYTES * 0.9)
    n = settings.OPSHEALTH_MAX_ASSETS_PER_EVENT
    per_request = settings.OPSHEALTH_MAX_ASSETS_PER_REQUEST
    out = []
    for p in range(parallel):
        tag = f"{shape[0]}{uuid.uuid4().hex[:6]}{p}"
        if shape == "runs":
            event = run_event(tag, 0, n)
            pad = limit - len(json.dumps(event)) - 20
            event["args"] = {"pad": "x" * max(0, pad)}
            out.append(json.dumps(event).encode())
        elif shape == "runs/bulk":
            sample = len(json.dumps(run_event(tag, 0, n))) + 2
            count = min(1000, per_request // n, max(1, limit // sample))
            out.append(json.dumps([run_event(tag, i, n) for i in range(count)]).encode())
        else:
            sample = len(json.dumps(lineage_event(tag, 0, n))) + 2
            count = min(1000, per_request // n, max(1, limit // sample))
            out.append(json.dumps([lineage_event(tag, i, n) for i in range(count)]).encode())
    return out


def memory(pids: list[int], field: str) -> dict[int, int]:
    """Bytes of /proc/PID/status's `field` (VmRSS: now; VmHWM: the peak) per process."""
    values = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                values[pid] = int(line.split()[1]) * 1024
    return values


def reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def send(base: str, token: str, path: str, payloads: list[bytes]) -> list[int]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def one(body: bytes) -> int:
        return requests.post(f"{base}/api/v1/{path}", data=body, headers=headers, timeout=600).status_code

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(one, payloads))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parallel", type=int, default=8, help="requests sent at once")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    _, token = ApiToken.issue(f"bench-{uuid.uuid4().hex[:8]}", ApiToken.SCOPE_INGEST)
    proc, base = start_server(args.workers)
    try:
        send(base, token, "ledger/runs", [json.dumps(run_event("warm", 0, 10)).encode()] * 2)
        workers = server_pids(proc.pid, connection.settings_dict["NAME"])[0][1:]
        print(
            f"{len(workers)} workers; payload limit {settings.OPSHEALTH_MAX_PAYLOAD_BYTES} bytes, "
            f"{settings.OPSHEALTH_MAX_ASSETS_PER_EVENT} assets per event, "
            f"{settings.OPSHEALTH_MAX_ASSETS_PER_REQUEST} per request; {args.parallel} requests in "
            f"parallel; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(f"{'shape':15} {'body':>8} {'statuses':>16}  {'worker RSS before':>18}  {'peak':>8}")
        worst = 0
        for shape in ("runs", "runs/bulk", "lineage/batch"):
            payloads = bodies(shape, args.parallel)
            before = memory(workers, "VmRSS")
            reset_peaks(workers)
            statuses = send(base, token, "ledger/" + shape if shape.startswith("runs") else shape, payloads)
            peaks = memory(workers, "VmHWM")
            worst = max(worst, *peaks.values())
            print(
                f"{shape:15} {len(payloads[0]) / MB:6.1f}MB {','.join(sorted(set(map(str, statuses)))):>16}  "
                f"{max(before.values()) / MB:16.0f}MB  {max(peaks.values()) / MB:6.0f}MB"
            )
        print(f"largest worker peak: {worst / MB:.0f} MB (target: below 300 MB)")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
