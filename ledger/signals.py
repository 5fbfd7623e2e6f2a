"""Signals the ledger sends upward (it imports nothing from the apps above it)."""

from django.dispatch import Signal

# Sent once per committed ingestion (RunLogger write, REST call, OpenLineage event or
# batch) with `keys`: the set of normalized asset keys it wrote (run assets,
# watermarks, check results). Sent from `transaction.on_commit`, so receivers see the
# committed rows; the registry connects to it to refresh its asset links.
assets_ingested = Signal()
