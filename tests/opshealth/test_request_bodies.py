"""JSON only and size-capped request bodies everywhere: a multipart or form body is 415 on
the API, a body over OPSHEALTH_MAX_PAYLOAD_BYTES is 413 on every path, and neither is
read (a 200 MB upload is refused before its first byte)."""

from __future__ import annotations

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import RequestFactory

from opshealth.wsgi import application

pytestmark = pytest.mark.django_db
MB = 1024 * 1024
MULTIPART = "multipart/form-data; boundary=b0undary"


class Upload:
    """A request body of `size` bytes that counts what the server reads of it."""

    def __init__(self, size: int):
        self.size, self.read_bytes = size, 0

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.read_bytes if n is None or n < 0 else min(n, self.size - self.read_bytes)
        self.read_bytes += n
        return b"x" * n

    def readline(self, limit: int = -1) -> bytes:
        return self.read(min(limit, 64 * 1024) if limit and limit > 0 else 64 * 1024)


@pytest.fixture
def send():
    """Call the WSGI application (the ChunkedBody wrapper included) in the test's
    transaction: the request signals must not close the test's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

    def call(path: str, body: Upload, content_type: str, *, chunked: bool = False, **headers) -> int:
        environ = RequestFactory()._base_environ(
            PATH_INFO=path, REQUEST_METHOD="POST", CONTENT_TYPE=content_type, **headers
        )
        environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(body.size)})
        if chunked:
            del environ["CONTENT_LENGTH"]
            environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
        status = []
        b"".join(application(environ, lambda s, h: status.append(s)))
        return int(status[0].split()[0])

    yield call
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_a_200_mb_multipart_body_to_simulate_is_413_unread(send, read_token):
    body = Upload(200 * MB)
    status = send("/api/v1/resolvers/simulate", body, MULTIPART, HTTP_AUTHORIZATION=f"Bearer {read_token}")
    assert (status, body.read_bytes) == (413, 0)


def test_a_multipart_body_under_the_limit_is_415_unread(send, read_token):
    body = Upload(1 * MB)
    status = send("/api/v1/resolvers/simulate", body, MULTIPART, HTTP_AUTHORIZATION=f"Bearer {read_token}")
    assert (status, body.read_bytes) == (415, 0)


@pytest.mark.parametrize("path", ["/api/v1/resolvers/simulate", "/api/v1/sources", "/api/v1/resolvers"])
def test_the_api_takes_no_form_bodies(admin_token_client, path):
    response = admin_token_client.post(
        path, "names=a&name=b", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["detail"]


def test_a_200_mb_body_to_the_admin_is_413_unread(send):
    body = Upload(200 * MB)
    assert (send("/admin/login/", body, MULTIPART), body.read_bytes) == (413, 0)


def test_a_chunked_200_mb_body_is_read_at_most_to_the_limit(send, read_token, settings):
    body = Upload(200 * MB)
    status = send(
        "/api/v1/resolvers/simulate", body, MULTIPART, chunked=True, HTTP_AUTHORIZATION=f"Bearer {read_token}"
    )
    assert status == 413
    assert body.read_bytes <= settings.OPSHEALTH_MAX_PAYLOAD_BYTES + 1
