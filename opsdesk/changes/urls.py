from django.urls import include, path

urlpatterns = [
    path("cab/", include("opsdesk.changes.urls_cab")),
    path("calendar/", include("opsdesk.changes.urls_calendar")),
    path("deployments/", include("opsdesk.changes.urls_deployments")),
    path("risk/", include("opsdesk.changes.urls_risk")),
    path("reviews/", include("opsdesk.changes.urls_reviews")),
    path("", include("opsdesk.changes.urls_changes")),
]
