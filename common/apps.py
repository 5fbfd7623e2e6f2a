from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "OpsHealth common"

    def ready(self) -> None:
        from common import lookups, schema  # noqa: F401  (register `__any`; the token auth scheme with drf-spectacular)
