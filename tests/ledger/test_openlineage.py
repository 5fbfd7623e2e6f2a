"""OpenLineage ingestion, driven by the real openlineage-python client against a live server."""

import gzip
import json
import random
import threading
import uuid

import pytest
import requests
from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde

from ledger.models import CheckResult, LineageEvent, Pipeline, Run, RunAsset
from tests.ledger.openlineage_helpers import (
    T0,
    assertions,
    checked_input,
    error_facet,
    nominal_facet,
    ol_client,
    ol_event,
    output,
    parent_facet,
    run_test_facet,
)


@pytest.fixture
def ol(live_server, ingest_token):
    return ol_client(live_server.url, ingest_token)


def post_raw(live_server, token, body: bytes, path="/api/v1/lineage", **headers):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", **headers}
    return requests.post(live_server.url + path, data=body, headers=headers, timeout=10)


def test_start_then_complete_makes_one_successful_run(ol):
    run_id = str(uuid.uuid4())
    ol.emit(ol_event(RunState.START, 0, run_id, outputs=[output()], run_facets=nominal_facet(T0)))
    ol.emit(ol_event(RunState.COMPLETE, 3, run_id, outputs=[output(rows=120, size=4096)]))
    run = Run.objects.get()
    assert (run.status, run.triggered_by, run.external_run_id, run.external_run_id_is_uuid) == (
        "success",
        "openlineage",
        run_id,
        True,
    )
    assert (run.pipeline.namespace, run.pipeline.name) == ("airflow", "load_orders")
    assert (run.started_at, run.duration_ms, run.nominal_time) == (T0, 180_000, T0)
    asset = RunAsset.objects.get()
    assert (asset.asset_key, asset.normalized_key) == (
        "shop.raw.orders",
        "postgresql://warehouse:5432/shop/raw.orders",
    )
    assert (asset.rows_inserted, asset.bytes_written, asset.status, asset.direction) == (
        120,
        4096,
        "success",
        "output",
    )
    assert LineageEvent.objects.filter(run=run).count() == 2


def test_fail_with_error_message_fills_error_fields(ol):
    run_id = str(uuid.uuid4())
    ol.emit(ol_event(RunState.START, 0, run_id))
    ol.emit(ol_event(RunState.FAIL, 1, run_id, run_facets=error_facet("orders.csv: bad row 12")))
    run = Run.objects.get()
    assert (run.status, run.error_message, run.error_type) == (
        "failed",
        "orders.csv: bad row 12",
        "ValueError",
    )
    assert len(run.error_stack_hash) == 32


def test_parent_and_child_runs_are_linked_with_a_placeholder_parent(ol):
    parent_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())
    ol.emit(ol_event(RunState.START, 1, child_id, job="task_a", run_facets=parent_facet(parent_id)))
    child = Run.objects.get(external_run_id=child_id)
    assert child.parent_run.external_run_id == parent_id
    assert child.parent_run.pipeline.name == "nightly_dag"
    ol.emit(ol_event(RunState.START, 0, parent_id, job="nightly_dag"))
    assert Run.objects.get(external_run_id=parent_id).started_at == T0
    assert Run.objects.count() == 2


def test_data_quality_assertions_in_both_locations_are_recorded_once(ol):
    facet = assertions(("not_null", True, "order_id"), ("unique", False, "order_id"))
    ol.emit(
        ol_event(
            RunState.COMPLETE,
            2,
            inputs=[checked_input("shop.raw.orders", facet)],
            outputs=[output("shop.mart.daily")],
            run_facets=run_test_facet(("row_count_positive", "pass")),
        )
    )
    rows = set(CheckResult.objects.values_list("check_name", "status", "normalized_key"))
    assert rows == {
        ("not_null(order_id)", "pass", "postgresql://warehouse:5432/shop/raw.orders"),
        ("unique(order_id)", "fail", "postgresql://warehouse:5432/shop/raw.orders"),
        ("row_count_positive", "pass", "postgresql://warehouse:5432/shop/mart.daily"),
    }
    reads = RunAsset.objects.get(direction="input")
    assert (reads.asset_key, reads.status) == ("shop.raw.orders", "skipped")


def test_exact_replay_is_200_and_a_no_op(live_server, ingest_token):
    body = Serde.to_json(ol_event(RunState.START, 0, outputs=[output()])).encode()
    first = post_raw(live_server, ingest_token, body)
    again = post_raw(live_server, ingest_token, body, path="/api/v1/lineage/")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"status": "duplicate"}
    assert LineageEvent.objects.count() == 1 and Run.objects.count() == 1


