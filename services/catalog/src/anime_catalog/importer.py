"""Fetching an anime the catalog does not know yet, from the proxy service.

The proxy service's internal endpoint
`GET {PROXY_SERVICE_URL}/internal/hianime/anime/{hianime_id}`, called with a
service token (permission `internal`), answers

- 200 with an `AnimeIn` document (`schemas.AnimeIn`: titles, `hianime_id`,
  optional `anilist_id`/`mal_id`, and `releases` with their `episodes`),
  built from aniwatch-api's `/anime/{id}` and `/anime/{id}/episodes`;
- 404 when the upstream does not know the id.

Anything else is the upstream's trouble: a timeout is our 504, any other
failure a 502. The catalog stores what it gets with its normal upsert, under a
per-id lock, so one anime is imported once however many requests ask at once.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import httpx

from anime_catalog.schemas import AnimeIn
from anime_common import (
    BadGatewayError,
    GatewayTimeoutError,
    TokenVerifier,
    ValidationError,
    validate,
)


class AnimeImporter(Protocol):
    """Finds an anime by its HiAnime id outside the catalog; None when nobody knows it."""

    async def fetch_hianime(self, hianime_id: str) -> AnimeIn | None: ...


class ProxyImporter:
    """`AnimeImporter` over the proxy service's internal endpoint (see the module docs)."""

    def __init__(
        self, *, client: httpx.AsyncClient, base_url: str, verifier: TokenVerifier
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._verifier = verifier

    async def fetch_hianime(self, hianime_id: str) -> AnimeIn | None:
        token = self._verifier.issue_service_token("catalog")
        url = f"{self._base_url}/internal/hianime/anime/{quote(hianime_id, safe='')}"
        try:
            response = await self._client.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException as exc:
            raise GatewayTimeoutError("The anime source did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise BadGatewayError("The anime source cannot be reached") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BadGatewayError(f"The anime source answered {response.status_code}")
        try:
            return validate(AnimeIn, response.json())
        except (ValueError, ValidationError) as exc:
            raise BadGatewayError("The anime source sent an invalid anime") from exc
