"""Request bodies are bounded before anything reads them."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse


class BodyLimitMiddleware:
    """Answer 413 to a request announcing a body over OPSHEALTH_MAX_PAYLOAD_BYTES, on
    every path (API, admin, pages), before a byte of it is read.

    Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) leaves out uploaded files, so a
    200 MB multipart body would be read to the end and spooled to disk. A chunked body
    (no Content-Length) is given a length, read at most to the limit plus one byte, by
    `opshealth.wsgi.ChunkedBody` before this runs. It sits before the CSRF middleware,
    which reads form bodies.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.OPSHEALTH_MAX_PAYLOAD_BYTES
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
        if announced > limit:
            return JsonResponse(
                {"detail": f"Payload too large: the request body exceeds the limit of {limit} bytes."},
                status=413,
            )
        return self.get_response(request)
