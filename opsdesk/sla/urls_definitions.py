"""Pages: service-level definitions, mounted at /sla/definitions/."""

from opsdesk.sla.views_definitions import urlpatterns

__all__ = ["urlpatterns"]
