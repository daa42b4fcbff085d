from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opsdesk.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from opsdesk.core import audit, tasks  # noqa: F401  (signal handlers, periodic jobs)
