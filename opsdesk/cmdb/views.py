"""Web pages of the CMDB: CI list, CI page, imports."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
