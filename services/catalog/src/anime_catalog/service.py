"""The catalog's rules: paging totals, 404s, search, upserts and HiAnime resolution.

Reads, search included, take a connection from the reader pool (plain
asyncpg, autocommit: the hot path); writes take the route's session and never
commit (the route's `Database.transaction()` does, once).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from anime_catalog import ranking, repository
from anime_catalog.schemas import AnimeIn, AnimeListQuery, SearchQuery
from anime_catalog.search_text import search_key
from anime_catalog.state import CatalogState
from anime_common import (
    NotFoundError,
    ServiceUnavailableError,
    iter_causes,
    parse_path_id,
)

Row = repository.Row


# --- reads ----------------------------------------------------------------------


async def list_anime(*, state: CatalogState, query: AnimeListQuery) -> tuple[list[Row], int]:
    filters = {
        name: value
        for name, value in (
            ("genre", query.genre),
            ("year", query.year),
            ("status", query.status),
            ("kind", query.kind),
        )
        if value is not None
    }
    filter_key = tuple(sorted(filters.items()))
    async with state.reader.acquire() as connection:
        after, offset = None, query.offset
        if offset >= state.anchor_step:
            anchor_key = ("anchors", query.sort, filter_key)
            anchors = state.listing.get(anchor_key)
            if anchors is None:
                anchors = await repository.anime_anchors(
                    connection=connection, filters=filters, sort=query.sort, step=state.anchor_step
                )
                state.listing.put(anchor_key, anchors)
            passed = min(offset // state.anchor_step, len(anchors))
            if passed:
                after = anchors[passed - 1]
                offset -= passed * state.anchor_step
        rows = await repository.list_anime(
            connection=connection,
            filters=filters,
            sort=query.sort,
            limit=query.limit,
            offset=offset,
            after=after,
        )
        total = state.listing.get(("count", filter_key))
        if total is None:
            total = await repository.count_anime(connection=connection, filters=filters)
            state.listing.put(("count", filter_key), total)
    return rows, total


async def get_anime(*, state: CatalogState, raw_id: str) -> Row:
    anime_id = parse_path_id(raw_id, what="Anime")
    async with state.reader.acquire() as connection:
        row = await repository.get_anime(connection=connection, anime_id=anime_id)
    if row is None:
        raise NotFoundError("Anime not found")
    return row


async def list_releases(
    *, state: CatalogState, anime_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[Row], int]:
    async with state.reader.acquire() as connection:
        return await repository.list_releases(
            connection=connection, anime_id=anime_id, limit=limit, offset=offset
        )


async def get_release(*, state: CatalogState, raw_id: str) -> Row:
    release_id = parse_path_id(raw_id, what="Release")
    async with state.reader.acquire() as connection:
        row = await repository.get_release(connection=connection, release_id=release_id)
    if row is None:
        raise NotFoundError("Release not found")
    return row


# A release's whole list in one answer (`limit` absent) stops here; no real
# release comes near it (One Piece: ~1,150), and beyond it `Link` pages on.
WHOLE_EPISODE_LIST_CAP = 10_000


async def list_episodes(
    *, state: CatalogState, release_id: uuid.UUID, limit: int | None, offset: int
) -> tuple[list[Row], int]:
    """A page of a release's episodes, or (`limit=None`) every one of them, and the total."""
    async with state.reader.acquire() as connection:
        found = await repository.list_episodes(
            connection=connection,
            release_id=release_id,
            limit=WHOLE_EPISODE_LIST_CAP if limit is None else limit,
            offset=offset,
        )
    if found is None:
        raise NotFoundError("Release not found")
    return found


async def search(*, state: CatalogState, query: SearchQuery) -> tuple[list[Row], int]:
    plan = ranking.plan_search(query.q)
    if plan is None:
        return [], 0
    # Popular queries repeat: answer them from the listing cache (cleared by writes).
    cache_key = ("search", plan.key, query.limit, query.offset)
    cached: tuple[list[Row], int] | None = state.listing.get(cache_key)
    if cached is not None:
        return cached
    try:
        async with state.reader.acquire() as connection:
            async with asyncio.timeout(ranking.SEARCH_TIMEOUT):
                found = await _search(connection=connection, plan=plan, query=query)
    except Exception as exc:
        if _timed_out(exc):
            raise ServiceUnavailableError(
                "Search took too long; try a more specific query", headers={"Retry-After": "1"}
            ) from exc
        raise
    state.listing.put(cache_key, found)
    return found


