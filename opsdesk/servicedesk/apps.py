from django.apps import AppConfig


class ServiceDeskConfig(AppConfig):
    name = "opsdesk.servicedesk"
    label = "servicedesk"
    verbose_name = "Service desk"

    def ready(self) -> None:
        from opsdesk.servicedesk import tasks  # noqa: F401  (registers periodic jobs)
        from opsdesk.servicedesk.choices import SubjectType
        from opsdesk.servicedesk.models import Incident
        from opsdesk.servicedesk.timeline import register_subject

        register_subject(Incident, SubjectType.INCIDENT)
