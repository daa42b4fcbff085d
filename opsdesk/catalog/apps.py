from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "opsdesk.catalog"
    label = "catalog"
    verbose_name = "Service catalogue and requests"
