from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "opsdesk.events"
    label = "events"
    verbose_name = "Event management"

    def ready(self) -> None:
        # The pipeline's stages register themselves when imported; so do the incident-page
        # panel and the periodic jobs (quiet groups resolve, runbook runs are verified).
        from opsdesk.events import (  # noqa: F401
            panels,
            runbook_panel,
            runbook_tasks,
            stages,
            tasks,
        )
