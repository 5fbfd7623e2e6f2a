"""Misconfiguration caught at start, with stable ids (`manage.py check`)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register

# Django's, and the embedded server's (Django's, restarting the server it finds down).
POSTGRESQL_BACKENDS = ("django.db.backends.postgresql", "opshealth.embedded_backend")


@register()
def check_settings(app_configs, **kwargs):
    problems = []
    if not settings.DEBUG and settings.SECRET_KEY == "opshealth-insecure-demo-key":
        problems.append(
            Warning(
                "SECRET_KEY is the demo default while DEBUG is off.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value.",
                id="opshealth.W001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"] not in POSTGRESQL_BACKENDS:
        problems.append(
            Error(
                "OpsHealth stores its data in PostgreSQL only.",
                hint="Set DATABASE_URL to a postgresql:// URL, or unset it for the embedded server.",
                id="opshealth.E001",
            )
        )
    if not settings.OPSHEALTH_DEGRADED_THRESHOLD <= settings.OPSHEALTH_HEALTHY_THRESHOLD <= 100:
        problems.append(
            Error(
                "Health bands must satisfy degraded <= healthy <= 100.",
                hint="Check OPSHEALTH_HEALTHY_THRESHOLD and OPSHEALTH_DEGRADED_THRESHOLD.",
                id="opshealth.E002",
            )
        )
    if settings.OPSHEALTH_MAX_PAYLOAD_BYTES <= 0:
        problems.append(
            Error(
                "OPSHEALTH_MAX_PAYLOAD_BYTES must be positive.",
                id="opshealth.E003",
            )
        )
    heartbeat = settings.OPSHEALTH_HEARTBEAT_URL
    if heartbeat and urlsplit(heartbeat).scheme not in ("http", "https"):
        problems.append(
            Error(
                "OPSHEALTH_HEARTBEAT_URL must be an http:// or https:// URL.",
                hint="The URL a healthchecks-compatible service gives for a check.",
                id="opshealth.E004",
            )
        )
    return problems
