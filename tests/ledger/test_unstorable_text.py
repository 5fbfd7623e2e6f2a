"""Lone UTF-16 surrogates (valid JSON, not storable UTF-8) are refused per item with 422
naming the field; the good items of a batch land."""

import json
import uuid

import pytest
from django.utils import timezone

from ledger import bounds
from ledger.logger import RunLogger
from ledger.models import LineageEvent, Run

pytestmark = pytest.mark.django_db

LONE = "\\ud800"  # as JSON text: the escape, not a character


def post_raw(client, url: str, text: str):
    return client.post(url, data=text.encode(), content_type="application/json")


def lineage(job: str = "load") -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": timezone.now().isoformat(),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": job},
        "producer": "https://example.com/tests",
    }


def with_lone_surrogate(document: dict, marker: str = "BAD") -> str:
    """`document` as JSON text where the string `marker` becomes a lone surrogate."""
    return json.dumps(document).replace(marker, LONE)


@pytest.mark.parametrize(
    "field, value",
    [
        ("pipeline", "BAD"),
        ("args", {"key": "BAD"}),
        ("args", {"BAD": 1}),
        ("assets", [{"asset_key": "raw.t", "extra": {"note": "BAD"}}]),
        (
            "check_results",
            [{"asset_key": "raw.t", "check_name": "c", "status": "pass", "metrics": {"m": "BAD"}}],
        ),
    ],
)
def test_a_run_event_with_a_lone_surrogate_is_422(ingest_client, field, value):
    body = {"pipeline": "load", "external_run_id": "r1", "status": "success", field: value}
    response = post_raw(ingest_client, "/api/v1/ledger/runs", with_lone_surrogate(body))
    assert response.status_code == 422, response.content
    assert next(iter(response.json())).startswith(field)
    assert not Run.objects.exists()


def test_bulk_refuses_the_bad_item_and_lands_the_good_ones(ingest_client):
    items = [
        {
            "pipeline": "load",
            "external_run_id": f"r{i}",
            "status": "success",
            "args": {"i": "BAD" if i == 1 else i},
        }
        for i in range(3)
    ]
    response = post_raw(ingest_client, "/api/v1/ledger/runs/bulk", with_lone_surrogate(items))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "created"]
    assert (results[1]["index"], results[1]["code"], list(results[1]["errors"])) == (1, 422, ["args.i"])
    assert set(Run.objects.values_list("external_run_id", flat=True)) == {"r0", "r2"}


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["job"].update(name="BAD"),
        lambda e: e["run"].update(facets={"custom": {"_producer": "x", "note": "BAD"}}),
        lambda e: e.update(outputs=[{"namespace": "pg", "name": "raw.t", "facets": {"x": {"BAD": 1}}}]),
    ],
)
def test_a_lineage_event_with_a_lone_surrogate_is_422(ingest_client, change):
    event = lineage()
    change(event)
    response = post_raw(ingest_client, "/api/v1/lineage", with_lone_surrogate(event))
    assert response.status_code == 422, response.content
    assert not LineageEvent.objects.exists()


def test_lineage_batch_refuses_the_bad_item_and_lands_the_good_ones(ingest_client):
    events = [lineage("good1"), lineage("BAD"), lineage("good2")]
    response = post_raw(ingest_client, "/api/v1/lineage/batch", with_lone_surrogate(events))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "created"]
    assert (results[1]["index"], results[1]["code"], list(results[1]["errors"])) == (1, 422, ["job.name"])
    assert set(LineageEvent.objects.values_list("job_name", flat=True)) == {"good1", "good2"}


def test_watermarks_with_a_lone_surrogate_are_422(ingest_client):
    text = with_lone_surrogate([{"asset_key": "raw.BAD", "watermark_ts": timezone.now().isoformat()}])
    assert post_raw(ingest_client, "/api/v1/ledger/watermarks", text).status_code == 422


def test_run_logger_refuses_a_lone_surrogate():
    with pytest.raises(bounds.Refused, match=r"args\.note"):
        RunLogger("job", args={"note": "\ud800"}).__enter__()
    assert not Run.objects.exists()
