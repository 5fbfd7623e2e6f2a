from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "checks"

    def ready(self) -> None:
        # Connects the receiver of registry.signals.source_discovered (opshealth.yml files).
        from checks.datachecks import definitions  # noqa: F401
