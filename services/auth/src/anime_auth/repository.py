"""Every SQL statement of the auth service; the rules are in `service.py`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from anime_auth.models import (
    LoginThrottle,
    RefreshToken,
    Role,
    RolePermission,
    SecurityEvent,
    Session,
    User,
)
from anime_common import paged


def _seconds(value: Any) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


# -- roles ------------------------------------------------------------------------------


async def role_exists(*, session: AsyncSession, role: str) -> bool:
    return (await session.scalar(select(Role.name).where(Role.name == role))) is not None


async def role_permissions(*, session: AsyncSession, role: str) -> list[str]:
    rows = await session.scalars(
        select(RolePermission.permission)
        .where(RolePermission.role == role)
        .order_by(RolePermission.permission)
    )
    return list(rows)


async def permissions_by_role(*, session: AsyncSession, roles: set[str]) -> dict[str, list[str]]:
    rows = await session.execute(
        select(RolePermission.role, RolePermission.permission)
        .where(RolePermission.role.in_(roles))
        .order_by(RolePermission.permission)
    )
    found: dict[str, list[str]] = {role: [] for role in roles}
    for role, permission in rows:
        found[role].append(permission)
    return found


# -- users ------------------------------------------------------------------------------


async def add_user(
    *,
    session: AsyncSession,
    email: str,
    username: str,
    password_hash: str,
    role: str,
) -> User:
    user = User(
        id=uuid.uuid4(), email=email, username=username, password_hash=password_hash, role=role
    )
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


async def email_taken(*, session: AsyncSession, email: str) -> bool:
    return (await session.scalar(select(User.id).where(User.email == email))) is not None


async def taken_usernames(*, session: AsyncSession, candidates: Sequence[str]) -> set[str]:
    """Which of the candidates (compared in lower case) already belong to someone."""
    lowered = [candidate.lower() for candidate in candidates]
    rows = await session.scalars(
        select(func.lower(User.username)).where(func.lower(User.username).in_(lowered))
    )
    return set(rows)


async def admin_exists(*, session: AsyncSession) -> bool:
    return (await session.scalar(select(User.id).where(User.role == "admin").limit(1))) is not None


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def find_user(*, session: AsyncSession, identifier: str) -> User | None:
    """By email when the identifier has an @ (usernames cannot), else by username."""
    column = User.email if "@" in identifier else func.lower(User.username)
    return (await session.scalars(select(User).where(column == identifier))).one_or_none()


async def list_users(*, session: AsyncSession, limit: int, offset: int) -> tuple[list[User], int]:
    return await paged(
        session, select(User).order_by(User.created_at, User.id), limit=limit, offset=offset
    )


async def set_password_hash(
    *, session: AsyncSession, user_id: uuid.UUID, password_hash: str
) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=password_hash, updated_at=func.now())
    )


async def set_avatar(*, session: AsyncSession, user_id: uuid.UUID, avatar: str | None) -> bool:
    result = await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(avatar=avatar, updated_at=func.now())
        .returning(User.id)
    )
    return result.scalar_one_or_none() is not None


# -- sessions ---------------------------------------------------------------------------


async def add_session(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    expires_at: datetime,
    access_expires_at: datetime,
    user_agent: str | None,
    ip: str | None,
) -> uuid.UUID:
    row = Session(
        id=uuid.uuid4(),
        user_id=user_id,
        expires_at=expires_at,
        access_expires_at=access_expires_at,
        user_agent=user_agent,
        ip=ip,
    )
    session.add(row)
    await session.flush()
    return row.id


def _alive(idle_seconds: int) -> Any:
    return and_(
        Session.revoked_at.is_(None),
        Session.expires_at > func.now(),
        Session.last_used_at > func.now() - _seconds(idle_seconds),
    )


async def get_live_session(
    *, session: AsyncSession, session_id: uuid.UUID, idle_seconds: int
) -> Session | None:
    """The session when it is neither revoked, nor past its lifetime, nor idle too long."""
    return (
        await session.scalars(select(Session).where(Session.id == session_id, _alive(idle_seconds)))
    ).one_or_none()


async def touch_session(
    *, session: AsyncSession, session_id: uuid.UUID, access_expires_at: datetime
) -> None:
    await session.execute(
        update(Session)
        .where(Session.id == session_id)
        .values(
            last_used_at=func.now(),
            access_expires_at=func.greatest(Session.access_expires_at, access_expires_at),
        )
    )


async def is_session_revoked(*, session: AsyncSession, session_id: uuid.UUID) -> bool:
    """Revoked, or never held here: a signed token naming an unknown session is no login."""
    row = (
        await session.execute(select(Session.revoked_at).where(Session.id == session_id))
    ).first()
    return row is None or row.revoked_at is not None


async def list_live_sessions(
    *, session: AsyncSession, user_id: uuid.UUID, idle_seconds: int, limit: int, offset: int
) -> tuple[list[Session], int]:
    where = and_(Session.user_id == user_id, _alive(idle_seconds))
    return await paged(
        session,
        select(Session).where(where).order_by(Session.last_used_at.desc(), Session.id),
        limit=limit,
        offset=offset,
    )


async def revoke_session(
    *, session: AsyncSession, session_id: uuid.UUID, reason: str, user_id: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Revoke one session (of `user_id`, when given); its owner, or None when nothing changed."""
    statement = (
        update(Session)
        .where(Session.id == session_id, Session.revoked_at.is_(None))
        .values(revoked_at=func.clock_timestamp(), revoked_reason=reason)
        .returning(Session.user_id)
    )
    if user_id is not None:
        statement = statement.where(Session.user_id == user_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_user_sessions(
    *, session: AsyncSession, user_id: uuid.UUID, reason: str
) -> list[uuid.UUID]:
    result = await session.execute(
        update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=func.clock_timestamp(), revoked_reason=reason)
        .returning(Session.id)
    )
    return list(result.scalars())


