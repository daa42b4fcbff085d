"""Enumerations of the CMDB."""

from django.db import models


class CIStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_BUILD = "in_build", "In build"
    OPERATIONAL = "operational", "Operational"
    IN_MAINTENANCE = "in_maintenance", "In maintenance"
    RETIRED = "retired", "Retired"
    DISPOSED = "disposed", "Disposed"


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    STAGING = "staging", "Staging"
    TEST = "test", "Test"
    DEVELOPMENT = "development", "Development"
    DR = "dr", "Disaster recovery"


class Criticality(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (mission critical)"
    TIER_2 = 2, "Tier 2 (business critical)"
    TIER_3 = 3, "Tier 3 (business operational)"
    TIER_4 = 4, "Tier 4 (administrative)"


class DataClassification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class Propagation(models.TextChoices):
    """How a failure travels along a relationship source -> target."""

    TO_SOURCE = "to_source", "A failure of the target impacts the source"
    BOTH = "both", "A failure of either impacts the other"
    NONE = "none", "No impact propagates"


class AssetLifecycle(models.TextChoices):
    ORDERED = "ordered", "Ordered"
    IN_STOCK = "in_stock", "In stock"
    IN_USE = "in_use", "In use"
    IN_REPAIR = "in_repair", "In repair"
    RETIRED = "retired", "Retired"
    DISPOSED = "disposed", "Disposed"


class LicenceMetric(models.TextChoices):
    PER_USER = "per_user", "Per user"
    PER_DEVICE = "per_device", "Per device"
    PER_CORE = "per_core", "Per core"
    SUBSCRIPTION = "subscription", "Subscription (per installation)"


class ImportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"
    AZURE_RESOURCE_GRAPH = "azure", "Azure Resource Graph JSON"
    AWS_CONFIG = "aws", "AWS Config / resource inventory JSON"
    GCP_ASSET_INVENTORY = "gcp", "Google Cloud Asset Inventory export"
    KUBERNETES = "kubernetes", "Kubernetes (kubectl get -o json/yaml)"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
