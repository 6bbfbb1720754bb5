"""Library fixtures: a migrated database, a real catalog on a real port, signed tokens."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from anime_catalog.app import MIGRATIONS as CATALOG_MIGRATIONS
from anime_catalog.app import create_app as create_catalog_app
from anime_catalog.schemas import AnimeIn
from anime_catalog.settings import CatalogSettings
from anime_common import (
    Database,
    Migrations,
    PeerUnavailableError,
    TokenVerifier,
    asyncpg_dsn,
    create_engine,
    load_settings,
)
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope
from anime_fakes import serve_in_thread
from anime_library.app import MIGRATIONS, create_app
from anime_library.settings import LibrarySettings

SECRET_KEY = secrets.token_urlsafe(48)
USER_PERMISSIONS = ("read:profile", "write:profile", "read:content", "write:content")

# Anime the catalog is seeded with, through its own upsert endpoint.
FRIEREN: dict[str, Any] = {
    "title": "Фрирен",
    "title_en": "Frieren",
    "poster": "https://img.example/frieren.jpg",
    "episodes_total": 28,
    "hianime_id": "frieren-18542",
    "releases": [
        {
            "title": "Frieren",
            "season_number": 1,
            "episodes": [
                {"number": n, "duration_seconds": 1440, "hianime_episode_id": f"fr?ep={n}"}
                for n in range(1, 29)
            ],
        }
    ],
}
ONE_PIECE: dict[str, Any] = {
    "title": "Ван-Пис",
    "title_en": "One Piece",
    "poster": None,
    "episodes_total": None,
    "hianime_id": "one-piece-100",
    "releases": [{"title": "One Piece", "season_number": 1}],
}
# Known only to the importer: the catalog imports it the first time it is asked.
UNKNOWN_HIANIME_ID = "dandadan-19319"
# The importer's upstream fails for this one: the catalog answers 502.
BROKEN_HIANIME_ID = "broken-upstream-1"
DANDADAN: dict[str, Any] = {
    "title": "Дандадан",
    "title_en": "Dan Da Dan",
    "episodes_total": 12,
    "hianime_id": UNKNOWN_HIANIME_ID,
}


class ImportFromList:
    """The catalog's importer hook (normally the proxy) answering from a fixed list."""

    def __init__(self, documents: Sequence[dict[str, Any]]) -> None:
        self._documents = {document["hianime_id"]: document for document in documents}
        self.asked: list[str] = []

    async def fetch_hianime(self, hianime_id: str) -> AnimeIn | None:
        self.asked.append(hianime_id)
        if hianime_id == BROKEN_HIANIME_ID:
            raise PeerUnavailableError("anime source (HiAnime)")  # what ProxyImporter raises
        document = self._documents.get(hianime_id)
        return AnimeIn.model_validate(document) if document is not None else None


@dataclass
class Catalog:
    url: str
    anime: dict[str, uuid.UUID] = field(default_factory=dict)
    importer: ImportFromList | None = None


def verifier() -> TokenVerifier:
    return TokenVerifier(library_settings("postgresql://unused/db"))


def library_settings(database_url: str, **overrides: Any) -> LibrarySettings:
    return load_settings(
        LibrarySettings, DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, **overrides
    )


@pytest.fixture(scope="module")
async def catalog(
    create_migrated_database: Callable[[str, Migrations], Awaitable[str]],
) -> AsyncIterator[Catalog]:
    """The real catalog service on its own database, seeded through its own endpoint."""
    catalog_database = await create_migrated_database("catalog", CATALOG_MIGRATIONS)
    settings = load_settings(CatalogSettings, DATABASE_URL=catalog_database, SECRET_KEY=SECRET_KEY)
    importer = ImportFromList([DANDADAN])
    token = verifier().issue_service_token("test")
    with serve_in_thread(create_catalog_app(settings, importer=importer), lifespan="on") as url:
        found = Catalog(url=url, importer=importer)
        async with httpx.AsyncClient(base_url=url) as client:
            for name, document in (("frieren", FRIEREN), ("one-piece", ONE_PIECE)):
                response = await client.post(
                    "/internal/anime", json=document, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code in (200, 201), response.text
                found.anime[name] = uuid.UUID(response.json()["id"])
        yield found


@pytest.fixture(scope="session")
def service_migrations() -> Migrations:
    """What the root conftest's `database_url` migrates each test's database to."""
    return MIGRATIONS


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The test's database (at the library's head), as the service's `Database`."""
    database = Database(create_engine(library_settings(database_url), application_name="test"))
    try:
        yield database
    finally:
        await database.dispose()


def user_token(
    user_id: uuid.UUID | None = None, *, permissions: Sequence[str] = USER_PERMISSIONS
) -> dict[str, str]:
    token = verifier().issue(
        subject=str(user_id or uuid.uuid4()),
        permissions=permissions,
        expires_in=600,
        session_id=str(uuid.uuid4()),
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_library(database_url: str, catalog: Catalog) -> Callable[..., Any]:
    """`async with make_library(**settings) as client`: the library on a fresh database."""

    def make(**overrides: Any) -> Any:
        overrides.setdefault("CATALOG_SERVICE_URL", catalog.url)
        return serve_asgi(create_app(library_settings(database_url, **overrides)))

    return make


@pytest.fixture
async def library(make_library: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_library() as client:
        yield client


async def wait_for_job(
    client: httpx.AsyncClient, job: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """Poll `GET /jobs/{id}` until the job has finished."""
    for _ in range(500):
        response = await client.get(f"/jobs/{job['id']}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job['key']} did not finish")


def fields_of(response: httpx.Response) -> set[str]:
    """The fields a 422 names."""
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    return {item["field"] for item in body["details"]}


async def count(database_url: str, sql: str, *args: Any) -> Any:
    """One value of a query, on a connection of its own (what the database really holds)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()
