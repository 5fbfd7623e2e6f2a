"""OpenAPI schema (drf-spectacular): the token authentication, and the error responses
every operation can give, so that the schema lists every status the API answers."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import status


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "common.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An OpsHealth API token (`manage.py token create`; also `Authorization: Token <token>`), "
                "also the OpenLineage API key."
            ),
        }


ERROR = ResolvedComponent(
    name="Error",
    type=ResolvedComponent.SCHEMA,
    object="Error",
    schema={
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "description": "DRF's error shape: what went wrong, in `detail`.",
    },
)
VALIDATION_ERROR = ResolvedComponent(
    name="ValidationError",
    type=ResolvedComponent.SCHEMA,
    object="ValidationError",
    schema={
        "oneOf": [
            {"type": "object", "additionalProperties": {}},
            {"type": "array", "items": {}},
        ],
        "description": (
            "DRF's validation errors: each field (or query parameter) named with its messages, "
            "`non_field_errors` or `detail` otherwise; a list body gets one entry per item."
        ),
    },
)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, with the error responses of every operation.

    Every endpoint authenticates (401), judges the token's scope (403), throttles failed
    token authentications (429) and refuses an unknown query parameter (400, see
    `common.api.StrictViewMixin`); one with a path parameter answers 404 for an unknown
    row, one with a request body 413 and 415 for a body too large or not JSON. A view
    adds the statuses of its own errors in `StrictViewMixin.error_statuses` (422 for the
    ledger's ingestion, 409 for a conflict), each with the body of DRF's validation
    errors (422) or its error shape (the others).
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, component in self._error_responses().items():
            self.registry.register_on_missing(component)
            responses.setdefault(str(code), self._get_response_for_code(component.ref, str(code)))
        return responses

    def _error_responses(self) -> dict[int, ResolvedComponent]:
        errors = {
            status.HTTP_400_BAD_REQUEST: VALIDATION_ERROR,
            status.HTTP_401_UNAUTHORIZED: ERROR,
            status.HTTP_403_FORBIDDEN: ERROR,
            status.HTTP_429_TOO_MANY_REQUESTS: ERROR,
        }
        if "{" in self.path:
            errors[status.HTTP_404_NOT_FOUND] = ERROR
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            errors[status.HTTP_413_REQUEST_ENTITY_TOO_LARGE] = ERROR
            errors[status.HTTP_415_UNSUPPORTED_MEDIA_TYPE] = ERROR
        for code in getattr(self.view, "error_statuses", ()):  # StrictViewMixin's
            errors[code] = VALIDATION_ERROR if code == status.HTTP_422_UNPROCESSABLE_ENTITY else ERROR
        return errors
