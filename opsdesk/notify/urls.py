"""Pages under /notifications/."""

from django.urls import path

from opsdesk.notify import views

urlpatterns = [
    path("", views.preferences, name="notify-preferences"),
    path("templates/", views.template_list, name="notify-templates"),
    path("templates/preview/", views.template_preview, name="notify-template-preview"),
    path("templates/<str:event>/<str:channel>/", views.template_edit, name="notify-template-edit"),
    path("webhooks/", views.webhook_list, name="notify-webhooks"),
    path("webhooks/new/", views.webhook_edit, name="notify-webhook-add"),
    path("webhooks/<int:webhook_id>/", views.webhook_edit, name="notify-webhook-edit"),
    path("outbox/", views.outbox, name="notify-outbox"),
    path("outbox/<int:notification_id>/retry/", views.outbox_retry, name="notify-outbox-retry"),
    path("inbound/", views.inbound_list, name="notify-inbound"),
    path("inbound/<int:mail_id>/", views.inbound_detail, name="notify-inbound-detail"),
    path("inbound/<int:mail_id>/action/", views.inbound_action, name="notify-inbound-action"),
]
