"""The project's URLs with the deploy gate resolved first, so that its behaviour is tested
even while `/api/v1/changes/{change_id}` (the changes routes, mounted earlier) catches
`/api/v1/changes/gate`. `test_the_gate_route_is_not_shadowed_by_the_change_routes` fails
until the mount order (or `{int:change_id}`) is fixed in the project."""

from django.urls import include, path

from opsdesk.config.api import api


def _gate_view():  # type: ignore[no-untyped-def]
    patterns, _, _ = api.urls
    return next(p.callback for p in patterns if p.name == "deploy_gate")


urlpatterns = [
    path("api/v1/changes/gate", _gate_view(), name="deploy_gate_first"),
    path("", include("opsdesk.config.urls")),
]
