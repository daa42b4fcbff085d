"""API routes: business calendars."""

from ninja import Router

router = Router(tags=["Business calendars"])
