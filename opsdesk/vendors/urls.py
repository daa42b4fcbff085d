"""Pages: vendors, mounted at /vendors/."""

from opsdesk.vendors.views import urlpatterns

__all__ = ["urlpatterns"]
