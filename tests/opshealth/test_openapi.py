"""The OpenAPI schema generates without warnings and documents the contracts."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from registry.models import OVERRIDE_FIELDS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    path = tmp_path_factory.mktemp("openapi") / "schema.yml"
    with django_db_blocker.unblock():
        # Raises (SchemaGenerationError) on any warning or an invalid OpenAPI document.
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "OpsHealth API"


def test_schema_documents_the_source_registry_contract(schema):
    listing = schema["paths"]["/api/v1/ops/source-registry/"]["get"]
    params = {p["name"] for p in listing["parameters"]}
    assert {
        "schema_name",
        "object_type",
        "layer",
        "role",
        "criticality",
        "should_monitor",
        "health_enabled",
        "source",
        "exists_in_db",
        "needs_review",
        "search",
        "ordering",
        "limit",
        "offset",
    } <= params
    detail = schema["paths"]["/api/v1/ops/source-registry/{id}/"]
    assert set(detail) >= {"get", "patch"}
    assert "put" not in detail and "delete" not in detail
    patch_body = detail["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    patched = schema["components"]["schemas"][patch_body.rsplit("/", 1)[1]]
    assert set(patched["properties"]) == set(OVERRIDE_FIELDS)


def test_schema_documents_resolvers_and_token_auth(schema):
    assert "post" in schema["paths"]["/api/v1/resolvers/simulate/"]
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An OpsHealth API token (`manage.py token create`; also `Authorization: Token <token>`), "
            "also the OpenLineage API key."
        ),
    }


def test_schema_and_docs_are_served(viewer_client):
    assert viewer_client.get("/api/schema/").status_code == 200
    docs = viewer_client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Swagger UI from our own static files: the docs work on a machine with no internet.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn." not in page


def test_schema_and_docs_need_authentication_like_the_rest_of_the_api(anon_client, read_client):
    for url in ("/api/schema/", "/api/docs/"):
        assert anon_client.get(url).status_code == 401
    assert read_client.get("/api/schema/").status_code == 200


def _property(schema: dict, component: str, name: str) -> dict:
    return schema["components"]["schemas"][component]["properties"][name]


@pytest.mark.parametrize(
    ("component", "name"),
    [
        ("Run", "client"),
        ("Run", "parent_run_id"),
        ("CheckResult", "run_id"),
        ("Pipeline", "client_name"),
        ("RegistryObjectRow", "size_mb"),
        ("RegistryObjectRow", "refresh_schedule"),
        ("RegistryObjectDetail", "size_mb"),
    ],
)
def test_fields_that_can_be_null_are_declared_nullable(schema, component, name):
    assert _property(schema, component, name)["nullable"] is True


def test_the_freshness_envelope_and_integer_byte_counts_are_declared(schema):
    freshness = schema["paths"]["/api/v1/ops/raw-health/freshness/"]["get"]["responses"]["200"]
    ref = freshness["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"calculated_at", "count", "results"} <= set(schema["components"]["schemas"][ref]["required"])
    assert _property(schema, "RunAsset", "bytes_written")["type"] == "integer"


def test_a_local_time_is_not_declared_an_rfc3339_time(schema):
    # JSON Schema's `time` format needs an offset; a window's start is local to its timezone.
    start = _property(schema, "MaintenanceWindow", "start_time")
    assert "format" not in start and start["pattern"]


def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"400", "401", "403", "429"} <= set(operation["responses"]), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
    responses = schema["paths"]["/api/v1/ledger/runs/"]["post"]["responses"]
    assert {"413", "415", "422"} <= set(responses)
    assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "409" in schema["paths"]["/api/v1/health/check-now/"]["post"]["responses"]
    assert "404" in schema["paths"]["/api/v1/health/status/"]["get"]["responses"]  # before an evaluation
    assert "422" not in schema["paths"]["/api/v1/ledger/watermarks/"]["get"]["responses"]
    assert "422" in schema["paths"]["/api/v1/ledger/watermarks/{id}/reset/"]["post"]["responses"]


def test_search_is_documented_only_where_the_endpoint_searches(schema):
    def params(path: str) -> set[str]:
        return {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}

    assert "search" in params("/api/v1/sources/")
    assert "search" not in params("/api/v1/actions/")
