from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "opsdesk.changes"
    label = "changes"
    verbose_name = "Change enablement and release"

    def ready(self) -> None:
        from opsdesk.changes.models import Change
        from opsdesk.servicedesk.choices import SubjectType
        from opsdesk.servicedesk.timeline import register_subject

        register_subject(Change, SubjectType.CHANGE)
        # Each part registers its workflow hooks, change-page sections, incident panels and
        # periodic jobs when imported.
        from opsdesk.changes import (  # noqa: F401
            approvals,
            deployments,
            induced,
            reviews,
            risk,
            windows,
        )
