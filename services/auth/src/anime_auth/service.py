"""The rules of accounts, logins and users (sessions and tokens: `sessions.py`).

Functions take an open `AsyncSession` and only flush; the route commits. A
failure that must still be written down (a failed login) is *returned* as an
`AppError`, not raised, so the route's transaction commits it before the error
goes out.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anime_auth import repository
from anime_auth.models import User
from anime_auth.schemas import (
    CreateUserRequest,
    LoginRequest,
    PublicUserOut,
    RegisteredOut,
    RegisterRequest,
    TokensOut,
    UserOut,
)
from anime_auth.sessions import start_session
from anime_auth.state import AuthState, Client
from anime_auth.tokens import throttle_key
from anime_common import (
    AppError,
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)

DEFAULT_ROLE = "user"
ADMIN_ROLE = "admin"
# One message for unknown account, wrong password and inactive account alike.
INVALID_CREDENTIALS = "Invalid credentials"


def user_out(user: User, permissions: list[str]) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        username=user.username,
        avatar=user.avatar,
        is_active=user.is_active,
        role=user.role,
        permissions=permissions,
        created_at=user.created_at,
    )


async def describe_user(*, session: AsyncSession, user: User) -> UserOut:
    return user_out(user, await repository.role_permissions(session=session, role=user.role))


# -- accounts ---------------------------------------------------------------------------


def _username_base(email: str) -> str:
    local = email.split("@", 1)[0]
    cleaned = "".join(
        char for char in local if char.isascii() and (char.isalnum() or char in "_.-")
    )
    return (cleaned or "user").ljust(3, "_")[:24]


async def _choose_username(*, session: AsyncSession, email: str) -> str:
    """The email's local part, made valid, then made unique with a short random suffix."""
    base = _username_base(email)
    candidates = [base, *(f"{base}-{secrets.token_hex(3)}" for _ in range(5))]
    taken = await repository.taken_usernames(session=session, candidates=candidates)
    for candidate in candidates:
        if candidate.lower() not in taken:
            return candidate
    raise ConflictError("Could not derive a free username; choose one")


async def create_user(
    *, session: AsyncSession, email: str, username: str | None, password_hash: str, role: str
) -> User:
    """A new account; 409 for a taken email or username, 422 for an unknown role."""
    if not await repository.role_exists(session=session, role=role):
        raise ValidationError.for_field("role", f"unknown role {role!r}")
    if await repository.email_taken(session=session, email=email):
        raise ConflictError("Email already registered")
    if username is None:
        username = await _choose_username(session=session, email=email)
    elif await repository.taken_usernames(session=session, candidates=[username]):
        raise ConflictError("Username already taken")
    try:
        async with session.begin_nested():
            user = await repository.add_user(
                session=session,
                email=email,
                username=username,
                password_hash=password_hash,
                role=role,
            )
    except IntegrityError:
        # Someone registered the same email or username between our check and insert.
        raise ConflictError("Email or username already taken") from None
    await repository.add_event(session=session, kind="user_created", user_id=user.id)
    return user


async def register(
    *,
    session: AsyncSession,
    state: AuthState,
    data: RegisterRequest,
    password_hash: str,
    client: Client,
) -> RegisteredOut:
    user = await create_user(
        session=session,
        email=data.email,
        username=data.username,
        password_hash=password_hash,
        role=DEFAULT_ROLE,
    )
    described = await describe_user(session=session, user=user)
    tokens = await start_session(
        session=session, state=state, user=user, permissions=described.permissions, client=client
    )
    return RegisteredOut(**tokens.model_dump(), user=described)


async def create_user_as_admin(
    *, session: AsyncSession, data: CreateUserRequest, password_hash: str
) -> UserOut:
    user = await create_user(
        session=session,
        email=data.email,
        username=data.username,
        password_hash=password_hash,
        role=data.role,
    )
    return await describe_user(session=session, user=user)


async def ensure_first_admin(*, session: AsyncSession, email: str, password_hash: str) -> bool:
    """Create the first admin unless an admin exists already; True when one was created."""
    if await repository.admin_exists(session=session):
        return False
    await create_user(
        session=session, email=email, username=None, password_hash=password_hash, role=ADMIN_ROLE
    )
    return True


# -- login ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What the first phase of a login found: whose hash to check, and the counters' keys."""

    user_id: uuid.UUID | None
    password_hash: str | None
    account_key: str
    address_key: str


