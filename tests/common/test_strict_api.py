"""A strict API: unknown query parameters and invalid values are a 400 naming them, on
every endpoint; a method an endpoint lacks is a 405 whoever asks."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from common.api import StrictViewMixin
from common.filters import FilterSet
from tests.factories.registry import RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/sources",
    "/api/v1/ops/source-registry",
    "/api/v1/resolvers",
    "/api/v1/ledger/clients",
    "/api/v1/ledger/pipelines",
    "/api/v1/ledger/runs",
    "/api/v1/ledger/watermarks",
    "/api/v1/ledger/check-results",
    "/api/v1/ledger/failures",
    "/api/v1/health/violations",
]
ORDERED = [
    "/api/v1/sources",
    "/api/v1/ops/source-registry",
    "/api/v1/resolvers",
    "/api/v1/ledger/clients",
    "/api/v1/ledger/pipelines",
    "/api/v1/ledger/watermarks",
    "/api/v1/health/violations",
]
LIMITED = [
    "/api/v1/sources",
    "/api/v1/ops/source-registry",
    "/api/v1/resolvers",
    "/api/v1/ledger/clients",
    "/api/v1/ledger/pipelines",
    "/api/v1/ledger/watermarks",
    "/api/v1/ops/raw-health/status",
    "/api/v1/ops/mv-health",
    "/api/v1/ops/raw-health/freshness",
]


@pytest.fixture
def evaluated(db):
    from checks.evaluate import evaluate

    evaluate()


@pytest.mark.parametrize("url", LISTS)
def test_an_unknown_query_parameter_is_a_400_naming_it(read_client, evaluated, url):
    response = read_client.get(url, {"object_nam": "typo"})

    assert response.status_code == 400
    assert list(response.json()) == ["object_nam"]
    assert "Unknown query parameter" in response.json()["object_nam"][0]


@pytest.mark.parametrize("url", ORDERED)
def test_an_invalid_ordering_is_a_400(read_client, evaluated, url):
    response = read_client.get(url, {"ordering": "nonsense"})

    assert response.status_code == 400
    assert list(response.json()) == ["ordering"]


@pytest.mark.parametrize("url", LIMITED)
@pytest.mark.parametrize("limit", ["abc", "0", "-1", "1.5"])
def test_an_invalid_limit_is_a_400(read_client, evaluated, url, limit):
    response = read_client.get(url, {"limit": limit})

    assert response.status_code == 400
    assert list(response.json()) == ["limit"]


def test_an_offset_beyond_a_bigint_is_a_400(read_client):
    response = read_client.get("/api/v1/sources", {"offset": str(2**63)})

    assert response.status_code == 400 and list(response.json()) == ["offset"]


@pytest.mark.parametrize("url", ["/api/v1/sources", "/api/v1/resolvers"])
def test_a_junk_boolean_filter_is_a_400(read_client, url):
    response = read_client.get(url, {"is_active": "maybe"})

    assert response.status_code == 400 and list(response.json()) == ["is_active"]


def test_a_junk_boolean_filter_of_the_data_checks_is_a_400(read_client):
    response = read_client.get("/api/v1/data-checks", {"enabled": "maybe"})

    assert response.status_code == 400 and list(response.json()) == ["enabled"]


@pytest.mark.parametrize(("params", "bad"), [({"state": "bogus"}, "state"), ({"stat": "queued"}, "stat")])
def test_an_invalid_or_unknown_actions_filter_is_a_400(admin_token_client, params, bad):
    response = admin_token_client.get("/api/v1/actions", params)

    assert response.status_code == 400 and list(response.json()) == [bad]


def test_a_junk_uuid_filter_is_a_400(read_client):
    response = read_client.get("/api/v1/ledger/check-results", {"run": "notauuid"})

    assert response.status_code == 400 and list(response.json()) == ["run"]


def test_a_valid_ordering_still_orders(read_client):
    source = SourceFactory()
    RegistryObjectFactory(source=source, object_name="b")
    RegistryObjectFactory(source=source, object_name="a")

    body = read_client.get("/api/v1/ops/source-registry", {"ordering": "-object_name"}).json()

    assert [r["object_name"] for r in body["results"]] == ["b", "a"]


def test_a_detail_takes_no_page_parameters(read_client):
    obj = RegistryObjectFactory()

    assert read_client.get(f"/api/v1/ops/source-registry/{obj.pk}", {"limit": "5"}).status_code == 400


def _views(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_api_view_is_strict():
    api_views = [(path, cb) for path, cb in _views(get_resolver()) if path.startswith("api/v1/")]
    drf = [(path, cb) for path, cb in api_views if hasattr(cb, "cls")]

    assert len(drf) > 25
    assert [path for path, cb in drf if not issubclass(cb.cls, StrictViewMixin)] == []


def test_every_filterset_is_a_strict_one():
    filtersets = {
        cb.cls.filterset_class
        for path, cb in _views(get_resolver())
        if path.startswith("api/v1/") and getattr(getattr(cb, "cls", None), "filterset_class", None)
    }

    assert len(filtersets) > 5
    assert [f.__name__ for f in filtersets if not issubclass(f, FilterSet)] == []


def test_the_api_root_lists_every_endpoint(read_client):
    body = read_client.get("/api/v1/").json()
    paths = {e["path"]: e["methods"] for e in body["endpoints"]}

    assert len(paths) > 25
    assert paths["/api/v1/health/check-now"] == ["POST"]
    assert "GET" in paths["/api/v1/ledger/runs"] and "POST" in paths["/api/v1/ledger/runs"]
    assert {"/api/v1/sources", "/api/v1/ops/health-global", "/api/v1/lineage", "/api/v1/ledger/flaky"} <= set(
        paths
    )
