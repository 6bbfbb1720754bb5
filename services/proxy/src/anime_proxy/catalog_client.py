"""The catalog's internal endpoints the proxy uses, with a service token.

- `GET {CATALOG_SERVICE_URL}/internal/episodes/{uuid}/hianime` →
  `{"episode_id", "hianime_episode_id"}`; 404 when the episode is unknown or has no
  HiAnime id.
- `POST {CATALOG_SERVICE_URL}/internal/anime` with an `AnimeIn` document (keyed by
  `anilist_id` or `hianime_id`) → 201 created / 200 updated, the catalog's Anime.

Failures are `ServiceClient`'s (timeout 504, unreachable or 5xx 503 with
`Retry-After`); an answer off this contract is a 502.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from anime_common import (
    NotFoundError,
    PeerAnswerError,
    ServiceClient,
    ServiceUnavailableError,
    TokenVerifier,
)
from anime_proxy.schemas import EPISODE_ID, MAX_INT32

# The catalog's cap on ids in one internal batch request.
_BATCH = 500


class CatalogClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str | None,
        verifier: TokenVerifier,
        timeout: httpx.Timeout,
    ) -> None:
        self._catalog = (
            ServiceClient(
                http=http,
                base_url=base_url,
                service="catalog",
                caller="proxy",
                verifier=verifier,
                timeout=timeout,
            )
            if base_url
            else None
        )

    @property
    def _peer(self) -> ServiceClient:
        if self._catalog is None:
            raise ServiceUnavailableError("The catalog is not configured (CATALOG_SERVICE_URL)")
        return self._catalog

    async def hianime_episode_id(self, episode_id: uuid.UUID) -> str:
        """The HiAnime episode id (`<anime>?ep=<n>`) of a catalog episode."""
        response = await self._peer.get(f"/internal/episodes/{episode_id}/hianime")
        if response.status_code == 404:
            raise NotFoundError("Episode not found")
        body = self._json(response)
        value = body.get("hianime_episode_id") if isinstance(body, dict) else None
        # What the catalog stores goes to the upstream URL next: it is checked like user input.
        if not isinstance(value, str) or not EPISODE_ID.fullmatch(value):
            raise NotFoundError("Episode has no HiAnime id")
        return value

    async def anime_by_external_ids(
        self, *, anilist_ids: list[int], mal_ids: list[int]
    ) -> list[dict[str, Any]]:
        """The catalog's Anime whose AniList or MAL id is among these (the others left out)."""
        found: list[dict[str, Any]] = []
        for start in range(0, max(len(anilist_ids), len(mal_ids)), _BATCH):
            body = {
                "anilist_ids": anilist_ids[start : start + _BATCH],
                "mal_ids": mal_ids[start : start + _BATCH],
            }
            # A lookup, safe to send twice.
            response = await self._peer.post(
                "/internal/anime/by-external-ids", json=body, idempotent=True
            )
            rows = self._json(response)
            if not isinstance(rows, list):
                raise PeerAnswerError(self._peer.service, "an invalid answer")
            found += [
                row for row in rows if isinstance(row, dict) and isinstance(row.get("id"), str)
            ]
        return found

    async def upsert_anime(self, document: dict[str, Any]) -> dict[str, Any]:
        """Create or update an anime; the catalog's Anime."""
        response = await self._peer.post("/internal/anime", json=document)
        body = self._json(response, accepted=(200, 201))
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise PeerAnswerError(self._peer.service, "an invalid answer")
        return body

    def _json(self, response: httpx.Response, *, accepted: tuple[int, ...] = (200,)) -> Any:
        # A 401/403 here is our own misconfiguration (keys out of sync), never the user's fault.
        if response.status_code not in accepted:
            raise self._peer.unexpected(response)
        return self._peer.json(response)


def text_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def catalog_episodes(listing: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalog's `EpisodeIn`s from aniwatch-api's `/anime/{id}/episodes` data."""
    return [
        {
            "number": item["number"],
            "title": text_or_none(item.get("title")),
            "hianime_episode_id": text_or_none(item.get("episodeId")),
        }
        for item in listing.get("episodes") or []
        if isinstance(item, dict)
        and isinstance(item.get("number"), int)
        and 0 <= item["number"] <= MAX_INT32  # the catalog's column
    ]