async def _search(
    *, connection: repository.ReadConnection, plan: ranking.SearchPlan, query: SearchQuery
) -> tuple[list[Row], int]:
    """The rules of ranking.py, step by step: words, then titles, then the page."""
    words = await repository.search_words(
        connection=connection,
        probes=plan.probes,
        prefix=plan.prefix,
        expansions=ranking.PREFIX_EXPANSIONS,
    )
    matches = ranking.match_words(plan, found=words.probed, expansions=words.expanded)
    unmatched = [index for index, matched in enumerate(matches) if not matched]
    if unmatched:
        # A word found nowhere may be two words run together ("chainsawman").
        plan, matches, words = await _split_words(
            connection=connection, plan=plan, matches=matches, words=words, unmatched=unmatched
        )
    frequency = {**words.expanded, **words.probed}
    words_of = ranking.candidate_words(matches, frequency)
    if words_of is None:
        return [], 0
    rows = await repository.search_candidates(
        connection=connection, words=words_of, cap=ranking.CANDIDATE_CAP
    )
    ordered = ranking.rank_anime(plan, matches, rows)
    page_ids = ordered[query.offset : query.offset + query.limit]
    if not page_ids:
        return [], len(ordered)
    by_id = {
        row["id"]: row
        for row in await repository.anime_by_ids(
            connection=connection, ids=[uuid.UUID(anime_id) for anime_id in page_ids]
        )
    }
    return [by_id[anime_id] for anime_id in page_ids if anime_id in by_id], len(ordered)


async def _split_words(
    *,
    connection: repository.ReadConnection,
    plan: ranking.SearchPlan,
    matches: ranking.Matches,
    words: repository.FoundWords,
    unmatched: list[int],
) -> tuple[ranking.SearchPlan, ranking.Matches, repository.FoundWords]:
    """The plan with each unmatched word read as two catalog words, where it is two.

    The halves' own typos are looked for only among the words already found.
    """
    halves = {
        half
        for index in unmatched
        for split in ranking.splits(plan.words[index].text)
        for half in split
    }
    if not halves:
        return plan, matches, words
    known = await repository.search_words(
        connection=connection,
        probes=sorted(halves),
        prefix=None,
        expansions=0,
    )
    split = plan
    # From the last word back, so the earlier indexes stay where they are.
    for index in reversed(unmatched):
        for head, tail in ranking.splits(plan.words[index].text):
            if head in known.probed and tail in known.probed:
                split = split.split(index, head, tail)
                break
    if split is plan:
        return plan, matches, words
    words = repository.FoundWords(probed={**words.probed, **known.probed}, expanded=words.expanded)
    return split, ranking.match_words(split, found=words.probed, expansions=words.expanded), words


def _timed_out(exc: BaseException) -> bool:
    """Whether the search ran out of SEARCH_TIMEOUT, or the server cancelled a statement."""
    return any(
        isinstance(current, TimeoutError | asyncpg.exceptions.QueryCanceledError)
        for current in iter_causes(exc)
    )


async def anime_by_ids(*, state: CatalogState, ids: Sequence[uuid.UUID]) -> list[Row]:
    if not ids:
        return []
    async with state.reader.acquire() as connection:
        return await repository.anime_by_ids(connection=connection, ids=ids)


async def anime_by_external_ids(
    *, state: CatalogState, anilist_ids: Sequence[int], mal_ids: Sequence[int]
) -> list[Row]:
    if not anilist_ids and not mal_ids:
        return []
    async with state.reader.acquire() as connection:
        return await repository.anime_by_external_ids(
            connection=connection, anilist_ids=anilist_ids, mal_ids=mal_ids
        )


async def episodes_by_ids(*, state: CatalogState, ids: Sequence[uuid.UUID]) -> list[Row]:
    if not ids:
        return []
    async with state.reader.acquire() as connection:
        return await repository.episodes_by_ids(connection=connection, ids=ids)


async def hianime_episode_id(*, state: CatalogState, raw_id: str) -> str:
    episode_id = parse_path_id(raw_id, what="Episode")
    rows = await episodes_by_ids(state=state, ids=[episode_id])
    if not rows or rows[0]["hianime_episode_id"] is None:
        raise NotFoundError("Episode not found")
    value: str = rows[0]["hianime_episode_id"]
    return value


