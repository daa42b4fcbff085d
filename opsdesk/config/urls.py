from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from opsdesk.config.api import api
from opsdesk.core.metrics import metrics_view

admin.site.site_header = "OpsDesk administration"
admin.site.site_title = "OpsDesk admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("cmdb/", include("opsdesk.cmdb.urls")),
    path("desk/", include("opsdesk.servicedesk.urls")),
    path("problems/", include("opsdesk.problems.urls")),
    path("kb/", include("opsdesk.knowledge.urls")),
    path("catalog/", include("opsdesk.catalog.urls")),
    path("portal/", include("opsdesk.portal.urls")),
    path("notifications/", include("opsdesk.notify.urls")),
    path("sla/", include("opsdesk.sla.urls")),
    path("calendars/", include("opsdesk.core.urls_calendars")),
    path("vendors/", include("opsdesk.vendors.urls")),
    path("changes/", include("opsdesk.changes.urls")),
    path("events/", include("opsdesk.events.urls")),
    path("", include("opsdesk.accounts.urls")),
    path("", include("opsdesk.core.urls")),
]

handler400 = "opsdesk.core.views.bad_request"
handler404 = "opsdesk.core.views.not_found"
handler500 = "opsdesk.core.views.server_error"
