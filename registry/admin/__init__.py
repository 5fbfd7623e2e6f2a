"""Admin of the registry app, one module per topic."""

from registry.admin import objects, rules, sources  # noqa: F401
