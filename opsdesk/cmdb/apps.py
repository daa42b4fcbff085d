from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CmdbConfig(AppConfig):
    name = "opsdesk.cmdb"
    label = "cmdb"
    verbose_name = "CMDB and assets"

    def ready(self) -> None:
        post_migrate.connect(_sync, sender=self, dispatch_uid="opsdesk_cmdb_builtin")


def _sync(sender, **kwargs):  # type: ignore[no-untyped-def]
    from opsdesk.cmdb.builtin import sync_builtin

    sync_builtin()