# --- writes ---------------------------------------------------------------------

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_ANIME_FIELDS = (
    "title",
    "title_original",
    "title_en",
    "title_native",
    "synonyms",
    "description",
    "kind",
    "status",
    "year",
    "season",
    "genres",
    "episodes_total",
    "poster",
    "score",
    "anilist_id",
    "mal_id",
    "hianime_id",
)


_TITLE_FIELDS = ("title", "title_original", "title_en", "title_native")


def slug_for(data: AnimeIn) -> str:
    """The given slug, else the HiAnime id (already a unique slug), else name plus AniList id."""
    if data.slug:
        return data.slug
    if data.hianime_id:
        return data.hianime_id
    name = search_key(data.title_en or data.title_original or data.title)
    base = _SLUG_JUNK.sub("-", name).strip("-")[:80] or "anime"
    return f"{base}-{data.anilist_id}"


def search_titles(names: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One search row per distinct key among an anime's titles and synonyms."""
    named = [
        *((source, names[source]) for source in _TITLE_FIELDS),
        *(("synonym", synonym) for synonym in names["synonyms"] or ()),
    ]
    seen: set[str] = set()
    titles: list[tuple[str, str]] = []
    for source, value in named:
        key = search_key(value) if value else ""
        if key and key not in seen:
            seen.add(key)
            titles.append((source, key))
    return titles


async def upsert_anime(*, session: AsyncSession, data: AnimeIn) -> tuple[uuid.UUID, bool]:
    """Create or update an anime (and its releases and episodes) by its external ids."""
    keys = [f"anilist:{data.anilist_id}"] if data.anilist_id is not None else []
    keys += [f"hianime:{data.hianime_id}"] if data.hianime_id is not None else []
    await repository.lock_keys(session=session, keys=keys)
    values: dict[str, Any] = {name: getattr(data, name) for name in _ANIME_FIELDS}
    existing = await repository.find_anime_id(
        session=session, anilist_id=data.anilist_id, hianime_id=data.hianime_id
    )
    if existing is not None:
        # Keep what an earlier import knew when this one does not say (None, []).
        known = {name: value for name, value in values.items() if value not in (None, [])}
        await repository.update_anime(session=session, anime_id=existing, values=known)
        anime_id, created = existing, False
        names = await repository.anime_names(session=session, anime_id=anime_id)
    else:
        conflict_key = "anilist_id" if data.anilist_id is not None else "hianime_id"
        anime_id, created = await repository.insert_anime(
            session=session, values={"slug": slug_for(data), **values}, conflict_key=conflict_key
        )
        names = values
    await repository.replace_titles(
        session=session, anime_id=anime_id, titles=search_titles(names), score=names["score"]
    )
    for release in data.releases or ():
        release_id = await repository.upsert_release(
            session=session,
            anime_id=anime_id,
            values=release.model_dump(exclude={"episodes"}),
        )
        if release.episodes:
            await repository.upsert_episodes(
                session=session,
                release_id=release_id,
                episodes=[episode.model_dump() for episode in release.episodes],
            )
    return anime_id, created


async def saved_anime(*, state: CatalogState, anime_id: uuid.UUID) -> Row:
    """The anime a committed upsert wrote, as the reader pool now sees it.

    The listing cache is cleared first: its totals and pages may no longer hold.
    """
    state.listing.clear()
    async with state.reader.acquire() as connection:
        row = await repository.get_anime(connection=connection, anime_id=anime_id)
    assert row is not None
    return row


async def known_hianime(*, state: CatalogState, hianime_id: str) -> Row | None:
    async with state.reader.acquire() as connection:
        return await repository.get_anime_by_hianime_id(
            connection=connection, hianime_id=hianime_id
        )


async def fetch_hianime(*, state: CatalogState, hianime_id: str) -> AnimeIn:
    """What the importer (the proxy) knows of a HiAnime id; 404 when nothing, or no importer."""
    if state.importer is None:
        raise NotFoundError("Anime not found")
    data = await state.importer.fetch_hianime(hianime_id)
    if data is None:
        raise NotFoundError("Anime not found")
    # The importer's answer is about the id we asked for, whatever it says.
    return data.model_copy(update={"hianime_id": hianime_id})
