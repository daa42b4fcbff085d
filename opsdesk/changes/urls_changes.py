"""Pages of changes and the standard-change catalogue, mounted at /changes/."""

from opsdesk.changes.views import urlpatterns

__all__ = ["urlpatterns"]
