import gzip
import json
import uuid

import pytest
from django.test import override_settings

from ledger.models import CheckResult, Client, Run, RunAsset, Watermark
from tests.factories.ledger import RunFactory

RUNS = "/api/v1/ledger/runs"
pytestmark = pytest.mark.django_db


def event(**kw):
    body = {
        "pipeline": "ingest_candles",
        "external_run_id": "run-1",
        "status": "started",
        "event_time": "2026-03-01T12:00:00Z",
    }
    return {**body, **kw}


def test_post_run_creates_201_then_advances_200(ingest_client):
    first = ingest_client.post(RUNS, event(client="acme", args={"symbols": 3}), format="json")
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "created"
    done = event(
        status="success",
        event_time="2026-03-01T12:05:00Z",
        assets=[{"asset_key": "raw.Candles", "rows_inserted": 10, "partition_key": "2026-03-01"}],
        watermarks=[
            {"asset_key": "raw.candles", "watermark_ts": "2026-03-01T00:00:00Z", "scope_key": "AAPL"}
        ],
        check_results=[{"asset_key": "raw.candles", "check_name": "not_null(close)", "status": "pass"}],
    )
    second = ingest_client.post(RUNS, done, format="json")
    assert second.status_code == 200
    assert second.json() == {"status": "updated", "run_id": first.json()["run_id"], "run_status": "success"}
    run = Run.objects.get()
    assert (run.status, run.duration_ms, run.args, run.pipeline.client.name) == (
        "success",
        300_000,
        {"symbols": 3},
        "acme",
    )
    assert RunAsset.objects.get().normalized_key == "raw.candles"
    assert Watermark.objects.get().last_run == run
    assert CheckResult.objects.get().run == run


def test_replayed_event_is_a_duplicate_and_adds_nothing(ingest_client):
    body = event(
        status="success", check_results=[{"asset_key": "raw.c", "check_name": "x", "status": "fail"}]
    )
    ingest_client.post(RUNS, body, format="json")
    again = ingest_client.post(RUNS, body, format="json")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert CheckResult.objects.count() == 1


