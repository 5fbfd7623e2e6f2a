"""`?limit=` and `?offset=` beyond what PostgreSQL's bigint holds never reach the
database: a huge limit is cut to the maximum page, a huge offset is a 400."""

import pytest

from tests.factories.ledger import ClientFactory, PipelineFactory, WatermarkFactory
from tests.factories.registry import RegistryObjectFactory, ResolverRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rows(db):
    """A row for every list (an empty list answers before it pages)."""
    RegistryObjectFactory(schema_name="raw", object_name="orders", layer="RAW")
    ResolverRuleFactory()
    PipelineFactory(client=ClientFactory())
    WatermarkFactory()


LIST_ENDPOINTS = [
    "/api/v1/sources",
    "/api/v1/resolvers",
    "/api/v1/ops/source-registry",
    "/api/v1/ledger/clients",
    "/api/v1/ledger/pipelines",
    "/api/v1/ledger/watermarks",
    "/api/v1/ops/raw-health/status",
]
HUGE = str(2**64)


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_a_limit_above_bigint_is_cut_to_the_maximum_page(viewer_client, url):
    response = viewer_client.get(f"{url}?limit={HUGE}")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_an_offset_above_bigint_is_400(viewer_client, url):
    response = viewer_client.get(f"{url}?offset={HUGE}")
    assert response.status_code == 400
    assert "offset" in response.json()
