from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "opsdesk.notify"
    label = "notify"
    verbose_name = "Notifications and email"

    def ready(self) -> None:
        from opsdesk.notify import events, tasks  # noqa: F401  (registers the periodic job)
        from opsdesk.servicedesk.timeline import activity_recorded

        activity_recorded.connect(
            events.on_activity_recorded, dispatch_uid="opsdesk.notify.on_activity_recorded"
        )
