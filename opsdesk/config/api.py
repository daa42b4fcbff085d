"""The one API object, mounted at /api/v1/. Each app contributes its routers here."""

from __future__ import annotations

from csp.decorators import csp_update
from ninja import NinjaAPI

import opsdesk
from opsdesk.accounts.routes import me_router, teams_router, tokens_router, users_router
from opsdesk.core.api import AUTH, install_error_handlers
from opsdesk.core.routes import audit_router, health_router
from opsdesk.core.routes import router as organizations_router

api = NinjaAPI(
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
):
    api.add_router("", router)