def test_bad_input_gets_field_messages(ingest_client):
    response = ingest_client.post(
        RUNS, {"pipeline": "", "status": "exploded", "event_time": "yesterday"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"pipeline", "external_run_id", "status", "event_time"}


def test_unparseable_body_is_400(ingest_client):
    response = ingest_client.post(RUNS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_read_token_gets_403_and_anonymous_401(read_client, anon_client, viewer_client):
    assert read_client.post(RUNS, event(), format="json").status_code == 403
    assert anon_client.post(RUNS, event(), format="json").status_code == 401
    assert viewer_client.post(RUNS, event(), format="json").status_code == 403
    assert not Run.objects.exists()


def test_staff_session_may_ingest(staff_client):
    assert staff_client.post(RUNS, event(), format="json").status_code == 201


def test_parent_run_is_linked_by_external_id(ingest_client):
    ingest_client.post(
        RUNS,
        event(external_run_id="child", parent_external_run_id="dag-1", parent_pipeline="dag"),
        format="json",
    )
    child = Run.objects.get(external_run_id="child")
    assert (child.parent_run.external_run_id, child.parent_run.pipeline.name) == ("dag-1", "dag")


def test_bulk_gives_per_item_results_and_keeps_valid_items(ingest_client):
    items = [
        event(external_run_id="a"),
        event(external_run_id="a", status="success", event_time="2026-03-01T12:01:00Z"),
        event(external_run_id="b", status="nope"),
        event(external_run_id="a"),
    ]
    response = ingest_client.post(f"{RUNS}/bulk", items, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "updated", "error", "duplicate"]
    assert results[2]["errors"] == {"status": ['"nope" is not a valid choice.']}
    assert response.json()["counts"] == {"created": 1, "updated": 1, "duplicate": 1, "error": 1}
    assert list(Run.objects.values_list("external_run_id", "status")) == [("a", "success")]


def test_bulk_refuses_more_than_1000_events(ingest_client):
    response = ingest_client.post(f"{RUNS}/bulk/", {"events": [event()] * 1001}, format="json")
    assert response.status_code == 400
    assert "At most 1000" in response.json()["events"][0]


def test_bulk_takes_a_constant_number_of_queries(ingest_client, django_assert_max_num_queries):
    items = [event(external_run_id=f"r{i}", assets=[{"asset_key": "raw.orders"}]) for i in range(200)]
    # token lookup, token last_used update, pipelines upsert+read, runs insert+lock,
    # runs update, assets upsert
    with django_assert_max_num_queries(6):
        response = ingest_client.post(f"{RUNS}/bulk", items, format="json")
    assert response.json()["counts"]["created"] == 200


@override_settings(OPSHEALTH_MAX_PAYLOAD_BYTES=2000)
def test_oversized_payload_is_413_from_content_length(ingest_client):
    response = ingest_client.post(RUNS, event(args={"pad": "x" * 5000}), format="json")
    assert response.status_code == 413
    assert "exceeds the limit of 2000 bytes" in response.json()["detail"]


@override_settings(OPSHEALTH_MAX_PAYLOAD_BYTES=100_000)
def test_gzip_bomb_is_413_after_bounded_decompression(ingest_client):
    bomb = gzip.compress(b'{"pad": "' + b"x" * 50_000_000 + b'"}')
    assert len(bomb) < 100_000
    response = ingest_client.post(RUNS, bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompressed body" in response.json()["detail"]


def test_gzip_body_is_accepted(ingest_client):
    body = gzip.compress(json.dumps(event()).encode())
    response = ingest_client.post(RUNS, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201


def test_watermarks_endpoint_is_monotonic(ingest_client):
    url = "/api/v1/ledger/watermarks"
    run = RunFactory(pipeline__namespace="")
    new = {"asset_key": "raw.orders", "watermark_ts": "2026-03-02T00:00:00Z", "run_id": str(run.run_id)}
    assert ingest_client.post(url, new, format="json").status_code == 200
    old = {"asset_key": "raw.orders", "watermark_ts": "2026-03-01T00:00:00Z"}
    assert ingest_client.post(url, {"watermarks": [old]}, format="json").json() == {"count": 1}
    mark = Watermark.objects.get()
    assert (mark.watermark_ts.day, mark.last_run) == (2, run)


def test_watermark_naming_an_unknown_run_is_400(ingest_client):
    body = {"asset_key": "raw.orders", "watermark_ts": "2026-03-02T00:00:00Z", "run_id": str(uuid.uuid4())}
    response = ingest_client.post("/api/v1/ledger/watermarks", body, format="json")
    assert response.status_code == 400
    assert "Unknown run" in response.json()["run_id"][0]


def test_check_results_endpoint_keeps_every_result(ingest_client):
    url = "/api/v1/ledger/check-results/"
    items = [
        {
            "asset_key": "raw.orders",
            "check_name": "unique(id)",
            "status": "pass",
            "checked_at": "2026-03-01T00:00:00Z",
        },
        {
            "asset_key": "raw.orders",
            "check_name": "unique(id)",
            "status": "fail",
            "checked_at": "2026-03-02T00:00:00Z",
            "severity": "warn",
            "metrics": {"dupes": 3},
        },
    ]
    assert ingest_client.post(url, items, format="json").status_code == 201
    assert ingest_client.post(url, items, format="json").status_code == 201  # a replay adds nothing
    assert list(CheckResult.objects.order_by("checked_at").values_list("status", flat=True)) == [
        "pass",
        "fail",
    ]
    bad = ingest_client.post(url, [{"asset_key": "x", "check_name": "c", "status": "maybe"}], format="json")
    assert bad.status_code == 400, bad.content
    assert bad.json() == {"0": {"status": ['"maybe" is not a valid choice.']}}


def test_client_is_created_once_and_not_overwritten(ingest_client):
    ingest_client.post(RUNS, event(client="acme"), format="json")
    ingest_client.post(RUNS, event(external_run_id="2", client="other"), format="json")
    assert list(Client.objects.values_list("name", flat=True)) == ["acme", "other"]
    assert Run.objects.filter(pipeline__client__name="acme").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"pipeline": "p\\u0000", "external_run_id": "1", "status": "started"}',
        b'{"pipeline": "p", "external_run_id": "1", "status": "started", "args": {"x": NaN}}',
    ],
)
def test_values_postgresql_cannot_store_are_400_not_500(ingest_client, body):
    response = ingest_client.post(RUNS, body, content_type="application/json")
    assert response.status_code == 400
    assert not Run.objects.exists()


def test_oversized_numbers_and_keys_are_400(ingest_client):
    too_big = event(assets=[{"asset_key": "raw.t", "rows_inserted": 2**63}])
    assert "assets" in ingest_client.post(RUNS, too_big, format="json").json()
    long_key = event(assets=[{"asset_key": "s." + "t" * 400, "namespace": "postgres://" + "h" * 200}])
    response = ingest_client.post(RUNS, long_key, format="json")
    assert response.status_code == 400
    assert "exceed 500" in str(response.json()["assets"])


@pytest.mark.parametrize(
    "path", ["/api/v1/ledger/runs", "/api/v1/ledger/watermarks/", "/api/v1/ledger/check-results"]
)
def test_one_url_reads_with_get_and_ingests_with_post(ingest_client, read_client, path):
    assert read_client.get(path).status_code == 200
    assert read_client.post(path, {}, format="json").status_code == 403
    assert ingest_client.post(path, {}, format="json").status_code == 400  # reached the ingestion view
