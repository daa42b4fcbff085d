from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opsdesk.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from opsdesk.core import audit, lookups, tasks  # noqa: F401  (signals, jobs, lookups)
        from opsdesk.core.dbtriggers import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="opsdesk_audit_triggers")
