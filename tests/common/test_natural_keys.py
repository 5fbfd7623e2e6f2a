"""Filters by natural keys as well as ids: pipelines by name, objects by name, sources by name."""

import pytest

from tests.factories.ledger import PipelineFactory, RunFactory
from tests.factories.registry import RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db


def _run_pipelines(client, pipeline: str):
    return client.get("/api/v1/ledger/runs", {"pipeline": pipeline})


def test_runs_by_pipeline_name_id_or_namespace_and_name(read_client):
    nightly = PipelineFactory(namespace="", name="nightly.load_orders")
    RunFactory(pipeline=nightly)
    RunFactory(pipeline=PipelineFactory(name="other"))

    for key in ("nightly.load_orders", str(nightly.pk)):
        body = _run_pipelines(read_client, key).json()
        assert [r["pipeline_id"] for r in body["results"]] == [nightly.pk]


def test_an_ambiguous_pipeline_name_asks_for_its_namespace(read_client):
    a = PipelineFactory(namespace="airflow", name="load")
    PipelineFactory(namespace="dbt", name="load")
    RunFactory(pipeline=a)

    ambiguous = _run_pipelines(read_client, "load")
    assert ambiguous.status_code == 400 and "ambiguous" in ambiguous.json()["pipeline"][0]
    body = _run_pipelines(read_client, "airflow/load").json()
    assert [r["pipeline_id"] for r in body["results"]] == [a.pk]


def test_an_unknown_pipeline_is_a_400(read_client):
    assert _run_pipelines(read_client, "nope").status_code == 400


def test_registry_objects_by_object_name_and_qualified_name(read_client):
    wanted = RegistryObjectFactory(schema_name="raw", object_name="orders")
    RegistryObjectFactory(schema_name="mart", object_name="orders")
    RegistryObjectFactory(schema_name="raw", object_name="users")
    url = "/api/v1/ops/source-registry"

    by_name = read_client.get(url, {"object_name": "orders"}).json()
    by_qualified = read_client.get(url, {"qualified_name": "raw.orders"}).json()

    assert by_name["count"] == 2
    assert [r["id"] for r in by_qualified["results"]] == [wanted.pk]
    assert read_client.get(url, {"qualified_name": "orders"}).status_code == 400


def test_sources_by_name(read_client):
    SourceFactory(name="warehouse")
    SourceFactory(name="other")

    body = read_client.get("/api/v1/sources", {"name": "warehouse"}).json()

    assert [s["name"] for s in body["results"]] == ["warehouse"]
