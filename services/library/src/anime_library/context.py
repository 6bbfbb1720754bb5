"""What every library route takes from its request: the service state and the user."""

from __future__ import annotations

import uuid

from starlette.requests import Request

from anime_common import current_principal, principal_user_id
from anime_library.service import LibraryState
from anime_library.settings import LibrarySettings

# Reads need a valid token; every write needs this permission (API.md, Library).
WRITE = "write:content"


def library_state(request: Request) -> LibraryState:
    state: LibraryState = request.app.state.library
    return state


def library_settings(request: Request) -> LibrarySettings:
    settings: LibrarySettings = request.app.state.settings
    return settings


def user_of(request: Request) -> uuid.UUID:
    """The caller's user id (a route wrapped by `requires`)."""
    # A library belongs to a user account; service tokens have none.
    return principal_user_id(
        current_principal(request), refusal="Only user accounts have a library"
    )
