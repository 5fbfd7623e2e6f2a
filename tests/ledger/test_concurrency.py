"""8 threads post the same 2,000 events, shuffled and with duplicates, to the REST and
OpenLineage endpoints of a live server: the ledger ends exactly right."""

import json
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from ledger.models import LineageEvent, Run, RunAsset

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RUNS = 200  # per path: 200 REST runs and 200 OpenLineage runs, 5 events each


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def rest_events(i: int) -> tuple[list[dict], tuple]:
    ext, base = f"rest-{i}", i * 10
    final = "failed" if i % 4 == 0 else "success"
    common = {"pipeline": f"rest_job_{i % 7}", "external_run_id": ext, "client": f"client-{i % 3}"}
    events = [
        {**common, "status": "started", "event_time": iso(base)},
        {**common, "status": "running", "event_time": iso(base + 1)},
        {
            **common,
            "status": "other",
            "event_time": iso(base + 2),
            "assets": [{"asset_key": "raw.orders", "rows_inserted": i}],
        },
        {
            **common,
            "status": final,
            "event_time": iso(base + 3),
            "error_message": "boom" if final == "failed" else "",
        },
        {**common, "status": "started", "event_time": iso(base + 5)},  # after the end: an anomaly
    ]
    return events, (f"rest_job_{i % 7}", ext, final, T0 + timedelta(minutes=base), 180_000, 1)


def ol_events(i: int) -> tuple[list[dict], tuple]:
    run_id, base = str(uuid.uuid4()), i * 10
    job = {"namespace": "airflow", "name": f"ol_job_{i % 5}"}
    final = "FAIL" if i % 5 == 0 else "COMPLETE"

    def event(kind, minutes, **extra):
        return {
            "eventType": kind,
            "eventTime": iso(minutes),
            "run": {"runId": run_id},
            "job": job,
            "producer": "https://example.com/test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
            **extra,
        }

    out = [
        {
            "namespace": "postgres://wh:5432",
            "name": f"db.mart.t{i % 9}",
            "outputFacets": {"outputStatistics": {"rowCount": i}},
        }
    ]
    events = [
        event("START", base),
        event("RUNNING", base + 1),
        event("OTHER", base + 2),
        event(final, base + 4, outputs=out),
        event("RUNNING", base + 6),  # after the end: an anomaly
    ]
    status = "failed" if final == "FAIL" else "success"
    return events, (f"ol_job_{i % 5}", run_id, status, T0 + timedelta(minutes=base), 240_000, 1)


def send(base_url: str, token: str, work: list[tuple[str, dict]], seed: int, errors: list) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    pos = 0
    while pos < len(work):
        size = rng.choice([1, 1, 10, 50, 100])
        chunk = work[pos : pos + size]
        pos += size
        for kind in ("rest", "ol"):
            items = [body for k, body in chunk if k == kind]
            if not items:
                continue
            if len(items) == 1:
                url = "/api/v1/ledger/runs" if kind == "rest" else "/api/v1/lineage"
                payload = items[0]
            else:
                url = "/api/v1/ledger/runs/bulk" if kind == "rest" else "/api/v1/lineage/batch"
                payload = items
            response = session.post(
                base_url + url,
                data=json.dumps(payload),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            if response.status_code >= 300 or (
                len(items) > 1 and any(r["status"] == "error" for r in response.json()["results"])
            ):
                errors.append((url, response.status_code, response.text[:300]))


@pytest.mark.django_db(transaction=True)
def test_eight_threads_posting_the_same_events_end_with_the_right_ledger(live_server, ingest_token):
    work, expected = [], []
    for i in range(RUNS):
        for kind, make in (("rest", rest_events), ("ol", ol_events)):
            events, final = make(i)
            work += [(kind, e) for e in events]
            expected.append(final)
    assert len(work) == 2000
    errors: list = []
    threads = []
    for n in range(8):
        mine = work + random.Random(100 + n).sample(work, 200)  # duplicates within a thread too
        random.Random(n).shuffle(mine)
        threads.append(threading.Thread(target=send, args=(live_server.url, ingest_token, mine, n, errors)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = sorted(
        (r.pipeline.name, r.external_run_id, r.status, r.started_at, r.duration_ms, len(r.anomalies))
        for r in Run.objects.select_related("pipeline")
    )
    assert got == sorted(expected)
    assert LineageEvent.objects.count() == RUNS * 5
    assert RunAsset.objects.count() == 2 * RUNS
