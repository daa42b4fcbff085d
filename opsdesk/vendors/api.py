"""API routes: vendors."""

from ninja import Router

router = Router(tags=["Vendors"])
