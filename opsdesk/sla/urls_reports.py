"""Pages: service levels (the overview and the reports)."""

from django.urls import path

from opsdesk.sla import views_reports

urlpatterns = [
    path("", views_reports.overview, name="sla-overview"),
    path("reports/", views_reports.report_index, name="sla-reports"),
    path("reports/<slug:slug>/", views_reports.report, name="sla-report"),
]
