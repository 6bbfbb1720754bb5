"""What every anime service shares; import from here, never from the private modules."""

from anime_common._app import create_service_app
from anime_common._batching import Batcher
from anime_common._caching import (
    conditional_response,
    etag_matches,
)
from anime_common._causes import iter_causes
from anime_common._database import (
    Database,
    ReadPool,
    as_uuid,
    asyncpg_dsn,
    create_engine,
    create_read_pool,
    is_database_unavailable,
    schema_metadata,
)
from anime_common._errors import (
    AppError,
    AuthError,
    BadGatewayError,
    BadRequestError,
    ConflictError,
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
)
from anime_common._logging import configure_logging
from anime_common._metrics import METRICS_PATH
from anime_common._migrations import (
    Migrations,
    StartupError,
    migrate,
    open_database,
    run_alembic,
    run_env,
)
from anime_common._openapi import document, openapi_document
from anime_common._paging import fetch_page, paged
from anime_common._parsing import (
    HIANIME_ID,
    PageParams,
    parse_body,
    parse_json,
    parse_path_id,
    parse_query,
    validate,
)
from anime_common._responses import JSONResponse, RowOut, list_response
from anime_common._revocation import RevocationPoller
from anime_common._security import (
    INTERNAL_PERMISSION,
    Principal,
    TokenVerifier,
    authenticate,
    current_principal,
    key_id,
    principal_user_id,
    requires,
)
from anime_common._serve import run_service
from anime_common._service_client import (
    PeerAnswerError,
    PeerTimeoutError,
    PeerUnavailableError,
    ServiceClient,
)
from anime_common._settings import (
    CommonSettings,
    DatabaseSettings,
    SettingsError,
    load_settings,
    split_list_setting,
)
from anime_common._single_flight import SingleFlight
from anime_common._state import AppContext, app_context, service_state

__all__ = [
    "HIANIME_ID",
    "INTERNAL_PERMISSION",
    "METRICS_PATH",
    "AppContext",
    "AppError",
    "AuthError",
    "BadGatewayError",
    "BadRequestError",
    "Batcher",
    "CommonSettings",
    "ConflictError",
    "Database",
    "DatabaseSettings",
    "GatewayTimeoutError",
    "InternalError",
    "JSONResponse",
    "Migrations",
    "NotFoundError",
    "PageParams",
    "PayloadTooLargeError",
    "PeerAnswerError",
    "PeerTimeoutError",
    "PeerUnavailableError",
    "PermissionError",
    "Principal",
    "RateLimitedError",
    "ReadPool",
    "RevocationPoller",
    "RowOut",
    "ServiceClient",
    "ServiceUnavailableError",
    "SettingsError",
    "SingleFlight",
    "StartupError",
    "TokenVerifier",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "app_context",
    "as_uuid",
    "asyncpg_dsn",
    "authenticate",
    "conditional_response",
    "configure_logging",
    "create_engine",
    "create_read_pool",
    "create_service_app",
    "current_principal",
    "document",
    "error_body",
    "etag_matches",
    "fetch_page",
    "is_database_unavailable",
    "iter_causes",
    "key_id",
    "list_response",
    "load_settings",
    "migrate",
    "open_database",
    "openapi_document",
    "paged",
    "parse_body",
    "parse_json",
    "parse_path_id",
    "parse_query",
    "principal_user_id",
    "requires",
    "run_alembic",
    "run_env",
    "run_service",
    "schema_metadata",
    "service_state",
    "split_list_setting",
    "validate",
]
