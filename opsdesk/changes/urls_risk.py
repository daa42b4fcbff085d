"""Pages: change risk, mounted at /changes/risk/."""

from opsdesk.changes.views_risk import urlpatterns

__all__ = ["urlpatterns"]
