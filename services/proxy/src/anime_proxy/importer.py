"""The AniList import: each list entry matched to a HiAnime id and upserted into the catalog.

Matching: the entry's titles go to the search suggestions (cached like any other
route); each of the first candidates' details is fetched and accepted when its
`anilistId`/`malId` equal the entry's. When the upstream gives neither id, a
candidate whose name equals one of the entry's titles is accepted. A candidate
whose ids disagree is never taken, however close its name.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from typing import Any

import orjson

from anime_common import HIANIME_ID, AppError, NotFoundError
from anime_proxy.anilist import AniListClient
from anime_proxy.catalog import CatalogClient
from anime_proxy.hianime import HianimeService, Policy
from anime_proxy.schemas import (
    AniListList,
    AniListMedia,
    AniListStatus,
    ImportedAnime,
    ImportOut,
    UnmatchedAnime,
)

logger = logging.getLogger("anime_proxy.importer")

# API.md's mapping of AniList list statuses.
STATUS_NAMES: dict[str, str] = {
    "CURRENT": "watching",
    "COMPLETED": "completed",
    "PLANNING": "plan to watch",
    "DROPPED": "dropped",
    "PAUSED": "on hold",
    "REPEATING": "watching",
}
_KINDS = {
    "TV": "tv",
    "TV_SHORT": "tv_short",
    "MOVIE": "movie",
    "SPECIAL": "special",
    "OVA": "ova",
    "ONA": "ona",
    "MUSIC": "music",
}
_NOT_WORD = re.compile(r"[^\w]+")


def _normalize(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def _titles(media: AniListMedia) -> list[str]:
    found = [media.title.english, media.title.romaji, *(media.synonyms or []), media.title.native]
    return list(dict.fromkeys(title.strip() for title in found if title and title.strip()))


def display_title(media: AniListMedia) -> str:
    return media.title.english or media.title.romaji or media.title.native or f"#{media.id}"


def _thumbnail(media: AniListMedia) -> str | None:
    cover = media.coverImage
    if cover is None:
        return None
    return cover.large or cover.extraLarge or cover.medium


def catalog_document(media: AniListMedia, hianime_id: str, poster: str | None) -> dict[str, Any]:
    """The catalog's `AnimeIn` from AniList's data (the catalog refuses unknown fields)."""
    year = media.seasonYear or (media.startDate.year if media.startDate else None)
    document: dict[str, Any] = {
        "title": display_title(media)[:500],
        "title_original": media.title.romaji,
        "title_en": media.title.english,
        "title_native": media.title.native,
        "synonyms": (media.synonyms or [])[:50],
        "description": media.description,
        "kind": _KINDS.get(media.format or ""),
        "year": year if year is not None and 1900 <= year <= 2100 else None,
        "genres": (media.genres or [])[:30],
        "episodes_total": media.episodes,
        "poster": _thumbnail(media) or poster,
        "anilist_id": media.id,
        "mal_id": media.idMal,
        "hianime_id": hianime_id,
    }
    return document


class AniListImporter:
    def __init__(
        self,
        *,
        hianime: HianimeService,
        suggestion_policy: Policy,
        anime_policy: Policy,
        catalog: CatalogClient,
        anilist: AniListClient,
        concurrency: int,
        candidates: int,
    ) -> None:
        self._anilist = anilist
        self._hianime = hianime
        self._suggestion_policy = suggestion_policy
        self._anime_policy = anime_policy
        self._catalog = catalog
        self._concurrency = concurrency
        self._candidates = candidates

    async def run(self, lists: list[AniListList], *, complete: bool) -> ImportOut:
        """Import every entry; `complete`: fetch the details the lists lack from AniList."""
        entries: dict[int, tuple[AniListMedia, AniListStatus | None]] = {}
        for media_list in lists:
            for entry in media_list.entries:
                # The first list an anime appears in wins (AniList lists can overlap).
                entries.setdefault(entry.media.id, (entry.media, entry.status or media_list.status))
        if complete:
            await self._complete(entries)
        gate = asyncio.Semaphore(self._concurrency)

        async def one(media: AniListMedia, status: str) -> ImportedAnime | UnmatchedAnime:
            async with gate:
                return await self._import_one(media, status)

        results = await asyncio.gather(
            *(
                one(media, STATUS_NAMES.get(status or "", "watching"))
                for media, status in entries.values()
            )
        )
        return ImportOut(
            animes=[result for result in results if isinstance(result, ImportedAnime)],
            unmatched=[result for result in results if isinstance(result, UnmatchedAnime)],
        )

    async def _complete(
        self, entries: dict[int, tuple[AniListMedia, AniListStatus | None]]
    ) -> None:
        """Fill in description, genres, year, episodes... from AniList, where lists lack them.

        Best effort: the lists alone are enough to match and import, so an AniList that is
        down or rate limiting us only makes the catalog rows thinner.
        """
        wanted = [key for key, (media, _) in entries.items() if media.genres is None]
        if not wanted:
            return
        try:
            details = await self._anilist.media_by_ids(wanted)
        except AppError as exc:
            logger.warning("AniList details unavailable for the import: %s", exc.message)
            return
        for key in wanted:
            media, status = entries[key]
            extra = details.get(key)
            if extra is not None:
                merged = extra.model_dump(exclude_none=True) | media.model_dump(exclude_none=True)
                entries[key] = (AniListMedia.model_validate(merged), status)

    async def _import_one(self, media: AniListMedia, status: str) -> ImportedAnime | UnmatchedAnime:
        match = await self.match(media)
        if match is None:
            return UnmatchedAnime(
                anilist_id=media.id,
                title=display_title(media),
                status=status,
                reason="no HiAnime anime matches this entry",
            )
        hianime_id, poster = match
        anime = await self._catalog.upsert_anime(catalog_document(media, hianime_id, poster))
        return ImportedAnime(
            id=hianime_id,
            anime_id=anime["id"],
            thumbnail=_thumbnail(media) or poster,
            title=display_title(media),
            status=status,
        )

    async def match(self, media: AniListMedia) -> tuple[str, str | None] | None:
        """(HiAnime id, its poster) of the entry's anime, or None."""
        titles = _titles(media)
        wanted = {_normalize(title) for title in titles}
        seen: set[str] = set()
        for title in titles[:3]:
            for candidate in (await self._suggestions(title))[: self._candidates]:
                candidate_id = candidate.get("id")
                if not isinstance(candidate_id, str) or candidate_id in seen:
                    continue
                if not HIANIME_ID.fullmatch(candidate_id):
                    continue
                seen.add(candidate_id)
                info = await self._info(candidate_id)
                if info is None:
                    continue
                anilist_id, mal_id = info.get("anilistId"), info.get("malId")
                if anilist_id is not None or mal_id is not None:
                    if anilist_id == media.id or (mal_id is not None and mal_id == media.idMal):
                        return candidate_id, info.get("poster")
                    continue
                names = {_normalize(str(candidate.get(key) or "")) for key in ("name", "jname")}
                if names & wanted:
                    return candidate_id, info.get("poster")
        return None

    async def _suggestions(self, title: str) -> list[dict[str, Any]]:
        answer = await self._hianime.fetch(
            policy=self._suggestion_policy,
            segments=("search", "suggestion"),
            params={"q": title[:200]},
        )
        data = orjson.loads(answer.body).get("data") or {}
        suggestions = data.get("suggestions") if isinstance(data, dict) else None
        return [item for item in suggestions or [] if isinstance(item, dict)]

    async def _info(self, anime_id: str) -> dict[str, Any] | None:
        try:
            answer = await self._hianime.fetch(
                policy=self._anime_policy, segments=("anime", anime_id)
            )
        except NotFoundError:
            return None
        except AppError as exc:
            if exc.status_code < 500 and exc.status_code != 429:
                return None
            raise
        data = orjson.loads(answer.body).get("data") or {}
        info = data.get("anime", {}).get("info") if isinstance(data, dict) else None
        return info if isinstance(info, dict) else None