async def begin_login(
    *, session: AsyncSession, state: AuthState, credentials: LoginRequest, client: Client
) -> LoginAttempt:
    """Look the account up, then refuse (429) while it or the address is locked out."""
    user = (
        await repository.find_user(session=session, identifier=credentials.identifier)
        if credentials.identifier
        else None
    )
    # An existing account is counted by its id, so guessing by email and by username share
    # one counter; an unknown name by the name itself. Both lock alike: nothing to enumerate.
    account_key = throttle_key(f"user:{user.id}" if user else f"name:{credentials.identifier}")
    address_key = throttle_key(client.ip or "unknown")
    remaining = await repository.locked_for(
        session=session, keys=[("account", account_key), ("address", address_key)]
    )
    if remaining is not None:
        raise RateLimitedError(
            "Too many failed logins; try again later", retry_after=max(1, math.ceil(remaining))
        )
    return LoginAttempt(
        user_id=user.id if user is not None and user.is_active else None,
        # An inactive account is checked like any other, then refused like an unknown one.
        password_hash=user.password_hash if user is not None else None,
        account_key=account_key,
        address_key=address_key,
    )


async def finish_login(
    *,
    session: AsyncSession,
    state: AuthState,
    attempt: LoginAttempt,
    matched: bool,
    new_hash: str | None,
    client: Client,
) -> TokensOut | AppError:
    """Count a failure, or reset the account's counter and open a session."""
    user = (
        await repository.get_user(session=session, user_id=attempt.user_id)
        if matched and attempt.user_id is not None
        else None
    )
    if user is None or not user.is_active:
        settings = state.settings
        for scope, key, limit in (
            ("account", attempt.account_key, settings.LOGIN_MAX_FAILURES_PER_ACCOUNT),
            ("address", attempt.address_key, settings.LOGIN_MAX_FAILURES_PER_ADDRESS),
        ):
            await repository.count_failure(
                session=session,
                scope=scope,
                key=key,
                limit=limit,
                window_seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS,
                base_seconds=settings.LOGIN_LOCKOUT_BASE_SECONDS,
                max_seconds=settings.LOGIN_LOCKOUT_MAX_SECONDS,
            )
        await repository.add_event(
            session=session,
            kind="login_failed",
            user_id=attempt.user_id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        return AuthError(INVALID_CREDENTIALS)
    await repository.clear_failures(session=session, scope="account", key=attempt.account_key)
    if new_hash is not None:
        # The stored hash was made with older parameters: upgrade it while we know the password.
        await repository.set_password_hash(session=session, user_id=user.id, password_hash=new_hash)
    permissions = await repository.role_permissions(session=session, role=user.role)
    return await start_session(
        session=session, state=state, user=user, permissions=permissions, client=client
    )


# -- users ------------------------------------------------------------------------------


async def current_user(*, session: AsyncSession, subject: str) -> UserOut:
    user = await _user_by_subject(session=session, subject=subject)
    if user is None or not user.is_active:
        raise AuthError("Account not available")
    return await describe_user(session=session, user=user)


async def _user_by_subject(*, session: AsyncSession, subject: str) -> User | None:
    try:
        user_id = uuid.UUID(subject)
    except ValueError:
        return None
    return await repository.get_user(session=session, user_id=user_id)


async def public_user(*, session: AsyncSession, user_id: str) -> PublicUserOut:
    user = await _user_by_subject(session=session, subject=user_id)
    if user is None:
        raise NotFoundError("User not found")
    return PublicUserOut(
        id=user.id, username=user.username, avatar=user.avatar, created_at=user.created_at
    )


async def list_users(
    *, session: AsyncSession, limit: int, offset: int
) -> tuple[list[UserOut], int]:
    users, total = await repository.list_users(session=session, limit=limit, offset=offset)
    permissions = await repository.permissions_by_role(
        session=session, roles={user.role for user in users}
    )
    return [user_out(user, permissions[user.role]) for user in users], total


async def set_avatar(*, session: AsyncSession, user_id: str, avatar: str | None) -> UserOut:
    user = await _user_by_subject(session=session, subject=user_id)
    if user is None:
        raise NotFoundError("User not found")
    await repository.set_avatar(session=session, user_id=user.id, avatar=avatar)
    await session.refresh(user)
    return await describe_user(session=session, user=user)
