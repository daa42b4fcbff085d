"""Pages of self-healing runbooks, mounted at /events/runbooks/ (see `views_runbooks`)."""

from django.urls import path

from opsdesk.events import views_runbooks as views

urlpatterns = [
    path("", views.runbook_list, name="events-runbooks"),
    path("new/", views.runbook_new, name="events-runbook-new"),
    path("<int:runbook_id>/edit/", views.runbook_edit, name="events-runbook-edit"),
    path("<int:runbook_id>/delete/", views.runbook_delete, name="events-runbook-delete"),
    path("runs/", views.run_list, name="events-runbook-runs"),
    path("runs/<int:run_id>/", views.run_detail, name="events-runbook-run"),
    path("runs/<int:run_id>/approve/", views.run_approve, name="events-runbook-run-approve"),
    path("runs/<int:run_id>/reject/", views.run_reject, name="events-runbook-run-reject"),
]
