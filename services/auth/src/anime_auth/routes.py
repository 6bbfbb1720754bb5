"""Routes of the auth service (`/health` and `/openapi.json` come from anime_common)."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_auth import service, sessions
from anime_auth.schemas import (
    CreateUserRequest,
    LoginRequest,
    LogoutRequest,
    PublicUserOut,
    RefreshRequest,
    RegisteredOut,
    RegisterRequest,
    SessionOut,
    TokensOut,
    UserOut,
)
from anime_auth.state import Client, get_state
from anime_common import (
    AppError,
    AuthError,
    JSONResponse,
    PageParams,
    Principal,
    authenticate,
    current_principal,
    document,
    list_response,
    parse_body,
    parse_json,
    parse_path_id,
    parse_query,
    principal_user_id,
    requires,
    validate,
)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_MAX_USER_AGENT = 512


def _client(request: Request) -> Client:
    # request.client is the address uvicorn resolved from X-Forwarded-For, which it
    # believes only from FORWARDED_ALLOW_IPS (Traefik); anyone else's header is ignored.
    user_agent = request.headers.get("user-agent")
    return Client(
        ip=request.client.host if request.client else None,
        user_agent=user_agent[:_MAX_USER_AGENT] if user_agent else None,
    )


def _user_id(principal: Principal) -> uuid.UUID:
    return principal_user_id(principal, refusal="Only user accounts have sessions")


def _session_id(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.session_id) if principal.session_id else None
    except ValueError:
        return None


# -- /auth ------------------------------------------------------------------------------


@document(
    "Create an account; answers tokens and the user",
    body=RegisterRequest,
    response=RegisteredOut,
    status_code=201,
    # 429: the gateway's per-address rate limit (API.md, decisions).
    errors=[409, 429],
    tags=["auth"],
)
async def register(request: Request) -> Response:
    data = await parse_body(request, RegisterRequest)
    state = get_state(request)
    # Hashed before the transaction: no pooled connection waits on a 100+ ms hash.
    password_hash = await state.hasher.hash(data.password)
    async with state.database.transaction() as session:
        result = await service.register(
            session=session,
            state=state,
            data=data,
            password_hash=password_hash,
            client=_client(request),
        )
    return JSONResponse(result, status_code=201)


async def _credentials(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        # The OAuth2 password grant: `username` (which may be an email) and `password`.
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        return validate(LoginRequest, fields)
    return validate(LoginRequest, await parse_json(request))


@document(
    "Log in with email or username and password (JSON or the OAuth2 password form)",
    body=LoginRequest,
    response=TokensOut,
    errors=[401, 429],
    tags=["auth"],
)
async def login(request: Request) -> Response:
    credentials = await _credentials(request)
    state = get_state(request)
    client = _client(request)
    database = state.database
    # Three steps so no pooled connection is held while the hash is checked (which may
    # also wait for a free hashing slot): look up, verify, then record the outcome.
    async with database.transaction() as session:
        attempt = await service.begin_login(
            session=session, state=state, credentials=credentials, client=client
        )
    matched, new_hash = await state.hasher.verify(credentials.password, attempt.password_hash)
    async with database.transaction() as session:
        outcome = await service.finish_login(
            session=session,
            state=state,
            attempt=attempt,
            matched=matched,
            new_hash=new_hash,
            client=client,
        )
    if isinstance(outcome, AppError):
        raise outcome
    return JSONResponse(outcome)


@document(
    "Trade a refresh token for a new pair; the old token stops working",
    body=RefreshRequest,
    response=TokensOut,
    errors=[401, 429],
    tags=["auth"],
)
async def refresh(request: Request) -> Response:
    data = await parse_body(request, RefreshRequest)
    async with get_state(request).database.transaction() as session:
        outcome = await sessions.refresh(
            session=session,
            state=get_state(request),
            refresh_token=data.refresh_token,
            client=_client(request),
        )
    # Raised after the commit: a detected reuse must revoke the session even though it fails.
    if isinstance(outcome, AppError):
        raise outcome
    return JSONResponse(outcome)


@document(
    "End the refresh token's session; with a Bearer token and `all`, every session",
    body=LogoutRequest,
    body_required=False,
    status_code=204,
    errors=[401],
    tags=["auth"],
)
async def logout(request: Request) -> Response:
    raw = await request.body()
    data = validate(LogoutRequest, await parse_json(request)) if raw.strip() else LogoutRequest()
    principal: Principal | None = None
    if "authorization" in request.headers:
        try:
            principal = await authenticate(request)
        except AuthError:
            # A stale Bearer must not stop a logout by refresh token; only `all` needs it.
            if data.all:
                raise
    elif data.all:
        raise AuthError("Logging out everywhere needs a Bearer token")
    async with get_state(request).database.transaction() as session:
        await sessions.logout(
            session=session,
            refresh_token=data.refresh_token,
            user_id=_user_id(principal) if principal is not None else None,
            current_session=_session_id(principal) if principal is not None else None,
            everywhere=data.all,
            client=_client(request),
        )
    return Response(status_code=204)


@document(
    "The caller's open sessions",
    query=PageParams,
    response=list[SessionOut],
    tags=["auth"],
)
@requires()
async def list_sessions(request: Request) -> Response:
    page = parse_query(request, PageParams)
    principal = current_principal(request)
    async with get_state(request).database.transaction() as session:
        items, total = await sessions.list_sessions(
            session=session,
            state=get_state(request),
            user_id=_user_id(principal),
            current=_session_id(principal),
            limit=page.limit,
            offset=page.offset,
        )
    return list_response(request, items, total=total, page=page)


@document("End one of the caller's sessions", status_code=204, errors=[404], tags=["auth"])
@requires()
async def delete_session(request: Request) -> Response:
    principal = current_principal(request)
    session_id = parse_path_id(request.path_params["session_id"], what="Session")
    async with get_state(request).database.transaction() as session:
        await sessions.end_session(
            session=session,
            user_id=_user_id(principal),
            session_id=session_id,
            client=_client(request),
        )
    return Response(status_code=204)


# -- /users -----------------------------------------------------------------------------


@document("The caller's account", response=UserOut, tags=["users"])
@requires()
async def me(request: Request) -> Response:
    async with get_state(request).database.transaction() as session:
        user = await service.current_user(
            session=session, subject=current_principal(request).subject
        )
    return JSONResponse(user)


@document("Every account", query=PageParams, response=list[UserOut], tags=["users"])
@requires("admin:users")
async def list_users(request: Request) -> Response:
    page = parse_query(request, PageParams)
    async with get_state(request).database.transaction() as session:
        items, total = await service.list_users(
            session=session, limit=page.limit, offset=page.offset
        )
    return list_response(request, items, total=total, page=page)


@document(
    "Create an account with a role",
    body=CreateUserRequest,
    response=UserOut,
    status_code=201,
    errors=[409],
    tags=["users"],
)
@requires("admin:users")
async def create_user(request: Request) -> Response:
    data = await parse_body(request, CreateUserRequest)
    password_hash = await get_state(request).hasher.hash(data.password)
    async with get_state(request).database.transaction() as session:
        user = await service.create_user_as_admin(
            session=session, data=data, password_hash=password_hash
        )
    return JSONResponse(user, status_code=201)


@document("A user's public profile", response=PublicUserOut, errors=[404], tags=["users"])
@requires()
async def get_user(request: Request) -> Response:
    async with get_state(request).database.transaction() as session:
        user = await service.public_user(session=session, user_id=request.path_params["user_id"])
    return JSONResponse(user)


routes: list[BaseRoute] = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/sessions", list_sessions, methods=["GET"]),
    Route("/auth/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/users/me", me, methods=["GET"]),
    Route("/users", list_users, methods=["GET"]),
    Route("/users", create_user, methods=["POST"]),
    Route("/users/{user_id}", get_user, methods=["GET"]),
]
