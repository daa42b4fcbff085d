"""Pages of problem management, mounted at /problems/."""

from opsdesk.problems.views import urlpatterns

__all__ = ["urlpatterns"]
