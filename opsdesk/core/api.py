"""Shared API pieces: authentication, the one error shape, pagination and base schemas."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.pagination import PaginationBase
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from pydantic import AfterValidator, AwareDatetime, ConfigDict, field_validator

from opsdesk.core.context import actor_var
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied

logger = logging.getLogger(__name__)


# --- Schemas ----------------------------------------------------------------------------------


#: The largest id a database row can have (64-bit signed): bigger numbers in input would
#: overflow the database driver, so input ids are bounded by the schema.
MAX_ID = 2**63 - 1

#: An object id in input (body fields, list filters).
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]

#: Real UTC offsets lie within ±14:00; PostgreSQL refuses anything beyond ±15:59.
MAX_UTC_OFFSET = timedelta(hours=14)
#: Far enough from year 1 and 9999 that converting to UTC cannot overflow.
MIN_YEAR, MAX_YEAR = 1000, 9998


def check_datetime(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("The UTC offset must lie between -14:00 and +14:00.")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"The year must lie between {MIN_YEAR} and {MAX_YEAR}.")
    if offset is None:
        value = timezone.make_aware(value)
    return value


#: A date and time in input (naive values are taken in the server's time zone).
ApiDateTime = Annotated[datetime, AfterValidator(check_datetime)]
#: A date and time in input that must say its time zone.
ApiAwareDateTime = Annotated[AwareDatetime, AfterValidator(check_datetime)]

NUL_MESSAGE = "Text must not contain NUL (\\x00) characters."


def contains_nul(value: Any) -> bool:
    """True if `value` (a string, or a list/dict of them) holds a NUL character.

    PostgreSQL cannot store NUL in text, so such input is refused up front with a 422
    naming the field instead of failing in the database with a 500.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(v) for v in value)
    return False


class InSchema(Schema):
    """Input schemas refuse fields they do not know, so typos are not silently dropped,
    and text with NUL characters, which PostgreSQL cannot store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before", check_fields=False)
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if contains_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value


class OpsDeskParser(Parser):
    """Ninja's JSON parser, refusing NUL characters in query strings (see `contains_nul`)."""

    def parse_querydict(self, data: Any, list_fields: list[str], request: HttpRequest) -> Any:
        bad = [key for key in data if contains_nul(key) or contains_nul(data.getlist(key))]
        if bad:
            raise ValidationError(
                [{"loc": ("query", key), "msg": NUL_MESSAGE, "type": "value_error"} for key in bad]
            )
        return super().parse_querydict(data, list_fields, request)


class ErrorItem(Schema):
    field: str | None
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[ErrorItem] = []


ERROR_RESPONSES: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


# --- Authentication ---------------------------------------------------------------------------


class TokenAuth(HttpBearer):
    """`Authorization: Bearer opsd_...` with a personal API token."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from opsdesk.accounts.models import ApiToken, hash_token

        if not token or len(token) > 200:
            return None
        found = (
            ApiToken.objects.usable()
            .select_related("user")
            .filter(key_hash=hash_token(token))
            .first()
        )
        if found is None:
            return None
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            # Bookkeeping, not a business change: excluded from the audit trail on purpose.
            ApiToken._base_manager.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        request.api_token = found
        actor_var.set(found.user)
        return found.user


class OpsDeskSessionAuth(SessionAuth):
    """The browser session, with CSRF checked on unsafe methods."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and not user.is_active:
            return None
        return user


AUTH = [TokenAuth(), OpsDeskSessionAuth()]


# --- Pagination -------------------------------------------------------------------------------


class Paginated(PaginationBase):
    """``?limit=&offset=`` in, ``{"items": [...], "total": N, "limit": L, "offset": O}`` out."""

    class Input(Schema):
        limit: int = Field(settings.API_PAGE_SIZE, ge=1, le=settings.API_MAX_PAGE_SIZE)
        offset: int = Field(0, ge=0, le=10_000_000)

    class Output(Schema):
        items: list[Any]
        total: int
        limit: int
        offset: int

    items_attribute = "items"

    def paginate_queryset(
        self, queryset: Any, pagination: Input, request: HttpRequest, **params: Any
    ) -> Any:
        offset, limit = pagination.offset, pagination.limit
        return {
            "items": list(queryset[offset : offset + limit]),
            "total": self._items_count(queryset),
            "limit": limit,
            "offset": offset,
        }


# --- Errors -----------------------------------------------------------------------------------


def error_response(
    request: HttpRequest, api: Any, status: int, detail: str, errors: list[dict] | None = None
) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or []}, status=status)


def _field_of(loc: list[Any] | tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    # ninja prefixes the source and the parameter name: ("body", "payload", "name").
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form", "file"}:
        source = parts[0]
        parts = parts[1:]
        if source == "body":
            # The body parameter's own name (e.g. "payload") says nothing to the caller:
            # an error about the body as a whole names "body".
            parts = parts[1:]
        if not parts:
            return source
    return ".".join(parts) or "__all__"


def install_error_handlers(api: Any) -> None:
    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = [
            {"field": _field_of(e.get("loc", ())), "message": e.get("msg", "Invalid value.")}
            for e in exc.errors
        ]
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return error_response(request, api, 422, f"Invalid input: {fields}.", errors)

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message = str(exc.message)
        errors = [{"field": "body", "message": message}] if exc.status_code == 400 else []
        return error_response(request, api, exc.status_code, message, errors)

    def on_auth(request: HttpRequest, exc: Exception) -> HttpResponse:
        response = error_response(
            request, api, 401, "Authentication required: send a bearer token or log in."
        )
        response["WWW-Authenticate"] = 'Bearer realm="opsdesk"'
        return response

    def on_forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(
            request, api, 403, getattr(exc, "detail", None) or str(exc) or "Forbidden."
        )

    def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(request, api, 404, getattr(exc, "detail", None) or "Not found.")

    def on_field_error(request: HttpRequest, exc: FieldError) -> HttpResponse:
        errors = [{"field": f, "message": m} for f, m in exc.errors.items()]
        fields = ", ".join(exc.errors)
        return error_response(request, api, 422, f"{exc.detail} ({fields})", errors)

    def on_conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
        return error_response(request, api, 409, exc.detail, errors)

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled API error")
        if settings.DEBUG:
            raise exc
        rid = getattr(request, "request_id", "")
        return error_response(request, api, 500, f"Internal error; quote request id {rid}.")

    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(AuthorizationError, on_forbidden)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(NotFound, on_not_found)
    api.add_exception_handler(FieldError, on_field_error)
    api.add_exception_handler(Conflict, on_conflict)
    api.add_exception_handler(Exception, on_unexpected)


def json_method_not_allowed(view: Any, api: Any) -> Any:
    """Wrap a ninja path view so that 405 answers use the error shape too."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allowed = response.get("Allow", "")
            new = error_response(
                request, api, 405, f"Method {request.method} not allowed; use {allowed}."
            )
            new["Allow"] = allowed
            return new
        return response

    return wrapper


def get_or_404(queryset: Any, pk: Any) -> Any:
    from opsdesk.core.selectors import access

    return access(queryset, pk, str(queryset.model._meta.verbose_name))
