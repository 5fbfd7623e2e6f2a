"""The ledger's API: the write side (`ingest`, `lineage`) and the read side (`read`)."""

from ledger.api import schema  # noqa: F401  (registers the token auth scheme with drf-spectacular)
