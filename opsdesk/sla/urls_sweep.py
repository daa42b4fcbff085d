"""Pages: the recompute log, mounted at /sla/recomputes/."""

from django.urls import path

from opsdesk.sla import views_sweep

urlpatterns = [
    path("", views_sweep.recompute_log, name="sla-recomputes"),
    path("<int:recompute_id>/", views_sweep.recompute_detail, name="sla-recompute"),
]
