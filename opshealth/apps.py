from django.apps import AppConfig


class OpsHealthConfig(AppConfig):
    name = "opshealth"
    verbose_name = "OpsHealth"

    def ready(self) -> None:
        from opshealth import cluster, system_checks  # noqa: F401  (registers the checks)

        cluster.connect()
