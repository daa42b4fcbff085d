"""Pages of approvals and the CAB, mounted at /changes/cab/."""

from opsdesk.changes.views_cab import urlpatterns

__all__ = ["urlpatterns"]
