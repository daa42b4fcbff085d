from django.urls import path

from opsdesk.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("organization/switch", views.switch_organization, name="switch-organization"),
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/<int:record_id>/", views.audit_detail, name="audit-detail"),
]
