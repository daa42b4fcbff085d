from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "opsdesk.portal"
    label = "portal"
    verbose_name = "Requester portal and surveys"

    def ready(self) -> None:
        from opsdesk.portal import signals  # noqa: F401  (connects the survey listener)
