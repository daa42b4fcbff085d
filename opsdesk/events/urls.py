"""Pages of event management, mounted at /events/."""

from __future__ import annotations

from django.urls import include, path

from opsdesk.events import views_groups as groups
from opsdesk.events import views_integrations as integrations
from opsdesk.events import views_silences as silences

urlpatterns = [
    path("", groups.group_list, name="events-groups"),
    path("groups/<int:group_id>/", groups.group_detail, name="events-group"),
    path("groups/<int:group_id>/graph.json", groups.group_graph, name="events-group-graph"),
    path("groups/<int:group_id>/merge/", groups.group_merge, name="events-group-merge"),
    path("groups/<int:group_id>/split/", groups.group_split, name="events-group-split"),
    path("groups/<int:group_id>/resolve/", groups.group_resolve, name="events-group-resolve"),
    path("alerts/", groups.alert_list, name="events-alerts"),
    path("alerts/<int:alert_id>/", groups.alert_detail, name="events-alert"),
    path("silences/", silences.silence_list, name="events-silences"),
    path("silences/new/", silences.silence_new, name="events-silence-new"),
    path(
        "silences/<int:silence_id>/expire/", silences.silence_expire, name="events-silence-expire"
    ),
    path("integrations/", integrations.integration_list, name="events-integrations"),
    path(
        "integrations/<int:integration_id>/rotate/",
        integrations.integration_rotate,
        name="events-integration-rotate",
    ),
    path(
        "integrations/<int:integration_id>/active/",
        integrations.integration_active,
        name="events-integration-active",
    ),
    path("settings/", integrations.correlation_settings, name="events-settings"),
    path("runbooks/", include("opsdesk.events.urls_runbooks")),
]
