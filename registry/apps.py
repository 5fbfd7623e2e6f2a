from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"

    def ready(self) -> None:
        # Connects the receiver of ledger.signals.assets_ingested (asset links).
        from registry import links  # noqa: F401
