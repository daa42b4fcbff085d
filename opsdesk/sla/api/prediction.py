"""API routes: Breach prediction."""

from ninja import Router

router = Router(tags=["Breach prediction"])
