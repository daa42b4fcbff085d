from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "opsdesk.events"
    label = "events"
    verbose_name = "Event management"

    def ready(self) -> None:
        # The pipeline's stages register themselves when imported.
        from opsdesk.events import stages  # noqa: F401