async def session_owner(*, session: AsyncSession, session_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(Session.user_id).where(Session.id == session_id))


@dataclass(frozen=True, slots=True)
class Revocation:
    session_id: uuid.UUID
    expires_at: datetime


async def revocations_since(
    *, session: AsyncSession, since: datetime | None, overlap_seconds: int, leeway_seconds: int
) -> tuple[list[Revocation], datetime]:
    """Sessions revoked after `since` (minus an overlap) whose access tokens still live.

    `revoked_at` is the clock at the UPDATE, but the row is visible only at
    commit: a poll may run in between. Re-sending revocations of the last
    `overlap_seconds` covers that; pollers merge duplicates.
    """
    expires = (Session.access_expires_at + _seconds(leeway_seconds)).label("expires")
    statement = select(Session.id, expires).where(
        Session.revoked_at.is_not(None),
        Session.access_expires_at + _seconds(leeway_seconds) > func.now(),
    )
    if since is not None:
        statement = statement.where(Session.revoked_at > since - _seconds(overlap_seconds))
    rows = (await session.execute(statement.order_by(Session.revoked_at))).all()
    now = await session.scalar(select(func.clock_timestamp()))
    assert now is not None
    return [Revocation(session_id=row[0], expires_at=row[1]) for row in rows], now


# -- refresh tokens ---------------------------------------------------------------------


async def add_refresh_token(
    *,
    session: AsyncSession,
    token_id: uuid.UUID,
    session_id: uuid.UUID,
    token_hash: str,
    access_claims: str,
) -> None:
    session.add(
        RefreshToken(
            id=token_id,
            session_id=session_id,
            token_hash=token_hash,
            access_claims=access_claims,
        )
    )
    await session.flush()


async def rotate_refresh_token(
    *, session: AsyncSession, token_hash: str, successor_id: uuid.UUID, idle_seconds: int
) -> uuid.UUID | None:
    """Mark the token rotated, in one statement; its session id, or None if it was not current.

    Two concurrent refreshes of one token both run this UPDATE: the second
    waits for the first's row lock, re-reads `rotated_at` once the first
    commits, and matches nothing. Exactly one of them rotates. A token of an
    ended session is never rotated (so it never counts as reused either).
    """
    live_sessions = select(Session.id).where(_alive(idle_seconds))
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.session_id.in_(live_sessions),
        )
        .values(rotated_at=func.clock_timestamp(), successor_id=successor_id)
        .returning(RefreshToken.session_id)
    )
    return result.scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class KnownToken:
    """A refresh token that `rotate_refresh_token` did not rotate, and what became of it."""

    session_id: uuid.UUID
    rotated: bool
    successor_id: uuid.UUID | None
    within_grace: bool


