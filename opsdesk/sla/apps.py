from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "opsdesk.sla"
    label = "sla"
    verbose_name = "Service levels"

    def ready(self) -> None:
        from opsdesk.sla import receivers  # noqa: F401  (recompute clocks on ticket history)
