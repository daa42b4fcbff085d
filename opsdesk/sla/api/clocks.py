"""API routes: Service-level clocks."""

from ninja import Router

router = Router(tags=["Service-level clocks"])
