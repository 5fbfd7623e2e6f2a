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
