"""Pages: deployments from CI/CD pipelines, mounted at /changes/deployments/."""

from opsdesk.changes.views_deployments import urlpatterns

__all__ = ["urlpatterns"]
