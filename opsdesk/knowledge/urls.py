"""The knowledge base pages, mounted at /kb/."""

from opsdesk.knowledge.views import urlpatterns

__all__ = ["urlpatterns"]
