from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "opsdesk.vendors"
    label = "vendors"
    verbose_name = "Vendors"
