"""What every app may import and that knows nothing of the domain (healthchecks' `hc/lib`):
API plumbing, token authentication and scopes, durations."""
