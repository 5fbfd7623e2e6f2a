"""The ledger's admin, one module per area (tokens here; runs etc. in `ledger.admin.ledger`)."""

from ledger.admin import tokens  # noqa: F401
