"""The requester portal (/portal/)."""

from django.urls import path

from opsdesk.portal import views

urlpatterns = [
    path("", views.home, name="portal-home"),
    path("report/", views.report, name="portal-report"),
    path("catalog/", views.catalog, name="portal-catalog"),
    path("catalog/<int:item_id>/", views.order, name="portal-order"),
    path("tickets/", views.tickets, name="portal-tickets"),
    path("incidents/<int:incident_id>/", views.incident_detail, name="portal-incident"),
    path(
        "incidents/<int:incident_id>/comment",
        views.incident_comment,
        name="portal-incident-comment",
    ),
    path(
        "incidents/<int:incident_id>/transition",
        views.incident_transition,
        name="portal-incident-transition",
    ),
    path("requests/<int:request_id>/", views.request_detail, name="portal-request"),
    path("requests/<int:request_id>/comment", views.request_comment, name="portal-request-comment"),
    path("requests/<int:request_id>/cancel", views.request_cancel, name="portal-request-cancel"),
    path("surveys/<int:survey_id>/answer", views.survey_answer, name="portal-survey-answer"),
    path("files/<int:attachment_id>/", views.attachment, name="portal-attachment"),
]
