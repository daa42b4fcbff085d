"""API operations of this part; routers are mounted in opsdesk/config/api.py."""

from ninja import Router

router = Router(tags=["Incidents"])
