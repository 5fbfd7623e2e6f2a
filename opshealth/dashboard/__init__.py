"""The dashboard at /ops/health: server-rendered pages over the same model and queryset
methods as the API (no rule is implemented twice). Tabs live in `tabs/`, one module each."""
