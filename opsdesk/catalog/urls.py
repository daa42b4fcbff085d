"""Pages of service requests, approvals, fulfilment tasks and the catalogue admin (/catalog/)."""

from django.urls import path

from opsdesk.catalog import views

urlpatterns = [
    path("", views.request_list, name="catalog-requests"),
    path("requests/<int:request_id>/", views.request_detail, name="catalog-request"),
    path(
        "requests/<int:request_id>/comment", views.request_comment, name="catalog-request-comment"
    ),
    path("requests/<int:request_id>/cancel", views.request_cancel, name="catalog-request-cancel"),
    path("approvals/", views.approval_list, name="catalog-approvals"),
    path(
        "approvals/<int:approval_id>/decide", views.approval_decide, name="catalog-approval-decide"
    ),
    path("tasks/", views.task_list, name="catalog-tasks"),
    path("tasks/<int:task_id>/action", views.task_action, name="catalog-task-action"),
    path("items/", views.item_list, name="catalog-items"),
    path("items/new/", views.item_edit, name="catalog-item-new"),
    path("items/<int:item_id>/edit/", views.item_edit, name="catalog-item-edit"),
]
