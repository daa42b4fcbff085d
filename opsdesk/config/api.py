"""The one API object, mounted at /api/v1/. Each app contributes its routers here."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.urls import URLPattern
from ninja import NinjaAPI

import opsdesk
from opsdesk.accounts.routes import me_router, teams_router, tokens_router, users_router
from opsdesk.catalog.api import router as catalog_router
from opsdesk.changes.api.approvals import router as change_approvals_router
from opsdesk.changes.api.changes import router as changes_router
from opsdesk.changes.api.deployments import router as deployments_router
from opsdesk.changes.api.induced import router as change_induced_router
from opsdesk.changes.api.risk import router as change_risk_router
from opsdesk.changes.api.windows import router as change_windows_router
from opsdesk.cmdb.api.assets import router as cmdb_assets_router
from opsdesk.cmdb.api.cis import router as cmdb_cis_router
from opsdesk.cmdb.api.imports import router as cmdb_imports_router
from opsdesk.core.api import AUTH, OpsDeskParser, install_error_handlers, json_method_not_allowed
from opsdesk.core.api_calendars import router as calendars_router
from opsdesk.core.routes import audit_router, health_router
from opsdesk.core.routes import router as organizations_router
from opsdesk.events.api.groups import router as events_groups_router
from opsdesk.events.api.intake import router as events_intake_router
from opsdesk.events.api.metrics import router as events_metrics_router
from opsdesk.events.api.runbooks import router as events_runbooks_router
from opsdesk.events.api.silences import router as events_silences_router
from opsdesk.knowledge.api import router as knowledge_router
from opsdesk.notify.api import router as notify_router
from opsdesk.portal.api import router as surveys_router
from opsdesk.problems.api import router as problems_router
from opsdesk.servicedesk.api.config import router as servicedesk_config_router
from opsdesk.servicedesk.api.incidents import router as incidents_router
from opsdesk.servicedesk.api.major import router as major_router
from opsdesk.sla.api.chain import router as sla_chain_router
from opsdesk.sla.api.clocks import router as sla_clocks_router
from opsdesk.sla.api.definitions import router as sla_definitions_router
from opsdesk.sla.api.prediction import router as sla_prediction_router
from opsdesk.sla.api.reports import router as sla_reports_router
from opsdesk.vendors.api import router as vendors_router


class OpsDeskAPI(NinjaAPI):
    """NinjaAPI whose URL views answer an unsupported method with a 405 in the error shape."""

    @property
    def urls(self) -> Any:
        patterns, app_name, namespace = super().urls
        wrapped = [
            URLPattern(p.pattern, json_method_not_allowed(p.callback, self), p.default_args, p.name)
            if isinstance(p, URLPattern)
            else p
            for p in patterns
        ]
        return wrapped, app_name, namespace


api = OpsDeskAPI(
    title="OpsDesk API",
    version=opsdesk.__version__,
    description=(
        "The OpsDesk REST API. Authenticate with `Authorization: Bearer <token>` "
        "(create one with `opsdesk token create --user EMAIL` or on your profile page) "
        "or with a browser session. Errors always have the shape "
        '`{"detail": "...", "errors": [{"field": "...", "message": "..."}]}`; lists are '
        "paginated with `limit` and `offset` and report a `total`."
    ),
    auth=AUTH,
    parser=OpsDeskParser(),
    urls_namespace="api",
    docs_decorator=csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]}),
)
install_error_handlers(api)

for router in (
    health_router,
    me_router,
    organizations_router,
    users_router,
    teams_router,
    tokens_router,
    audit_router,
    cmdb_cis_router,
    cmdb_imports_router,
    cmdb_assets_router,
    incidents_router,
    major_router,
    servicedesk_config_router,
    problems_router,
    knowledge_router,
    catalog_router,
    surveys_router,
    notify_router,
    calendars_router,
    vendors_router,
    sla_definitions_router,
    sla_clocks_router,
    sla_chain_router,
    sla_reports_router,
    sla_prediction_router,
    # Routers with fixed paths under /changes/ (the deploy gate) come before the one whose
    # /changes/{change_id} would otherwise take them.
    deployments_router,
    change_risk_router,
    change_approvals_router,
    change_windows_router,
    change_induced_router,
    changes_router,
    events_intake_router,
    events_groups_router,
    events_metrics_router,
    events_runbooks_router,
    events_silences_router,
):
    api.add_router("", router)
