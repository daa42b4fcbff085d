"""The kernel every app builds on: the tenant, the mixins, numbering and the audit trail."""

from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from opsdesk.core.permissions import Action, RestrictedQuerySet, Role


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.")


def validate_countries(value: Any) -> None:
    from opsdesk.core.countries import COUNTRY_CODES

    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ValidationError("Countries must be a list of ISO 3166-1 alpha-2 codes.")
    unknown = [c for c in value if c not in COUNTRY_CODES]
    if unknown:
        raise ValidationError(f"Unknown country codes: {', '.join(unknown)}.")


class ChangeLoggedQuerySet(RestrictedQuerySet):
    """Bulk writes skip the audit trail, so they are refused on change-logged models."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError(
            f"{self.model.__name__} is change-logged: change rows one by one through an action."
        )

    def bulk_create(self, *args: Any, **kwargs: Any) -> list:
        raise TypeError(f"{self.model.__name__} is change-logged: create rows through an action.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise TypeError(f"{self.model.__name__} is change-logged: change rows through an action.")


class ChangeLogged(models.Model):
    """Rows whose every create, update and delete is written to the audit trail.

    The snapshot taken when a row is loaded is compared with the row when it is saved;
    the difference is the audit record's before/after.
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    #: Fields never written to the audit trail (secrets, bookkeeping).
    audit_exclude: ClassVar[frozenset[str]] = frozenset({"updated_at"})

    objects = ChangeLoggedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str, field_names: Any, values: Any) -> ChangeLogged:
        instance = super().from_db(db, field_names, values)
        from opsdesk.core.audit import raw_values

        instance._audit_loaded = raw_values(instance)
        return instance


class Organization(ChangeLogged):
    """The tenant: a company, a client of a managed-service provider, or a group's country unit."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    countries = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_countries],
        help_text="ISO 3166-1 alpha-2 codes of the countries this organisation operates in.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    organization_lookup = "pk"
    role_actions: ClassVar[dict[str, frozenset[str]]] = {
        Role.REQUESTER: frozenset({Action.VIEW}),
        Role.AGENT: frozenset({Action.VIEW}),
        Role.MANAGER: frozenset({Action.VIEW}),
        Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
        Role.ADMIN: frozenset({Action.VIEW, Action.CHANGE, Action.AUDIT, Action.ADMIN}),
    }

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def organization_id(self) -> int:
        return self.pk


class TenantOwned(models.Model):
    """Rows that belong to exactly one organisation; reads go through `restrict(user)`."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        abstract = True


