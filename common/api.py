"""API plumbing shared by every app's endpoints."""

import hashlib
import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import DatabaseError, models
from django.http import HttpResponse
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.durations import EXAMPLES, parse_duration

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


class DurationField(serializers.DurationField):
    """A duration in OpsHealth's one syntax (`common.durations`): `90m`, `2h`, `1d`,
    `2 hours`, ISO 8601. Positive, unless `allow_zero`. Written out as DRF does
    (`[D ]HH:MM:SS`), which it reads back."""

    default_error_messages = {"invalid": "{message}"}

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        kwargs.setdefault("help_text", f"A duration: {EXAMPLES}.")
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        try:
            return parse_duration(value, allow_zero=self.allow_zero)
        except ValueError as exc:
            self.fail("invalid", message=str(exc))


class ModelSerializer(serializers.ModelSerializer):
    """DRF's, with every model DurationField read by `DurationField` above."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DurationField: DurationField,
    }