def test_out_of_order_events_end_in_the_right_state(ol):
    run_id = str(uuid.uuid4())
    for state, minute in [
        (RunState.COMPLETE, 5),
        (RunState.RUNNING, 2),
        (RunState.START, 0),
        (RunState.OTHER, 9),
    ]:
        ol.emit(ol_event(state, minute, run_id))
    run = Run.objects.get()
    assert (run.status, run.started_at, run.duration_ms, run.anomalies) == ("success", T0, 300_000, [])


def test_concurrent_events_of_one_run_are_serialized(live_server, ingest_token):
    run_id = str(uuid.uuid4())
    events = [ol_event(RunState.START, 0, run_id)] + [
        ol_event(RunState.RUNNING, m, run_id) for m in (1, 2, 3)
    ]
    events += [ol_event(RunState.COMPLETE, 4, run_id, outputs=[output(rows=9)])]
    events = events * 3
    random.Random(7).shuffle(events)
    errors = []

    def send(chunk):
        client = ol_client(live_server.url, ingest_token)
        for e in chunk:
            try:
                client.emit(e)
            except Exception as exc:  # collected, asserted below
                errors.append(exc)

    threads = [threading.Thread(target=send, args=(events[i::5],)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    run = Run.objects.get()
    assert (run.status, run.started_at, run.duration_ms) == ("success", T0, 240_000)
    assert LineageEvent.objects.count() == 5
    assert RunAsset.objects.get().rows_inserted == 9


def test_non_uuid_run_id_is_accepted_and_flagged(live_server, ingest_token):
    payload = json.loads(Serde.to_json(ol_event(RunState.START, 0)))
    payload["run"]["runId"] = "scheduled__2026-03-01T00:00:00"
    assert post_raw(live_server, ingest_token, json.dumps(payload).encode()).status_code == 201
    assert Run.objects.get().external_run_id_is_uuid is False


def test_malformed_body_is_400(live_server, ingest_token):
    assert post_raw(live_server, ingest_token, b'{"eventType": "START",').status_code == 400
    bad_gzip = post_raw(live_server, ingest_token, b"not gzip", **{"Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400
    assert not LineageEvent.objects.exists()


def test_spec_violation_is_422_with_the_field_list(live_server, ingest_token):
    body = {"eventType": "EXPLODED", "eventTime": "not a time", "run": {}, "job": {"namespace": "airflow"}}
    response = post_raw(live_server, ingest_token, json.dumps(body).encode())
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"eventType", "eventTime", "run.runId", "job.name"}
    missing = post_raw(
        live_server, ingest_token, json.dumps({"job": {"namespace": "a", "name": "b"}}).encode()
    )
    assert set(missing.json()["errors"]) == {"eventTime", "run.runId"}


def test_spec_violation_through_the_client_raises_without_retry(live_server, ingest_token):
    event = ol_event(RunState.START, 0)
    event.job.name = ""
    with pytest.raises(requests.HTTPError, match="422"):
        ol_client(live_server.url, ingest_token).emit(event)


def test_missing_or_wrong_key_is_401_and_read_key_403(live_server, read_token):
    event = ol_event(RunState.START, 0)
    with pytest.raises(requests.HTTPError, match="401"):
        ol_client(live_server.url, None).emit(event)
    with pytest.raises(requests.HTTPError, match="401"):
        ol_client(live_server.url, "oh_wrong").emit(event)
    with pytest.raises(requests.HTTPError, match="403"):
        ol_client(live_server.url, read_token).emit(event)
    assert not Run.objects.exists()


def test_batch_endpoint_takes_an_array_with_per_item_results(live_server, ingest_token):
    run_id = str(uuid.uuid4())
    items = [
        json.loads(Serde.to_json(ol_event(s, m, run_id)))
        for s, m in [(RunState.START, 0), (RunState.COMPLETE, 1)]
    ]
    items.append({"eventType": "START"})
    body = gzip.compress(json.dumps(items).encode())
    response = post_raw(
        live_server, ingest_token, body, path="/api/v1/lineage/batch/", **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "error"]
    assert "eventTime" in results[2]["errors"]
    assert Run.objects.get().status == "success"
    assert Pipeline.objects.get().name == "load_orders"
