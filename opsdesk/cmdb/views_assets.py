"""Web pages of assets, licences, expiring items and CMDB health."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
