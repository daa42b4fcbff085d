"""Django admin for the CMDB: what administrators configure (classes, relationship types,
health rules) and read-mostly views of what the application writes (CIs, imports).

Configuration rows are validated by the model (JSON Schema, identifier lists) and every
change is audited by the signal handlers, as for any ChangeLogged model. CIs, relationships
and imports are changed through the web UI and the API, whose actions enforce the rules; here
they are read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsdesk.cmdb.models import (
    CIClass,
    CIIdentifier,
    CISourceRecord,
    ConfigurationItem,
    HardwareAsset,
    HealthRule,
    ImportJob,
    RelationshipType,
    SavedFilter,
    SoftwareLicence,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CIClass)
class CIClassAdmin(admin.ModelAdmin):
    list_display = ("label", "key", "category", "is_service", "identifiers", "builtin")
    list_filter = ("category", "is_service", "builtin")
    search_fields = ("key", "label")
    readonly_fields = ("builtin",)
    fieldsets = (
        (None, {"fields": ("key", "label", "category", "description", "is_service", "builtin")}),
        (
            "Identification and reconciliation",
            {
                "fields": ("identifiers", "source_precedence"),
                "description": "Identifiers: attribute keys (or “name”), strongest first, that "
                "recognise a CI across imports. Source precedence: discovery sources in order "
                'of trust, e.g. ["manual", "kubernetes", "azure"].',
            },
        ),
        (
            "Class-specific attributes",
            {
                "fields": ("attribute_schema",),
                "description": "A JSON Schema object; add properties to extend the class "
                "without a migration. Existing CIs are validated against it when their "
                "attributes next change.",
            },
        ),
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Built-in classes are referenced by importers and demo data.
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


@admin.register(RelationshipType)
class RelationshipTypeAdmin(admin.ModelAdmin):
    list_display = ("label", "key", "reverse_label", "propagation", "builtin")
    list_filter = ("propagation", "builtin")
    readonly_fields = ("builtin",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


@admin.register(HealthRule)
class HealthRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "ci_class", "environment", "check_kind", "target", "is_active")
    list_filter = ("is_active", "check_kind", "ci_class")
    search_fields = ("name", "target")


class IdentifierInline(admin.TabularInline):
    model = CIIdentifier
    extra = 0
    can_delete = False
    fields = ("kind", "value")
    readonly_fields = ("kind", "value")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SourceInline(admin.TabularInline):
    model = CISourceRecord
    extra = 0
    can_delete = False
    fields = ("source", "first_seen", "last_seen")
    readonly_fields = ("source", "first_seen", "last_seen")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "ci_class",
        "organization",
        "status",
        "environment",
        "criticality",
        "owner_team",
        "country",
    )
    list_filter = ("organization", "ci_class", "status", "environment", "criticality")
    search_fields = ("name", "description")
    list_select_related = ("ci_class", "organization", "owner_team")
    inlines = (IdentifierInline, SourceInline)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "organization",
        "format",
        "source",
        "filename",
        "dry_run",
        "status",
        "created",
        "updated",
        "unchanged",
        "failed",
        "created_at",
    )
    list_filter = ("organization", "format", "status", "dry_run")
    search_fields = ("number", "filename", "source")
    exclude = ("payload",)


@admin.register(SavedFilter)
class SavedFilterAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "owner", "shared", "query")
    list_filter = ("organization", "shared")


@admin.register(HardwareAsset)
class HardwareAssetAdmin(ReadOnlyAdmin):
    list_display = ("number", "name", "organization", "serial_number", "lifecycle", "warranty_end")
    list_filter = ("organization", "lifecycle")
    search_fields = ("number", "name", "serial_number")


@admin.register(SoftwareLicence)
class SoftwareLicenceAdmin(ReadOnlyAdmin):
    list_display = ("number", "product", "publisher", "organization", "metric", "entitlements")
    list_filter = ("organization", "metric")
    search_fields = ("number", "product", "publisher")
