"""Ledger admin, one module per area (autodiscover imports this package)."""

from ledger.admin import ledger, tokens  # noqa: F401
