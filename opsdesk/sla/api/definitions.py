"""API routes: Service-level definitions."""

from ninja import Router

router = Router(tags=["Service-level definitions"])