class NumberSequence(models.Model):
    """The last number handed out per organisation and prefix (INC, CHG, ...)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(max_length=8)
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "prefix"], name="unique_sequence_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix} #{self.last_value}"


NUMBER_DIGITS = 7


def allocate_number(organization_id: int, prefix: str) -> str:
    """Next human-readable number, e.g. ``INC0001042``, unique within the organisation."""
    with transaction.atomic():
        seq, _ = NumberSequence.objects.select_for_update().get_or_create(
            organization_id=organization_id, prefix=prefix
        )
        seq.last_value += 1
        seq.save(update_fields=["last_value"])
        return f"{prefix}{seq.last_value:0{NUMBER_DIGITS}d}"


class Numbered(models.Model):
    """A human-readable number per organisation; the subclass sets ``number_prefix``."""

    number = models.CharField(max_length=32, editable=False, db_index=True)
    number_prefix: ClassVar[str] = ""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.number:
            if not self.number_prefix:
                raise TypeError(f"{type(self).__name__} must set number_prefix.")
            self.number = allocate_number(self.organization_id, self.number_prefix)
        super().save(*args, **kwargs)


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"


class AuditRecordQuerySet(RestrictedQuerySet):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("Audit records are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit records are append-only.")


class AuditRecord(models.Model):
    """One create, update or delete of a business object. Never updated or deleted.

    References are kept without database constraints so that nothing deleted elsewhere can
    cascade into the trail; the textual ``actor_email`` and ``object_repr`` survive.
    A database trigger (see the migration) refuses UPDATE on every backend and DELETE on
    PostgreSQL.
    """

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # nothing looks records up by actor id; one index less per write
        related_name="+",
    )
    actor_email = models.CharField(max_length=254, blank=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # covered by the (organization, -timestamp) index
        related_name="+",
    )
    request_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    object_type = models.CharField(max_length=100, help_text="app_label.model")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, help_text="{field: [before, after]}")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    objects = AuditRecordQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = {
        Role.AUDITOR: frozenset({Action.VIEW}),
        Role.ADMIN: frozenset({Action.VIEW}),
    }

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["organization", "-timestamp"], name="audit_org_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["object_type", "action"], name="audit_type_action"),
            # Looked up by equality only: one index, not Django's second LIKE-pattern index
            # of a db_index CharField (one index less on every audited write).
            models.Index(fields=["request_id"], name="audit_request"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Audit records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Audit records are append-only.")


class PeriodicJobRun(models.Model):
    """Claim of one periodic job for one tick; the unique constraint is the lock between workers."""

    job = models.CharField(max_length=100)
    tick = models.DateTimeField()
    worker = models.CharField(max_length=200)
    claimed_at = models.DateTimeField(default=timezone.now)
    task_result_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-tick"]
        constraints = [models.UniqueConstraint(fields=["job", "tick"], name="one_run_per_tick")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.tick:%Y-%m-%d %H:%M:%S}"


# --- business calendars ----------------------------------------------------------------------

#: Configuration an admin edits; everyone in the organisation reads it.
CALENDAR_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW}),
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW}),
    Role.AUDITOR: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
}


def validate_week(value: Any) -> None:
    from opsdesk.core.calendars import CalendarError, parse_week

    if not isinstance(value, dict):
        raise ValidationError('Working hours are {"mon": [["08:00", "17:00"]], ...}.')
    try:
        parse_week(value)
    except CalendarError as exc:
        raise ValidationError(str(exc)) from None


def default_week() -> dict[str, list[list[str]]]:
    return {day: [["08:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


class CombineMode(models.TextChoices):
    NONE = "", "Not combined"
    UNION = "union", "Working when any member works"
    INTERSECTION = "intersection", "Working only when all members work"


class BusinessCalendar(TenantOwned, ChangeLogged):
    """Working time: a time zone, hours per weekday, public holidays, exceptions, or 24x7.

    Used by service-level clocks (and by changes and on-call). A calendar can combine others
    (follow-the-sun support is the union of regional desks). `country` and `is_default` say
    which tickets use it when a definition names no calendar (see `opsdesk.sla.calendars`).
    """

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    always_open = models.BooleanField(default=False, help_text="24x7: every second counts.")
    working_hours = models.JSONField(default=default_week, blank=True, validators=[validate_week])
    holiday_country = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166-1 alpha-2; public holidays close the day."
    )
    holiday_subdivision = models.CharField(max_length=10, blank=True)
    combine_mode = models.CharField(
        max_length=20, choices=CombineMode.choices, default=CombineMode.NONE, blank=True
    )
    members = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="+")
    country = models.CharField(
        max_length=2, blank=True, help_text="Tickets located in this country use this calendar."
    )
    is_default = models.BooleanField(default=False, help_text="The organisation's default.")
    version = models.PositiveIntegerField(
        default=1, help_text="Bumped by every change, exceptions and members included."
    )

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CALENDAR_ROLE_ACTIONS

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="calendar_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name

    def spec(self, _seen: frozenset[int] = frozenset()) -> Any:
        """The `CalendarSpec` of this calendar (members and exceptions included)."""
        from opsdesk.core.calendars import (
            CalendarError,
            CalendarSpec,
            Exception_,
            parse_ranges,
            parse_week,
        )

        if self.pk in _seen:
            raise CalendarError(f"Calendar {self.name!r} includes itself.")
        members: tuple[Any, ...] = ()
        if self.combine_mode and self.pk:
            members = tuple(m.spec(_seen | {self.pk}) for m in self.members.order_by("pk"))
        exceptions = ()
        if self.pk:
            exceptions = tuple(
                (e.date, Exception_(parse_ranges(e.hours or []), e.name))
                for e in self.exceptions.order_by("date")
            )
        return CalendarSpec(
            time_zone=self.time_zone,
            always_open=self.always_open,
            week=parse_week(self.working_hours or {}),
            holiday_country=self.holiday_country,
            holiday_subdivision=self.holiday_subdivision,
            exceptions=exceptions,
            combine=self.combine_mode if members else "",
            members=members,
            name=self.name,
        )

    def compiled(self) -> Any:
        from opsdesk.core.calendars import compile_calendar

        return compile_calendar(self.spec())


class CalendarException(TenantOwned, ChangeLogged):
    """One date of a calendar that differs: closed (no hours) or other hours."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="exceptions"
    )
    date = models.DateField()
    name = models.CharField(max_length=100, help_text="e.g. Company day off")
    hours = models.JSONField(
        default=list, blank=True, help_text='[["08:00", "12:00"]]; empty means closed all day.'
    )

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = CALENDAR_ROLE_ACTIONS

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="one_exception_per_date")
        ]

    def __str__(self) -> str:
        return f"{self.calendar} {self.date}: {self.name}"
