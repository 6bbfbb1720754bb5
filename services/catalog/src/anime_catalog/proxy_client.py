"""Fetching an anime the catalog does not know yet, from the proxy service.

The proxy service's internal endpoint
`GET {PROXY_SERVICE_URL}/internal/hianime/anime/{hianime_id}`, called with a
service token (permission `internal`), answers

- 200 with an `AnimeIn` document (`schemas.AnimeIn`: titles, `hianime_id`,
  optional `anilist_id`/`mal_id`, and `releases` with their `episodes`),
  built from aniwatch-api's `/anime/{id}` and `/anime/{id}/episodes`;
- 404 when the upstream does not know the id.

Failures are `ServiceClient`'s, naming "the anime source (HiAnime)", which is
what the proxy stands for here: no answer in time is our 504; refused, or a
5xx (the proxy's own 502/504 when aniwatch-api fails) our 503, with
`details.service` so the library names the anime source, not the catalog; an
answer off this contract a 502. The catalog stores what it gets with its normal upsert, under a
per-id lock, so one anime is imported once however many requests ask at once.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import httpx

from anime_catalog.schemas import AnimeIn
from anime_common import PeerAnswerError, ServiceClient, TokenVerifier, ValidationError, validate


class AnimeImporter(Protocol):
    """Finds an anime by its HiAnime id outside the catalog; None when nobody knows it."""

    async def fetch_hianime(self, hianime_id: str) -> AnimeIn | None: ...


class ProxyImporter:
    """`AnimeImporter` over the proxy service's internal endpoint (see the module docs)."""

    def __init__(
        self, *, client: httpx.AsyncClient, base_url: str, verifier: TokenVerifier
    ) -> None:
        self._proxy = ServiceClient(
            http=client,
            base_url=base_url,
            service="anime source (HiAnime)",
            caller="catalog",
            verifier=verifier,
        )

    async def fetch_hianime(self, hianime_id: str) -> AnimeIn | None:
        response = await self._proxy.get(f"/internal/hianime/anime/{quote(hianime_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._proxy.unexpected(response)
        try:
            return validate(AnimeIn, self._proxy.json(response))
        except ValidationError as exc:
            raise PeerAnswerError(self._proxy.service, "an invalid anime") from exc
