"""The AniList import: each list entry matched to a HiAnime id and upserted into the catalog.

Matching, cheapest first:
1. the catalog, by the entry's AniList id, then by its MyAnimeList id (one
   batch request for the whole import; an anime the catalog holds with its
   HiAnime id needs no upstream call at all);
2. the upstream, by title (english, romaji, synonyms, native: whichever the
   entry has; the frontend sends only `title.english`, often null, so for an
   anime the catalog holds its own titles are tried too): the titles go to the
   search suggestions (cached like any other route); each of the first
   candidates' details is fetched and accepted when its `anilistId`/`malId`
   equal the entry's. When the upstream gives neither id, a candidate whose
   name equals one of the entry's titles is accepted. A candidate whose ids
   disagree is never taken, however close its name.

An anime the catalog holds but the upstream cannot place is still imported,
with its catalog UUID as `id` (every library route takes one as an anime id).
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
from anime_proxy.catalog_client import CatalogClient, catalog_episodes
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


def _catalog_titles(anime: dict[str, Any] | None) -> list[str]:
    if anime is None:
        return []
    found = (anime.get(key) for key in ("title_en", "title_original", "title_native", "title"))
    return [title for title in found if isinstance(title, str) and title.strip()]


def _imported(
    media: AniListMedia, anime: dict[str, Any], *, hianime_id: str, status: str
) -> ImportedAnime:
    """An entry placed in the catalog; titles and covers the entry lacks come from there."""
    title = media.title.english or media.title.romaji or media.title.native
    return ImportedAnime(
        id=hianime_id,
        anime_id=anime["id"],
        thumbnail=_thumbnail(media) or anime.get("poster"),
        title=title or anime.get("title_en") or anime.get("title") or display_title(media),
        status=status,
    )


def catalog_document(
    media: AniListMedia,
    hianime_id: str,
    poster: str | None,
    episodes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The catalog's `AnimeIn` from AniList's data (the catalog refuses unknown fields).

    `episodes`, from the upstream's episode list, become the anime's first release,
    so the watch page has episodes (with their HiAnime ids) to offer.
    """
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
    if episodes:
        document["releases"] = [
            {
                "title": document["title"],
                "kind": document["kind"],
                "season_number": 1,
                "year": document["year"],
                "episodes_total": media.episodes or len(episodes),
                "episodes": episodes,
            }
        ]
    return document


class AniListImporter:
    def __init__(
        self,
        *,
        hianime: HianimeService,
        suggestion_policy: Policy,
        anime_policy: Policy,
        episodes_policy: Policy,
        catalog: CatalogClient,
        anilist: AniListClient,
        concurrency: int,
        candidates: int,
    ) -> None:
        self._anilist = anilist
        self._hianime = hianime
        self._suggestion_policy = suggestion_policy
        self._anime_policy = anime_policy
        self._episodes_policy = episodes_policy
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
        known = await self._in_catalog([media for media, _ in entries.values()])
        gate = asyncio.Semaphore(self._concurrency)

        async def one(media: AniListMedia, status: str) -> ImportedAnime | UnmatchedAnime:
            anime = known.get(media.id)
            if anime is not None and anime.get("hianime_id"):
                return _imported(media, anime, hianime_id=anime["hianime_id"], status=status)
            async with gate:
                return await self._import_one(media, status, anime)

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

    async def _in_catalog(self, medias: list[AniListMedia]) -> dict[int, dict[str, Any]]:
        """The catalog's anime of each entry it holds, by AniList id first, then by MAL id."""
        rows = await self._catalog.anime_by_external_ids(
            anilist_ids=[media.id for media in medias],
            mal_ids=[media.idMal for media in medias if media.idMal is not None],
        )
        by_anilist = {row["anilist_id"]: row for row in rows if row.get("anilist_id") is not None}
        by_mal = {row["mal_id"]: row for row in rows if row.get("mal_id") is not None}
        found: dict[int, dict[str, Any]] = {}
        for media in medias:
            row = by_anilist.get(media.id) or (by_mal.get(media.idMal) if media.idMal else None)
            if row is not None:
                found[media.id] = row
        return found

    async def _import_one(
        self, media: AniListMedia, status: str, anime: dict[str, Any] | None
    ) -> ImportedAnime | UnmatchedAnime:
        """Place an entry on HiAnime; `anime`: the catalog's row when it holds the entry."""
        if anime is not None and anime.get("anilist_id") != media.id:
            # Held under another AniList id (matched by MAL id): an upsert by this
            # entry's AniList id would fork the row, so the catalog's row is the answer.
            return _imported(media, anime, hianime_id=str(anime["id"]), status=status)
        match = await self.match(media, also=_catalog_titles(anime))
        if anime is not None:
            if match is None:
                return _imported(media, anime, hianime_id=str(anime["id"]), status=status)
            # Record the HiAnime id; the catalog's own main title stays (it may be Russian).
            episodes = await self._episodes(match[0])
            document = catalog_document(media, *match, episodes) | {"title": anime["title"]}
            anime = await self._catalog.upsert_anime(document)
            return _imported(media, anime, hianime_id=match[0], status=status)
        if match is None:
            return UnmatchedAnime(
                anilist_id=media.id,
                title=display_title(media),
                status=status,
                reason="no HiAnime anime matches this entry",
            )
        episodes = await self._episodes(match[0])
        anime = await self._catalog.upsert_anime(catalog_document(media, *match, episodes))
        return _imported(media, anime, hianime_id=match[0], status=status)

    async def match(
        self, media: AniListMedia, *, also: list[str] | None = None
    ) -> tuple[str, str | None] | None:
        """(HiAnime id, its poster) of the entry's anime, or None; `also`: more titles to try."""
        titles = list(dict.fromkeys([*_titles(media), *(also or [])]))
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

    async def _episodes(self, anime_id: str) -> list[dict[str, Any]]:
        """The anime's episodes for the catalog; best effort (the anime imports without)."""
        try:
            answer = await self._hianime.fetch(
                policy=self._episodes_policy, segments=("anime", anime_id, "episodes")
            )
        except AppError as exc:
            logger.warning("episodes of %s unavailable for the import: %s", anime_id, exc.message)
            return []
        data = orjson.loads(answer.body).get("data")
        return catalog_episodes(data) if isinstance(data, dict) else []

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
