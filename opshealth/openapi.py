"""OpenAPI (drf-spectacular) extensions for OpsHealth's own API plumbing."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `ledger.auth.TokenAuthentication`: `Authorization: Bearer <token>`."""

    target_class = "ledger.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An OpsHealth API token (also `Authorization: Token <token>`).",
        }
