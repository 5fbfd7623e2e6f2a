"""Signals the registry sends upward (it imports nothing from `checks` or `opshealth`)."""

from django.dispatch import Signal

# Sent after a discovery of `source` committed (never for a dry run or a failed one):
# `checks` connects to it to load the data checks defined next to the source's code. A
# receiver returns lines for the discovery's summary (or None).
source_discovered = Signal()
