"""Fixtures of the media tests: the real auth service on a port, media in-process beside it.

Auth runs as it does in production, a uvicorn server on its own port and
database (its own event loop, in a thread), so media's shared httpx client
reaches it over real HTTP with real service tokens. Importing anime_auth is
fine here: the no-cross-service-imports rule covers `src/` only.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from anime_auth.app import create_app as create_auth_app
from anime_auth.settings import ARGON2_MIN_MEMORY_KIB, ARGON2_MIN_TIME_COST, AuthSettings
from anime_common import Migrations, TokenVerifier, load_settings
from anime_devstack.asgi import serve_asgi
from anime_fakes import serve_in_thread
from anime_media.app import MIGRATIONS, create_app
from anime_media.settings import MediaSettings

PASSWORD = "correct horse battery"
# Both services must share the signing key; one per test session.
SECRET_KEY = secrets.token_urlsafe(48)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class AuthServer:
    """auth's real app, as it runs in production, reached at `url`."""

    url: str


@pytest.fixture(scope="session")
def auth_server(create_database: Callable[[str], Awaitable[str]]) -> Iterator[AuthServer]:
    database_url = anyio.run(create_database, "media_auth")
    settings = load_settings(
        AuthSettings,
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        ARGON2_MEMORY_KIB=ARGON2_MIN_MEMORY_KIB,
        ARGON2_TIME_COST=ARGON2_MIN_TIME_COST,
    )
    with serve_in_thread(create_auth_app(settings), lifespan="on") as url:
        yield AuthServer(url)


@dataclass
class Account:
    id: uuid.UUID
    token: str
    user: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def register(auth_url: str) -> Account:
    email = f"media-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=auth_url) as client:
        response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(id=uuid.UUID(body["user"]["id"]), token=body["access_token"], user=body["user"])


async def auth_user(auth_url: str, account: Account) -> dict[str, Any]:
    """The user as auth knows it now (GET /users/me at auth)."""
    async with httpx.AsyncClient(base_url=auth_url) as client:
        response = await client.get("/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


MakeMediaSettings = Callable[..., MediaSettings]


@pytest.fixture(scope="session")
def service_migrations() -> Migrations:
    """What the root conftest's `database_url` migrates each test's database to."""
    return MIGRATIONS


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def make_settings(
    database_url: str,
    service_env: Callable[[str], None],
    auth_server: AuthServer,
    media_root: Path,
) -> MakeMediaSettings:
    service_env(database_url)

    def make(**overrides: Any) -> MediaSettings:
        values = {
            "SECRET_KEY": SECRET_KEY,
            "AUTH_SERVICE_URL": auth_server.url,
            "MEDIA_ROOT": media_root,
            **overrides,
        }
        return load_settings(MediaSettings, **values)

    return make


@pytest.fixture
def settings(make_settings: MakeMediaSettings) -> MediaSettings:
    return make_settings()


@pytest.fixture
def app(settings: MediaSettings) -> Starlette:
    return create_app(settings)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_asgi(app) as client:
        yield client


@pytest.fixture
async def account(auth_server: AuthServer) -> Account:
    return await register(auth_server.url)


def token_for(subject: str | uuid.UUID, permissions: list[str], *, settings: MediaSettings) -> str:
    """A token signed like auth's, for what auth never issues (no write:profile, a service)."""
    subject = str(subject)
    return TokenVerifier(settings).issue(
        subject=subject,
        permissions=permissions,
        expires_in=300,
        session_id=None if subject.startswith("service:") else str(uuid.uuid4()),
    )


def avatar_files(media_root: Path) -> set[str]:
    directory = media_root / "avatars"
    return {path.name for path in directory.iterdir()} if directory.exists() else set()


def read(path: Path) -> bytes:
    """A file's bytes (a tiny local file: reading it blocks the test's loop for microseconds)."""
    return path.read_bytes()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
