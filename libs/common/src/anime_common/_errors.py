"""The error family every service raises, and the one envelope they all render to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, TypedDict


class FieldError(TypedDict):
    field: str
    message: str


class ErrorBody(TypedDict):
    code: str
    message: str
    details: Any


# Codes and safe default messages of API.md; anything else is UNKNOWN_ERROR.
_CODES: Mapping[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "The request is malformed"),
    401: ("AUTH_ERROR", "Authentication required"),
    403: ("PERMISSION_DENIED", "You do not have permission to do this"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    409: ("CONFLICT_ERROR", "Conflict"),
    413: ("PAYLOAD_TOO_LARGE", "Request body too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    422: ("VALIDATION_ERROR", "Validation failed"),
    429: ("RATE_LIMITED", "Too many requests"),
    500: ("INTERNAL_ERROR", "Internal server error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}


def resolve_error_code(status: int) -> tuple[str, str]:
    """Return the envelope code and a safe default message for an HTTP status."""
    if status in _CODES:
        return _CODES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return "UNKNOWN_ERROR", phrase


def error_body(status: int, message: str | None = None, details: Any = None) -> ErrorBody:
    """Build the `{"code", "message", "details"}` envelope for a status."""
    code, default_message = resolve_error_code(status)
    return {"code": code, "message": message or default_message, "details": details}


class AppError(Exception):
    """An expected failure that carries its HTTP status; rendered into the envelope."""

    status_code: ClassVar[int] = 500

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or resolve_error_code(self.status_code)[1]
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def code(self) -> str:
        return resolve_error_code(self.status_code)[0]

    def to_body(self) -> ErrorBody:
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequestError(AppError):
    """The request cannot even be read (a body that is not JSON, a broken multipart)."""

    status_code = 400


class ValidationError(AppError):
    """The input was read but is invalid; `details` lists the offending fields."""

    status_code = 422

    def __init__(
        self, message: str | None = None, *, fields: Sequence[FieldError] | None = None
    ) -> None:
        super().__init__(message, details=list(fields) if fields is not None else None)

    @classmethod
    def for_field(cls, field: str, message: str) -> ValidationError:
        return cls(f"Invalid value for {field}", fields=[{"field": field, "message": message}])


class AuthError(AppError):
    """Missing, malformed, expired or revoked credentials."""

    status_code = 401

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message, details=details, headers={"WWW-Authenticate": "Bearer"})


class PermissionError(AppError):  # noqa: A001 - the name DESIGN.md gives this error
    """Authenticated, but this account may not do this."""

    status_code = 403


class NotFoundError(AppError):
    """The resource does not exist (or is not visible to the caller)."""

    status_code = 404


class ConflictError(AppError):
    """The request conflicts with existing state (duplicate email, ...)."""

    status_code = 409


class PayloadTooLargeError(AppError):
    """The request body exceeds the configured limit."""

    status_code = 413


class UnsupportedMediaTypeError(AppError):
    """The request body is not of a type this endpoint accepts."""

    status_code = 415


class RateLimitedError(AppError):
    """Too many requests; `Retry-After` says when to come back."""

    status_code = 429

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class InternalError(AppError):
    """A failure of ours; the message shown is always the safe default."""

    status_code = 500


class BadGatewayError(AppError):
    """An upstream answered badly or could not be reached."""

    status_code = 502


class ServiceUnavailableError(AppError):
    """A dependency (the database, a queue) is unavailable for now."""

    status_code = 503


class GatewayTimeoutError(AppError):
    """An upstream did not answer in time."""

    status_code = 504
