"""The one outgoing HTTP client per process: timeouts, pool limits, request ids."""

from __future__ import annotations

import httpx

from anime_common._request_id import forward_request_id
from anime_common._settings import CommonSettings


def create_http_client(
    settings: CommonSettings,
    *,
    base_url: str = "",
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(settings.HTTP_READ_TIMEOUT, connect=settings.HTTP_CONNECT_TIMEOUT),
        # Keep as many idle connections as may be busy, or bursts reconnect every time.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        event_hooks={"request": [forward_request_id]},
    )
