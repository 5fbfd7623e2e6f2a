"""API plumbing shared by every app's endpoints."""

import hashlib
import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import DatabaseError, models
from django.http import HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import MethodNotAllowed, ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
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


def not_found(request, exception):
    """Django's 404 handler: under /api/ a path no endpoint takes (`/api/v1/sources/0.5`)
    is a 404 in DRF's error shape, like an unknown row; elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


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


class StrictViewMixin:
    """The first base of every API view: the endpoint answers only what it understands.

    - A method the endpoint lacks is a 405, decided before authentication: a GET on a
      POST-only endpoint is not a 403.
    - A query parameter the endpoint does not take is a 400 naming it. It takes its
      filterset's filters, `search` and `ordering` when enabled, its paginator's
      parameters (on lists), the fields of `query_serializer` and the names in
      `query_params`; `format` everywhere (DRF's format override).

    `error_statuses` are the statuses of the view's own errors (a 409, a 422), which the
    schema documents besides those of every endpoint (`common.schema.AutoSchema`); an
    `@action` takes its own.
    """

    query_serializer: type[serializers.Serializer] | None = None
    query_params: tuple[str, ...] = ()
    error_statuses: tuple[int, ...] = ()

    def initial(self, request, *args, **kwargs):
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)
        allowed = self.allowed_query_params()
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            takes = ", ".join(sorted(allowed - {"format"})) or "none"
            raise ValidationError(
                {name: [f"Unknown query parameter; this endpoint takes: {takes}."] for name in unknown}
            )

    def allowed_query_params(self) -> set[str]:
        names = {"format", *self.query_params}
        if self.query_serializer is not None:
            names |= set(self.query_serializer().fields)
        for backend in getattr(self, "filter_backends", ()):
            names |= _backend_params(backend, self)
        paginator = getattr(self, "paginator", None)
        if paginator is not None and getattr(self, "action", "list") == "list":
            params = (getattr(paginator, name) for name in dir(paginator) if name.endswith("_query_param"))
            names |= {param for param in params if isinstance(param, str)}
        return names

    def query(self) -> dict:
        """This request's query parameters validated by `query_serializer` (400 naming the
        bad ones)."""
        params = self.query_serializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data


def _backend_params(backend, view) -> set[str]:
    if issubclass(backend, DjangoFilterBackend):
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            return set(filterset_class.base_filters)
        fields = getattr(view, "filterset_fields", None) or ()
        if isinstance(fields, dict):
            return {
                f if lookup == "exact" else f"{f}__{lookup}"
                for f, lookups in fields.items()
                for lookup in lookups
            }
        return set(fields)
    if issubclass(backend, SearchFilter):
        return {backend.search_param} if getattr(view, "search_fields", None) else set()
    if issubclass(backend, OrderingFilter):
        return {backend.ordering_param}
    return set()


class ApiRootView(StrictViewMixin, APIView):
    """Every endpoint of the API under this root with its methods: the operations the
    OpenAPI schema documents (drf-spectacular's enumeration), so the two cannot differ."""

    @extend_schema(
        responses=inline_serializer(
            "ApiRoot",
            fields={
                "schema": serializers.CharField(),
                "docs": serializers.CharField(),
                "endpoints": inline_serializer(
                    "ApiRootEndpoint",
                    fields={
                        "path": serializers.CharField(),
                        "methods": serializers.ListField(child=serializers.CharField()),
                    },
                    many=True,
                ),
            },
        )
    )
    def get(self, request):
        prefix = request.path.rstrip("/") + "/"
        methods: dict[str, list[str]] = {}
        for path, _regex, method, _view in EndpointEnumerator().get_api_endpoints():
            if path.startswith(prefix) and path != prefix:
                methods.setdefault(path.rstrip("/"), []).append(method)
        return Response(
            {
                "schema": request.build_absolute_uri("/api/schema/"),
                "docs": request.build_absolute_uri("/api/docs/"),
                "endpoints": [
                    {"path": path, "methods": sorted(set(m))} for path, m in sorted(methods.items())
                ],
            }
        )
