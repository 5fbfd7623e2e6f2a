"""JSON nested deeper than OPSHEALTH_MAX_JSON_DEPTH is refused with 400 on every JSON
endpoint, before the parser recurses; RunLogger refuses it too."""

import pytest
from django.test import override_settings

from ledger import bounds
from ledger.logger import RunLogger
from ledger.models import Run
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_args(depth: int) -> str:
    """A run event whose `args` value nests `depth` levels (the event object is one more)."""
    return (
        '{"pipeline": "p", "external_run_id": "r", "status": "success", "args": {"a": '
        + nested(depth - 2)
        + "}}"
    )


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", "/api/v1/lineage"),
        ("post", "/api/v1/lineage/batch"),
        ("post", "/api/v1/ledger/runs"),
        ("post", "/api/v1/ledger/runs/bulk"),
        ("post", "/api/v1/resolvers/simulate"),
        ("post", "/api/v1/resolvers"),
        ("post", "/api/v1/sources"),
        ("patch", "/api/v1/ops/source-registry/{id}"),
    ],
)
def test_deep_json_is_400_everywhere(staff_client, method, url):
    url = url.format(id=RegistryObjectFactory().pk)
    response = getattr(staff_client, method)(url, data=nested(960), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "deeper than 64" in response.json()["detail"]


def test_run_args_940_deep_are_refused_and_64_accepted(ingest_client):
    response = ingest_client.post("/api/v1/ledger/runs", data=deep_args(940), content_type="application/json")
    assert response.status_code == 400
    assert (
        ingest_client.post(
            "/api/v1/ledger/runs", data=deep_args(64), content_type="application/json"
        ).status_code
        == 201
    )
    with override_settings(OPSHEALTH_MAX_JSON_DEPTH=8):
        response = ingest_client.post(
            "/api/v1/ledger/runs", data=deep_args(9), content_type="application/json"
        )
    assert response.status_code == 400


def test_brackets_inside_strings_do_not_count():
    text = '{"a": "' + "[" * 100 + '", "b": "\\"]]]"}'
    assert not bounds.json_too_deep(text.encode(), 2)
    assert bounds.json_too_deep(('{"a": ' + nested(3) + "}").encode(), 3)


def test_run_logger_refuses_deep_args():
    args: dict = {}
    inner = args
    for _ in range(940):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(bounds.Refused, match="args"):
        RunLogger("job", args=args).__enter__()
    assert not Run.objects.exists()
