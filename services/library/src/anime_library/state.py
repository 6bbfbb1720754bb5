"""What the library's routes share for the life of the process, and who is calling."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.requests import Request

from anime_common import (
    Batcher,
    Database,
    ReadPool,
    current_principal,
    principal_user_id,
    service_state,
)
from anime_library.catalog_client import CatalogClient
from anime_library.favorites.repository import KeptFavorite
from anime_library.jobs.runner import JobRunner
from anime_library.settings import LibrarySettings

# Reads need a valid token; every write needs this permission (API.md, Library).
WRITE = "write:content"

# A (user, anime)'s stored favorite and its newest add job (`favorites.service.kept_favorites`).
KeptFavorites = Batcher[tuple[uuid.UUID, uuid.UUID], KeptFavorite]


@dataclass(frozen=True, slots=True)
class LibraryState:
    """The long-lived parts of the service, built in its lifespan."""

    settings: LibrarySettings
    database: Database  # collections' transactions (the job handlers use the runner's pool)
    # Reads: plain asyncpg (`anime_common.create_read_pool`), as in the catalog
    # (PERF_NOTES.md: ≈3x the reads/s of SQLAlchemy Core).
    reader: ReadPool
    catalog: CatalogClient
    runner: JobRunner
    # Favorites' existence reads, batched (favorites.service.kept_favorites).
    favorites_kept: KeptFavorites


def get_state(request: Request) -> LibraryState:
    return service_state(request, LibraryState)


def user_of(request: Request) -> uuid.UUID:
    """The caller's user id (a route wrapped by `requires`)."""
    # A library belongs to a user account; service tokens have none.
    return principal_user_id(
        current_principal(request), refusal="Only user accounts have a library"
    )
