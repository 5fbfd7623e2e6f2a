from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Installed as an app for its template filters (`{% load dashboard %}`)."""

    name = "opshealth.dashboard"
    label = "dashboard"
    verbose_name = "OpsHealth dashboard"
