"""Admin of the registry app, one module per topic."""

from registry.admin import sources  # noqa: F401
