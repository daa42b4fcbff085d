"""API routes: Service-level chain."""

from ninja import Router

router = Router(tags=["Service-level chain"])
