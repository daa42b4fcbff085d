"""Pages: service levels (clocks)."""

from django.urls import path

from opsdesk.sla import views_clocks

urlpatterns = [
    path("", views_clocks.queue, name="sla-clocks"),
    path("incident/<int:pk>/explain", views_clocks.incident_explain, name="sla-clock-explain"),
    path("incident/<int:pk>/panel", views_clocks.incident_panel, name="sla-clock-panel"),
]
