"""API routes: Service-level reports."""

from ninja import Router

router = Router(tags=["Service-level reports"])
