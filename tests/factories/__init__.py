"""factory-boy factories for every app's models (one module per app)."""
