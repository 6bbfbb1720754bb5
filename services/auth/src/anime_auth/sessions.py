"""The rules of sessions and tokens: issue, rotate (with grace and reuse detection), revoke.

Like `service.py`: functions only flush, the route commits, and a failure
that must still be written down (a detected reuse) is returned, not raised.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from anime_auth import repository
from anime_auth.models import Session, User
from anime_auth.schemas import RevocationOut, RevocationsOut, SessionOut, TokensOut
from anime_auth.state import AuthState, Client
from anime_auth.tokens import hash_refresh_token, new_refresh_token, successor_token
from anime_common import AppError, AuthError, NotFoundError

INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"  # noqa: S105 - a message
# Revocations committed just before a poll may become visible just after it.
REVOCATION_OVERLAP_SECONDS = 30


async def _issue(
    *,
    session: AsyncSession,
    state: AuthState,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    permissions: list[str],
    refresh_token: str,
    token_id: uuid.UUID,
) -> TokensOut:
    claims = state.verifier.claims(
        subject=str(user_id),
        permissions=permissions,
        expires_in=state.access_ttl,
        session_id=str(session_id),
    )
    await repository.add_refresh_token(
        session=session,
        token_id=token_id,
        session_id=session_id,
        token_hash=hash_refresh_token(refresh_token),
        access_claims=json.dumps(claims),
    )
    await repository.touch_session(
        session=session,
        session_id=session_id,
        access_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )
    return TokensOut(
        access_token=state.verifier.encode(claims),
        refresh_token=refresh_token,
        expires_in=state.access_ttl,
    )


async def start_session(
    *, session: AsyncSession, state: AuthState, user: User, permissions: list[str], client: Client
) -> TokensOut:
    now = datetime.now(UTC)
    session_id = await repository.add_session(
        session=session,
        user_id=user.id,
        expires_at=now + timedelta(days=state.settings.REFRESH_TOKEN_EXPIRE_DAYS),
        access_expires_at=now + timedelta(seconds=state.access_ttl),
        user_agent=client.user_agent,
        ip=client.ip,
    )
    await repository.add_event(
        session=session,
        kind="login_succeeded",
        user_id=user.id,
        session_id=session_id,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    return await _issue(
        session=session,
        state=state,
        session_id=session_id,
        user_id=user.id,
        permissions=permissions,
        refresh_token=new_refresh_token(),
        token_id=uuid.uuid4(),
    )


async def refresh(
    *, session: AsyncSession, state: AuthState, refresh_token: str, client: Client
) -> TokensOut | AppError:
    """Rotate a refresh token: a new pair, the same pair within the grace period, or reuse."""
    token_hash = hash_refresh_token(refresh_token)
    successor = successor_token(refresh_token, key=state.settings.SECRET_KEY.get_secret_value())
    successor_id = uuid.uuid4()
    session_id = await repository.rotate_refresh_token(
        session=session,
        token_hash=token_hash,
        successor_id=successor_id,
        idle_seconds=state.idle_seconds,
    )
    if session_id is not None:
        return await _rotated(
            session=session,
            state=state,
            session_id=session_id,
            successor=successor,
            successor_id=successor_id,
        )

    rotated = await repository.find_refresh_token(
        session=session, token_hash=token_hash, grace_seconds=state.settings.REFRESH_GRACE_SECONDS
    )
    if rotated is None or not rotated.rotated:
        # Unknown, or the current token of a session that has ended (logout, expiry).
        return AuthError(INVALID_REFRESH_TOKEN)
    if rotated.within_grace:
        return await _replay(session=session, state=state, rotated=rotated, successor=successor)
    # A rotated token came back after the grace period: it was stolen, or its successor was.
    await repository.revoke_session(
        session=session, session_id=rotated.session_id, reason="refresh_token_reuse"
    )
    await repository.add_event(
        session=session,
        kind="refresh_token_reused",
        user_id=await repository.session_owner(session=session, session_id=rotated.session_id),
        session_id=rotated.session_id,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    return AuthError("Refresh token reuse detected; the session has been revoked")


async def _rotated(
    *,
    session: AsyncSession,
    state: AuthState,
    session_id: uuid.UUID,
    successor: str,
    successor_id: uuid.UUID,
) -> TokensOut | AppError:
    live = await repository.get_live_session(
        session=session, session_id=session_id, idle_seconds=state.idle_seconds
    )
    if live is None:
        return AuthError(INVALID_REFRESH_TOKEN)
    user = (
        await repository.get_user(session=session, user_id=live.user_id)
        if live.user_id is not None
        else None
    )
    if user is None or not user.is_active:
        # A deactivated account's session ends here, so no retry can replay this refresh.
        await repository.revoke_session(
            session=session, session_id=session_id, reason="account_inactive"
        )
        return AuthError(INVALID_REFRESH_TOKEN)
    # Permissions are read again: a role changed since login applies from this refresh on.
    permissions = await repository.role_permissions(session=session, role=user.role)
    return await _issue(
        session=session,
        state=state,
        session_id=session_id,
        user_id=user.id,
        permissions=permissions,
        refresh_token=successor,
        token_id=successor_id,
    )


async def _replay(
    *, session: AsyncSession, state: AuthState, rotated: repository.KnownToken, successor: str
) -> TokensOut | AppError:
    """The answer the first refresh gave, for a client that lost it: the same pair again."""
    live = await repository.get_live_session(
        session=session, session_id=rotated.session_id, idle_seconds=state.idle_seconds
    )
    following = (
        await repository.get_refresh_token(session=session, token_id=rotated.successor_id)
        if rotated.successor_id is not None
        else None
    )
    if (
        live is None
        or following is None
        or following.rotated_at is not None
        or following.token_hash != hash_refresh_token(successor)
    ):
        return AuthError(INVALID_REFRESH_TOKEN)
    claims = json.loads(following.access_claims)
    return TokensOut(
        access_token=state.verifier.encode(claims),
        refresh_token=successor,
        expires_in=int(claims["exp"]) - int(claims["iat"]),
    )


# -- logout and sessions ----------------------------------------------------------------


async def logout(
    *,
    session: AsyncSession,
    refresh_token: str | None,
    user_id: uuid.UUID | None,
    current_session: uuid.UUID | None,
    everywhere: bool,
    client: Client,
) -> None:
    """End the refresh token's session, the bearer's session, or (`everywhere`) all of them."""
    ended: list[uuid.UUID] = []
    if everywhere and user_id is not None:
        ended += await repository.revoke_user_sessions(
            session=session, user_id=user_id, reason="logout_all"
        )
    if refresh_token is not None:
        session_id = await repository.refresh_token_session(
            session=session, token_hash=hash_refresh_token(refresh_token)
        )
        if session_id is not None and await repository.revoke_session(
            session=session, session_id=session_id, reason="logout"
        ):
            ended.append(session_id)
    if current_session is not None and await repository.revoke_session(
        session=session, session_id=current_session, reason="logout"
    ):
        ended.append(current_session)
    for session_id in ended:
        await repository.add_event(
            session=session,
            kind="session_revoked",
            session_id=session_id,
            user_id=await repository.session_owner(session=session, session_id=session_id),
            ip=client.ip,
            user_agent=client.user_agent,
            details={"reason": "logout_all" if everywhere else "logout"},
        )


async def list_sessions(
    *,
    session: AsyncSession,
    state: AuthState,
    user_id: uuid.UUID,
    current: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[SessionOut], int]:
    rows, total = await repository.list_live_sessions(
        session=session,
        user_id=user_id,
        idle_seconds=state.idle_seconds,
        limit=limit,
        offset=offset,
    )
    return [_session_out(row, current=current) for row in rows], total


def _session_out(row: Session, *, current: uuid.UUID | None) -> SessionOut:
    return SessionOut(
        id=row.id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        user_agent=row.user_agent,
        ip=row.ip,
        current=row.id == current,
    )


async def end_session(
    *, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, client: Client
) -> None:
    """Revoke one of the user's own sessions; another user's (or none) is a 404."""
    if await repository.session_owner(session=session, session_id=session_id) != user_id:
        raise NotFoundError("Session not found")
    if await repository.revoke_session(
        session=session, session_id=session_id, reason="session_deleted", user_id=user_id
    ):
        await repository.add_event(
            session=session,
            kind="session_revoked",
            user_id=user_id,
            session_id=session_id,
            ip=client.ip,
            user_agent=client.user_agent,
            details={"reason": "session_deleted"},
        )


async def revocations(
    *, session: AsyncSession, state: AuthState, since: datetime | None
) -> RevocationsOut:
    found, cursor = await repository.revocations_since(
        session=session,
        since=since,
        overlap_seconds=REVOCATION_OVERLAP_SECONDS,
        leeway_seconds=state.settings.JWT_LEEWAY_SECONDS,
    )
    return RevocationsOut(
        revocations=[
            RevocationOut(session_id=item.session_id, expires_at=item.expires_at) for item in found
        ],
        cursor=cursor,
    )
