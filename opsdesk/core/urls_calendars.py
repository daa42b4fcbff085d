"""Pages: business calendars, mounted at /calendars/."""

from opsdesk.core.views_calendars import urlpatterns

__all__ = ["urlpatterns"]
