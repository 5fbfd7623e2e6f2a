"""A request's memory grows with its assets: one event carries at most
OPSHEALTH_MAX_ASSETS_PER_EVENT, one request at most OPSHEALTH_MAX_ASSETS_PER_REQUEST,
both counted before any asset is validated (bench/ingest_memory.py measures the rest)."""

import uuid

import pytest
from django.test import override_settings
from django.utils import timezone

from ledger.models import LineageEvent, Run

pytestmark = pytest.mark.django_db


def run_event(run_id: str, assets: int) -> dict:
    items = [{"asset_key": f"raw.t{i}"} for i in range(assets)]
    return {"pipeline": "load", "external_run_id": run_id, "status": "success", "assets": items}


def lineage(outputs: int, inputs: int = 0) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": timezone.now().isoformat(),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": "load"},
        "producer": "https://example.com/tests",
        "outputs": [{"namespace": "pg", "name": f"raw.o{i}"} for i in range(outputs)],
        "inputs": [{"namespace": "pg", "name": f"raw.i{i}"} for i in range(inputs)],
    }


@override_settings(OPSHEALTH_MAX_ASSETS_PER_EVENT=3)
def test_an_event_with_too_many_assets_is_refused(ingest_client):
    response = ingest_client.post("/api/v1/ledger/runs", run_event("r1", 4), format="json")
    assert response.status_code == 400 and "At most 3 assets per event" in response.json()["assets"][0]
    assert ingest_client.post("/api/v1/ledger/runs", run_event("r1", 3), format="json").status_code == 201
    response = ingest_client.post("/api/v1/lineage", lineage(2, 2), format="json")
    assert response.status_code == 422 and "outputs" in response.json()["errors"]


@override_settings(OPSHEALTH_MAX_ASSETS_PER_REQUEST=5)
def test_a_request_with_too_many_assets_in_all_is_refused(ingest_client):
    events = [run_event(f"r{i}", 2) for i in range(3)]
    response = ingest_client.post("/api/v1/ledger/runs/bulk", events, format="json")
    assert response.status_code == 400 and "At most 5 assets per request" in response.json()["assets"][0]
    response = ingest_client.post("/api/v1/lineage/batch", [lineage(2), lineage(2, 2)], format="json")
    assert response.status_code == 400
    assert not Run.objects.exists() and not LineageEvent.objects.exists()
    assert ingest_client.post("/api/v1/ledger/runs/bulk", events[:2], format="json").status_code == 200
