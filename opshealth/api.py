"""API plumbing shared by every app's endpoints."""

import hashlib
import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpResponse
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("opshealth.api")


def exception_handler(exc, context):
    """DRF's error shape, plus: a database error never shows SQL to the client.

    The traceback goes to the server log; the client gets a stable, opaque body.
    """
    if isinstance(exc, DatabaseError):
        view = context.get("view")
        logger.exception("database error in %s", type(view).__name__ if view else "API", exc_info=exc)
        return Response({"detail": "database_error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return drf_exception_handler(exc, context)


# Cached responses outlive no change: their key names the state they show. The time-out
# only frees the memory of states gone by.
RENDERED_CACHE_SECONDS = 600


def cached_json(view, state: str, build: Callable[[], object]) -> HttpResponse:
    """The response of `build()`, for data that is a function of `state` (a string that
    changes whenever the data may) and of the request's URL.

    Rendered as JSON, the body is encoded once per state, URL and media type and served
    from the cache after: for the endpoints dashboards poll, serializing and encoding
    cost more than the request's queries. The browsable API renders per request.
    """
    request = view.request
    renderer = request.accepted_renderer
    if not isinstance(renderer, JSONRenderer):
        return Response(build())
    media_type = request.accepted_media_type
    identity = f"{type(view).__name__} {state} {media_type} {request.build_absolute_uri()}"
    key = "json:" + hashlib.sha256(identity.encode()).hexdigest()
    body = cache.get(key)
    if body is None:
        body = renderer.render(build(), media_type, view.get_renderer_context())
        cache.set(key, body, RENDERED_CACHE_SECONDS)
    return HttpResponse(body, content_type=renderer.media_type)
