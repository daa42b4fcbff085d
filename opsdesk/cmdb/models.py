"""The CMDB: classes, configuration items, identifiers, relationships, assets and licences."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.choices import (
    AssetLifecycle,
    CIStatus,
    Criticality,
    DataClassification,
    Environment,
    ImportFormat,
    ImportStatus,
    LicenceMetric,
    Propagation,
)
from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Numbered, TenantOwned
from opsdesk.core.permissions import Action, Role


def validate_json_schema(value: Any) -> None:
    from jsonschema import Draft202012Validator, SchemaError

    if not isinstance(value, dict):
        raise ValidationError("The attribute schema must be a JSON object.")
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValidationError(f"Not a valid JSON Schema: {exc.message}") from exc


def validate_string_list(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError("Must be a list of non-empty strings.")


class GlobalConfig(ChangeLogged):
    """Platform-wide configuration rows: readable by anyone signed in, changed by superusers."""

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def visible_to(cls, user: Any) -> models.QuerySet:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return cls.objects.none()
        return cls.objects.all()


class CIClass(GlobalConfig):
    """A kind of configuration item, with the schema of its class-specific attributes.

    Administrators extend ``attribute_schema`` (JSON Schema) without a migration.
    ``identifiers`` lists, strongest first, the attributes that identify a CI of this class
    across imports (``name`` means the CI's name within the class).
    """

    key = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=100)
    category = models.CharField(max_length=40)
    description = models.TextField(blank=True)
    attribute_schema = models.JSONField(default=dict, validators=[validate_json_schema])
    identifiers = models.JSONField(default=list, validators=[validate_string_list])
    source_precedence = models.JSONField(
        default=list,
        blank=True,
        help_text="Sources in order of trust, highest first; e.g. ['manual', 'kubernetes', 'azure'].",
    )
    is_service = models.BooleanField(
        default=False, help_text="Business services are where impact analysis stops."
    )
    builtin = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["category", "label"]
        verbose_name = "CI class"
        verbose_name_plural = "CI classes"

    def __str__(self) -> str:
        return self.label


class RelationshipType(GlobalConfig):
    """A typed, directed relationship, read "source <label> target" (app *runs on* server)."""

    key = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=60)
    reverse_label = models.CharField(max_length=60)
    propagation = models.CharField(max_length=12, choices=Propagation.choices)
    builtin = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class ConfigurationItem(TenantOwned, ChangeLogged):
    name = models.CharField(max_length=255)
    ci_class = models.ForeignKey(CIClass, on_delete=models.PROTECT, related_name="cis")
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=CIStatus.choices, default=CIStatus.OPERATIONAL)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.PRODUCTION
    )
    owner_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_cis"
    )
    support_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="supported_cis"
    )
    criticality = models.PositiveSmallIntegerField(
        choices=Criticality.choices, null=True, blank=True
    )
    location = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    tags = models.JSONField(default=list, blank=True)
    data_classification = models.CharField(
        max_length=20, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    holds_personal_data = models.BooleanField(default=False)
    allowed_residency = models.JSONField(
        default=list,
        blank=True,
        help_text="Countries (ISO codes) or regions (e.g. EU) data may live in.",
    )
    attributes = models.JSONField(default=dict, blank=True)
    attribute_sources = models.JSONField(
        default=dict, blank=True, help_text="{attribute: source that set it}"
    )

    objects = ChangeLoggedQuerySet.as_manager()
    audit_exclude: ClassVar[frozenset[str]] = frozenset({"updated_at", "attribute_sources"})

    class Meta:
        ordering = ["name"]
        verbose_name = "configuration item"
        indexes = [
            models.Index(fields=["organization", "ci_class"], name="ci_org_class"),
            models.Index(fields=["organization", "name"], name="ci_org_name"),
            models.Index(
                fields=["organization", "status", "environment"], name="ci_org_status_env"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CIIdentifier(TenantOwned):
    """One identifying value of a CI (serial number, FQDN, cloud resource id, Kubernetes uid).

    Unique per organisation: an import that meets the same value again finds the same CI.
    """

    ci = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=80)
    value = models.CharField(max_length=500)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "value"], name="one_ci_per_identifier"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


class CISourceRecord(TenantOwned):
    """When a discovery source last reported a CI: the base of the stale-CI report."""

    ci = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="sources")
    source = models.CharField(max_length=100)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ci", "source"], name="one_record_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.ci_id} seen by {self.source} at {self.last_seen:%Y-%m-%d %H:%M}"


class Relationship(TenantOwned, ChangeLogged):
    # No single-column indexes on the ends: (source, target, type) and (target, type) cover
    # every lookup, and imports write tens of thousands of these rows.
    source = models.ForeignKey(
        ConfigurationItem, on_delete=models.CASCADE, related_name="outgoing", db_index=False
    )
    target = models.ForeignKey(
        ConfigurationItem, on_delete=models.CASCADE, related_name="incoming", db_index=False
    )
    type = models.ForeignKey(
        RelationshipType, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    discovered_by = models.CharField(max_length=100, blank=True)

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "type"], name="one_relationship"),
            models.CheckConstraint(
                condition=~Q(source=models.F("target")), name="no_self_relationship"
            ),
        ]
        indexes = [
            models.Index(fields=["target", "type"], name="rel_target_type"),
            models.Index(fields=["source", "type"], name="rel_source_type"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.type_id} {self.target_id}"


class ImportJob(TenantOwned, Numbered):
    """One discovery import: the file, its progress and its report."""

    number_prefix = "IMP"
    format = models.CharField(max_length=20, choices=ImportFormat.choices)
    source = models.CharField(max_length=100, help_text="Discovery source name, e.g. azure-prod.")
    filename = models.CharField(max_length=255, blank=True)
    payload = models.BinaryField()
    partial = models.BooleanField(default=False, help_text="Apply valid rows even if some fail.")
    dry_run = models.BooleanField(
        default=False, help_text="Preview: validate and count, change nothing."
    )
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    relationships_created = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list, blank=True, help_text="[{row, field, message}]")
    preview = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.number} {self.get_format_display()} {self.filename}"

    @property
    def percent(self) -> int:
        return (
            int(100 * self.processed / self.total)
            if self.total
            else (100 if self.finished_at else 0)
        )


class HardwareAsset(TenantOwned, ChangeLogged, Numbered):
    number_prefix = "AST"
    ci = models.ForeignKey(
        ConfigurationItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="assets"
    )
    name = models.CharField(max_length=200)
    serial_number = models.CharField(max_length=100, blank=True, db_index=True)
    model = models.CharField(max_length=200, blank=True)
    vendor = models.CharField(max_length=200, blank=True)
    purchase_date = models.DateField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    warranty_end = models.DateField(null=True, blank=True, db_index=True)
    assigned_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    location = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    lifecycle = models.CharField(
        max_length=12, choices=AssetLifecycle.choices, default=AssetLifecycle.IN_USE
    )
    disposed_on = models.DateField(null=True, blank=True)
    disposal_method = models.CharField(
        max_length=100, blank=True, help_text="e.g. certified recycling"
    )
    disposal_reference = models.CharField(
        max_length=200, blank=True, help_text="Certificate or ticket"
    )
    notes = models.TextField(blank=True)

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class SoftwareLicence(TenantOwned, ChangeLogged, Numbered):
    number_prefix = "LIC"
    product = models.CharField(max_length=200)
    publisher = models.CharField(max_length=200)
    metric = models.CharField(max_length=20, choices=LicenceMetric.choices)
    entitlements = models.PositiveIntegerField()
    cost = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    renewal_date = models.DateField(null=True, blank=True, db_index=True)
    contract_reference = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        ordering = ["publisher", "product"]

    def __str__(self) -> str:
        return f"{self.publisher} {self.product} ({self.get_metric_display()})"


class SoftwareInstallation(TenantOwned):
    """Software found on a CI by discovery (high volume; not change-logged)."""

    ci = models.ForeignKey(
        ConfigurationItem, on_delete=models.CASCADE, related_name="installations"
    )
    product = models.CharField(max_length=200)
    publisher = models.CharField(max_length=200)
    version = models.CharField(max_length=100, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=100, blank=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "publisher", "product"], name="inst_product")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ci", "publisher", "product"], name="one_install_per_ci"
            )
        ]

    def __str__(self) -> str:
        return f"{self.publisher} {self.product} {self.version} on {self.ci_id}"


class HealthRule(GlobalConfig):
    """A CMDB data-quality rule, e.g. "every production server has an owner team"."""

    class Check(models.TextChoices):
        FIELD = "field", "Field is set"
        ATTRIBUTE = "attribute", "Attribute is set"
        RELATIONSHIP = "relationship", "Has a relationship"

    name = models.CharField(max_length=200, unique=True)
    ci_class = models.ForeignKey(CIClass, null=True, blank=True, on_delete=models.CASCADE)
    environment = models.CharField(max_length=20, choices=Environment.choices, blank=True)
    check_kind = models.CharField(max_length=20, choices=Check.choices)
    target = models.CharField(
        max_length=100, help_text="Field name, attribute key or relationship type key."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SavedFilter(TenantOwned, ChangeLogged):
    """A named CI-list filter; personal, or shared with the organisation."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000)
    shared = models.BooleanField(default=False)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = {
        Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
        Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
        Role.AUDITOR: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
        Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    }

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q:
        return Q(owner_id=user.pk) | Q(shared=True)
