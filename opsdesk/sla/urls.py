from django.urls import include, path

urlpatterns = [
    path("", include("opsdesk.sla.urls_reports")),
    path("definitions/", include("opsdesk.sla.urls_definitions")),
    path("clocks/", include("opsdesk.sla.urls_clocks")),
    path("chain/", include("opsdesk.sla.urls_chain")),
    path("recomputes/", include("opsdesk.sla.urls_sweep")),
]
