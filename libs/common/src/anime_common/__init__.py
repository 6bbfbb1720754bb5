"""What every anime service shares; import from here, never from the private modules."""

from anime_common._app import create_service_app, get_database, get_http_client, get_settings
from anime_common._caching import (
    DEFAULT_CACHE_CONTROL,
    conditional_response,
    etag_for,
    etag_matches,
)
from anime_common._database import (
    NAMING_CONVENTION,
    Database,
    create_engine,
    is_database_unavailable,
    schema_metadata,
)
from anime_common._errors import (
    AppError,
    AuthError,
    BadGatewayError,
    ConflictError,
    ErrorBody,
    FieldError,
    GatewayTimeoutError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionError,  # noqa: A004 - the name DESIGN.md gives the 403 error
    RateLimitedError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
    error_body,
    resolve_error_code,
)
from anime_common._http_client import create_http_client
from anime_common._logging import configure_logging
from anime_common._migrations import (
    Migrations,
    StartupError,
    migrate,
    run_alembic,
    run_env,
    wait_for_database,
)
from anime_common._openapi import Operation, document, openapi_document
from anime_common._parsing import PageParams, parse_body, parse_json, parse_query, validate
from anime_common._request_id import REQUEST_ID_HEADER, current_request_id
from anime_common._responses import JSONResponse, dumps, list_response
from anime_common._revocation import RevocationPoller
from anime_common._security import (
    INTERNAL_PERMISSION,
    Principal,
    RevocationCheck,
    TokenVerifier,
    authenticate,
    bearer_token,
    current_principal,
    key_id,
    requires,
)
from anime_common._serve import run_service
from anime_common._settings import (
    CommonSettings,
    DatabaseSettings,
    SettingsError,
    load_settings,
    normalize_origin,
)

__all__ = [
    "DEFAULT_CACHE_CONTROL",
    "INTERNAL_PERMISSION",
    "NAMING_CONVENTION",
    "REQUEST_ID_HEADER",
    "AppError",
    "AuthError",
    "BadGatewayError",
    "CommonSettings",
    "ConflictError",
    "Database",
    "DatabaseSettings",
    "ErrorBody",
    "FieldError",
    "GatewayTimeoutError",
    "InternalError",
    "JSONResponse",
    "Migrations",
    "NotFoundError",
    "Operation",
    "PageParams",
    "PayloadTooLargeError",
    "PermissionError",
    "Principal",
    "RateLimitedError",
    "RevocationCheck",
    "RevocationPoller",
    "ServiceUnavailableError",
    "SettingsError",
    "StartupError",
    "TokenVerifier",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "authenticate",
    "bearer_token",
    "conditional_response",
    "configure_logging",
    "create_engine",
    "create_http_client",
    "create_service_app",
    "current_principal",
    "current_request_id",
    "document",
    "dumps",
    "error_body",
    "etag_for",
    "etag_matches",
    "get_database",
    "get_http_client",
    "get_settings",
    "is_database_unavailable",
    "key_id",
    "list_response",
    "load_settings",
    "migrate",
    "normalize_origin",
    "openapi_document",
    "parse_body",
    "parse_json",
    "parse_query",
    "requires",
    "resolve_error_code",
    "run_alembic",
    "run_env",
    "run_service",
    "schema_metadata",
    "validate",
    "wait_for_database",
]