async def find_refresh_token(
    *, session: AsyncSession, token_hash: str, grace_seconds: int
) -> KnownToken | None:
    within = func.coalesce(
        RefreshToken.rotated_at >= func.clock_timestamp() - _seconds(grace_seconds), False
    ).label("within")
    row = (
        await session.execute(
            select(
                RefreshToken.session_id,
                RefreshToken.rotated_at.is_not(None),
                RefreshToken.successor_id,
                within,
            ).where(RefreshToken.token_hash == token_hash)
        )
    ).one_or_none()
    if row is None:
        return None
    return KnownToken(
        session_id=row[0], rotated=bool(row[1]), successor_id=row[2], within_grace=bool(row[3])
    )


async def get_refresh_token(*, session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    return await session.get(RefreshToken, token_id)


async def refresh_token_session(*, session: AsyncSession, token_hash: str) -> uuid.UUID | None:
    return await session.scalar(
        select(RefreshToken.session_id).where(RefreshToken.token_hash == token_hash)
    )


# -- security events and failed logins --------------------------------------------------


async def add_event(
    *,
    session: AsyncSession,
    kind: str,
    user_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    session.add(
        SecurityEvent(
            kind=kind,
            user_id=user_id,
            session_id=session_id,
            ip=ip,
            user_agent=user_agent,
            details=details or {},
        )
    )
    await session.flush()


async def locked_for(*, session: AsyncSession, keys: Sequence[tuple[str, str]]) -> float | None:
    """Seconds until the longest lock among these (scope, key) pairs ends; None when unlocked."""
    remaining = await session.scalar(
        select(
            func.max(func.extract("epoch", LoginThrottle.locked_until - func.clock_timestamp()))
        ).where(
            tuple_(LoginThrottle.scope, LoginThrottle.key).in_(list(keys)),
            LoginThrottle.locked_until > func.clock_timestamp(),
        )
    )
    return float(remaining) if remaining is not None else None


async def count_failure(
    *,
    session: AsyncSession,
    scope: str,
    key: str,
    limit: int,
    window_seconds: int,
    base_seconds: int,
    max_seconds: int,
) -> int:
    """Count one failure, atomically; past `limit`, lock for an exponentially growing time.

    A counter whose last failure is older than the window (and not locked)
    starts again at 1: old typos are forgiven, persistent guessing is not.
    """
    table = LoginThrottle.__table__
    stale = and_(
        table.c.last_failure_at < func.now() - _seconds(window_seconds),
        or_(table.c.locked_until.is_(None), table.c.locked_until < func.now()),
    )
    failures_expr = case((stale, 1), else_=table.c.failures + 1)
    exponent = func.least(failures_expr - limit, 30)
    lock_seconds = func.least(base_seconds * func.power(2, exponent), max_seconds)
    locked_until = case(
        (failures_expr >= limit, func.now() + _seconds(lock_seconds)), else_=table.c.locked_until
    )
    statement = insert(LoginThrottle).values(
        scope=scope,
        key=key,
        failures=1,
        last_failure_at=func.now(),
        locked_until=func.now() + _seconds(base_seconds) if limit <= 1 else None,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[LoginThrottle.scope, LoginThrottle.key],
        set_={
            "failures": failures_expr,
            "last_failure_at": func.now(),
            "locked_until": locked_until,
        },
    ).returning(LoginThrottle.failures)
    return int((await session.execute(upsert)).scalar_one())


async def purge_expired(
    *, session: AsyncSession, idle_seconds: int, keep_seconds: int, window_seconds: int
) -> tuple[int, int]:
    """Delete sessions (and their refresh tokens) ended more than `keep_seconds` ago, and
    failure counters nobody would look at again; (sessions, counters) deleted.

    A revoked session stays while its access tokens may still be presented: it
    is what /internal/revocations publishes.
    """
    keep = _seconds(keep_seconds)
    sessions = await session.execute(
        delete(Session).where(
            Session.access_expires_at < func.now() - keep,
            or_(
                Session.expires_at < func.now() - keep,
                Session.last_used_at < func.now() - _seconds(idle_seconds) - keep,
                Session.revoked_at < func.now() - keep,
            ),
        )
    )
    counters = await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < func.now() - _seconds(window_seconds),
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < func.now()),
        )
    )
    return sessions.rowcount, counters.rowcount  # type: ignore[attr-defined]


async def clear_failures(*, session: AsyncSession, scope: str, key: str) -> None:
    await session.execute(
        delete(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
    )
