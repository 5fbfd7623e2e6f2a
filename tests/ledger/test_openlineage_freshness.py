"""Freshness from producers that send no asset times: OpenLineage START then COMPLETE
(Airflow, dbt, Spark), and REST assets without times."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.models import RunAsset
from registry import links
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db


def ol_event(event_type: str, run_id: str, at, outputs: list[dict]) -> dict:
    return {
        "eventType": event_type,
        "eventTime": at.isoformat(),
        "run": {"runId": run_id},
        "job": {"namespace": "airflow", "name": "load_orders"},
        "producer": "https://example.com/tests",
        "outputs": outputs,
    }


def raw_status(client) -> dict:
    links.refresh_asset_links()
    rows = client.get("/api/v1/ops/raw-health/status").json()["results"]
    return {r["object_name"]: r for r in rows}


def test_start_then_complete_makes_the_output_fresh(ingest_client, viewer_client):
    RegistryObjectFactory(schema_name="raw", object_name="orders", layer="RAW")
    run_id, now = str(uuid.uuid4()), timezone.now()
    output = [{"namespace": "postgres://warehouse:5432", "name": "shop.raw.orders"}]
    for event_type, at in (("START", now - timedelta(minutes=5)), ("COMPLETE", now - timedelta(minutes=1))):
        response = ingest_client.post(
            "/api/v1/lineage", ol_event(event_type, run_id, at, output), format="json"
        )
        assert response.status_code == 201, response.content
    asset = RunAsset.objects.get()
    assert (asset.status, asset.ended_at) == ("success", now - timedelta(minutes=1))
    row = raw_status(viewer_client)["orders"]
    assert (row["status"], row["decided_by"]) == ("OK", "run_asset")


def test_outputs_of_a_start_alone_are_no_signal(ingest_client, viewer_client):
    RegistryObjectFactory(schema_name="raw", object_name="orders", layer="RAW")
    output = [{"namespace": "postgres://warehouse:5432", "name": "shop.raw.orders"}]
    ingest_client.post(
        "/api/v1/lineage", ol_event("START", str(uuid.uuid4()), timezone.now(), output), format="json"
    )
    assert RunAsset.objects.get().ended_at is None
    assert raw_status(viewer_client)["orders"]["status"] == "NO_SIGNAL"


def test_rest_assets_without_times_end_with_their_event(ingest_client, viewer_client):
    RegistryObjectFactory(schema_name="raw", object_name="orders", layer="RAW")
    at = timezone.now() - timedelta(minutes=2)
    body = {
        "pipeline": "load_orders",
        "external_run_id": "r1",
        "status": "success",
        "event_time": at.isoformat(),
        "assets": [{"asset_key": "raw.orders", "rows_inserted": 3}],
    }
    assert ingest_client.post("/api/v1/ledger/runs", body, format="json").status_code == 201
    assert RunAsset.objects.get().ended_at == at
    assert raw_status(viewer_client)["orders"]["status"] == "OK"
