"""Django admin for configuration. Changes made here are audited like any other."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsdesk.core.models import AuditRecord, NumberSequence, Organization, PeriodicJobRun


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "time_zone", "countries", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "timestamp",
        "actor_email",
        "action",
        "object_type",
        "object_repr",
        "organization_id",
    )
    list_filter = ("action", "object_type")
    search_fields = ("object_repr", "actor_email", "request_id", "object_id")
    date_hierarchy = "timestamp"


@admin.register(PeriodicJobRun)
class PeriodicJobRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "tick", "worker", "claimed_at", "task_result_id")
    list_filter = ("job",)


@admin.register(NumberSequence)
class NumberSequenceAdmin(ReadOnlyAdmin):
    list_display = ("organization", "prefix", "last_value")
