from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "opsdesk.catalog"
    label = "catalog"
    verbose_name = "Service catalogue and requests"

    def ready(self) -> None:
        from opsdesk.catalog.models import FulfilmentTask, RequestItem, ServiceRequest
        from opsdesk.servicedesk.choices import SubjectType
        from opsdesk.servicedesk.timeline import register_subject

        register_subject(ServiceRequest, SubjectType.REQUEST)
        register_subject(RequestItem, SubjectType.REQUEST_ITEM)
        register_subject(FulfilmentTask, SubjectType.TASK)
