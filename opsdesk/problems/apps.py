from django.apps import AppConfig


class ProblemsConfig(AppConfig):
    name = "opsdesk.problems"
    label = "problems"
    verbose_name = "Problems and known errors"

    def ready(self) -> None:
        from opsdesk.problems.models import KnownError, Problem
        from opsdesk.problems.panels import known_error_panel
        from opsdesk.servicedesk.choices import SubjectType
        from opsdesk.servicedesk.panels import register_panel
        from opsdesk.servicedesk.timeline import register_subject

        register_subject(Problem, SubjectType.PROBLEM)
        register_subject(KnownError, SubjectType.KNOWN_ERROR)
        register_panel(known_error_panel)
