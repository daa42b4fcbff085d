from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "opsdesk.sla"
    label = "sla"
    verbose_name = "Service levels"

    def ready(self) -> None:
        # Each module registers what it contributes: receivers recompute clocks on ticket
        # history, tasks the sweep, prediction_tasks the scoring of open clocks, panels and
        # chain_panels the incident-page panels.
        from opsdesk.sla import (  # noqa: F401
            chain_panels,
            panels,
            prediction_tasks,
            receivers,
            tasks,
        )
