"""Domain errors raised by actions; the API and the UI turn them into 4xx responses."""

from __future__ import annotations


class FieldError(Exception):
    """Input that breaks a rule; ``errors`` maps field names to messages."""

    status_code = 422

    def __init__(self, errors: dict[str, str] | str, detail: str | None = None) -> None:
        if isinstance(errors, str):
            errors = {"__all__": errors}
        self.errors = errors
        self.detail = detail or "Validation failed."
        super().__init__(self.detail, errors)


class PermissionDenied(Exception):
    status_code = 403

    def __init__(self, detail: str = "You do not have permission to do that.") -> None:
        self.detail = detail
        super().__init__(detail)


class NotFound(Exception):
    status_code = 404

    def __init__(self, detail: str = "Not found.") -> None:
        self.detail = detail
        super().__init__(detail)


class Conflict(Exception):
    status_code = 409

    def __init__(self, detail: str, field: str | None = None) -> None:
        self.detail = detail
        self.field = field
        super().__init__(detail)
