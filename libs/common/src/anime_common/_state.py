"""The two typed objects an app keeps: what the factory opened, and the service's own state.

Every service reads its state the same way: `state.py` holds one dataclass and
`get_state(request)`, which is `service_state(request, ThatClass)`. Nothing else
is put on `app.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # only names in annotations: the modules below read app_context
    import httpx

    from anime_common._database import Database
    from anime_common._revocation import RevocationPoller
    from anime_common._security import TokenVerifier
    from anime_common._settings import CommonSettings

T = TypeVar("T")


@dataclass(slots=True)
class AppContext:
    """What `create_service_app` builds and opens for a service, handed to its lifespan."""

    name: str
    version: str
    settings: CommonSettings
    verifier: TokenVerifier
    poller: RevocationPoller | None = None
    # Opened in the lifespan, before the service's own lifespan runs.
    database_or_none: Database | None = None
    http_or_none: httpx.AsyncClient | None = None
    openapi: dict[str, Any] | None = None
    # What the service's lifespan yielded (`service_state`).
    service: object = None

    @property
    def database(self) -> Database:
        """The service's database; only services created with migrations have one."""
        if self.database_or_none is None:
            raise RuntimeError(f"{self.name} has no database (or it is not open yet)")
        return self.database_or_none

    @property
    def http(self) -> httpx.AsyncClient:
        """The process's shared httpx client (request ids passed on, pooled)."""
        if self.http_or_none is None:
            raise RuntimeError(f"{self.name} is not started: no HTTP client yet")
        return self.http_or_none


def app_context(source: HTTPConnection | Starlette) -> AppContext:
    app = source.app if isinstance(source, HTTPConnection) else source
    context: AppContext = app.state.context
    return context


def service_state(source: HTTPConnection | Starlette, kind: type[T]) -> T:
    """The state the service's lifespan yielded, checked to be a `kind`."""
    state = app_context(source).service
    if not isinstance(state, kind):
        raise RuntimeError(f"the app's state is {type(state).__name__}, not {kind.__name__}")
    return state
