"""The ledger's admin, one module per area (tokens; runs, pipelines etc. in `ledger.admin.ledger`)."""

from ledger.admin import ledger, tokens  # noqa: F401
