"""A chunked request body (no Content-Length), as gunicorn hands it over de-chunked
(`wsgi.input_terminated`), is read, not taken for an empty body."""

import io
import json

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import RequestFactory, override_settings

from ledger.models import Run
from opshealth.wsgi import application

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi():
    """Call the WSGI application in the test's transaction (as Django's test client
    does, neither the start nor the end of the request may close the connection)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

    def call(body: bytes, token: str) -> tuple[str, bytes]:
        environ = RequestFactory()._base_environ(
            PATH_INFO="/api/v1/ledger/runs",
            REQUEST_METHOD="POST",
            CONTENT_TYPE="application/json",
            HTTP_TRANSFER_ENCODING="chunked",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        environ.pop("CONTENT_LENGTH", None)
        environ.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
        status = []
        chunks = application(environ, lambda s, headers: status.append(s))
        return status[0], b"".join(chunks)

    yield call
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_a_chunked_body_is_read(wsgi, ingest_token):
    body = json.dumps({"pipeline": "load", "external_run_id": "r1", "status": "success"}).encode()
    status, content = wsgi(body, ingest_token)
    assert status.startswith("201"), content
    assert Run.objects.get().external_run_id == "r1"


def test_a_chunked_body_above_the_limit_is_413(wsgi, ingest_token):
    body = json.dumps(
        {"pipeline": "load", "external_run_id": "r1", "status": "success", "args": {"x": "y" * 2000}}
    )
    with override_settings(OPSHEALTH_MAX_PAYLOAD_BYTES=1000):
        status, _ = wsgi(body.encode(), ingest_token)
    assert status.startswith("413")
    assert not Run.objects.exists()
