"""All SQL of the catalog.

Reads are plain `text()` statements on a connection (the listing path is hot:
no ORM, no per-row objects, rows go straight to JSON). Writes use Core
`INSERT ... ON CONFLICT` on the request's session.
"""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Boolean, delete, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import TextClause

from anime_catalog import ranking
from anime_catalog.models import Anime, AnimeTitle, Episode, Release

Row = dict[str, Any]
# A connection of the reader pool (asyncpg.Connection; asyncpg ships no types).
ReadConnection = Any
# (sort key, id) of one row: where a deep page can seek to.
Anchor = tuple[Any, Any]

# UUIDs leave as text: PostgreSQL already prints them as API.md wants, and
# asyncpg's own UUID type would need converting row by row.
ANIME_COLUMNS = (
    "a.id::text AS id, a.slug, a.title, a.title_original, a.title_en, a.title_native, a.synonyms,"
    " a.description, a.kind, a.status, a.year, a.season, a.genres, a.episodes_total,"
    " a.poster, a.score::float8 AS score, a.anilist_id, a.mal_id, a.hianime_id,"
    " a.created_at, a.updated_at"
)
RELEASE_COLUMNS = (
    "r.id::text AS id, r.anime_id::text AS anime_id, r.title, r.kind, r.season_number,"
    " r.year, r.status, r.episodes_total, r.created_at"
)
EPISODE_COLUMNS = (
    "e.id::text AS id, e.release_id::text AS release_id, e.number, e.title,"
    " e.duration_seconds, e.air_date, e.hianime_episode_id"
)


@dataclass(frozen=True, slots=True)
class SortSpec:
    """A sort of GET /anime: a key over the row `x`, then the id, both in one direction.

    One direction for both makes `(key, id)` a single comparable value, so a
    page can also start *after* a known row (a seek) instead of counting rows
    from the top; each spec has its index in models.py.
    """

    key: str
    descending: bool

    def order(self, alias: str) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f"{self.key.replace('x.', alias + '.')} {direction}, {alias}.id {direction}"

    @property
    def after(self) -> str:
        return f"({self.key}, x.id) {'<' if self.descending else '>'} (:seek_key, :seek_id)"


ANIME_SORTS = {
    "-created_at": SortSpec("x.created_at", descending=True),
    # NULL scores and years sort after every real one.
    "-score": SortSpec("coalesce(x.score, -1)", descending=True),
    "-year": SortSpec("coalesce(x.year, 0)", descending=True),
    "title": SortSpec("x.title", descending=False),
}
_ANIME_FILTERS = {
    "genre": "x.genres @> ARRAY[CAST(:genre AS text)]",
    "year": "x.year = :year",
    "status": "x.status = :status",
    "kind": "x.kind = :kind",
}


def _rows(result: Any) -> list[Row]:
    return [dict(row) for row in result.mappings()]


_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([a-z_]+)\b")


@cache
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters as asyncpg's `$n`, and the names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED_PARAMETER.sub(number, sql), tuple(names)


async def _fetch(
    connection: ReadConnection, statement: TextClause, params: Mapping[str, Any] | None = None
) -> list[Row]:
    """Run a read on the reader pool's asyncpg connection (no SQLAlchemy on the hot path).

    The statements stay `text()` objects with `:name` parameters, so they read
    like every other query here; they are numbered for asyncpg once.
    """
    sql, names = _positional(statement.text)
    records = await connection.fetch(sql, *(params[name] for name in names) if params else ())
    return [dict(record) for record in records]


async def _fetchval(
    connection: ReadConnection, statement: TextClause, params: Mapping[str, Any] | None = None
) -> Any:
    rows = await _fetch(connection, statement, params)
    return next(iter(rows[0].values()))


def _where(filters: Sequence[str], *, seek: SortSpec | None = None) -> str:
    clauses = [_ANIME_FILTERS[name] for name in filters]
    if seek is not None:
        clauses.append(seek.after)
    return " AND ".join(clauses) if clauses else "TRUE"


@cache
def _anime_page_sql(sort: str, filters: tuple[str, ...], seek: bool = False) -> TextClause:
    spec = ANIME_SORTS[sort]
    where = _where(filters, seek=spec if seek else None)
    # The page is chosen from the sort index alone (an index-only scan when
    # unfiltered), then joined to the full rows.
    return text(
        f"SELECT {ANIME_COLUMNS} FROM catalog.anime a"  # noqa: S608 - fixed fragments only
        f" JOIN (SELECT x.id FROM catalog.anime x WHERE {where}"
        f" ORDER BY {spec.order('x')} LIMIT :limit OFFSET :offset) page ON page.id = a.id"
        f" ORDER BY {spec.order('a')}"
    )


@cache
def _anime_count_sql(filters: tuple[str, ...]) -> TextClause:
    return text(f"SELECT count(*) FROM catalog.anime x WHERE {_where(filters)}")  # noqa: S608


@cache
def _anime_anchor_sql(sort: str, filters: tuple[str, ...]) -> TextClause:
    spec = ANIME_SORTS[sort]
    return text(
        "SELECT seek_key, seek_id FROM ("  # noqa: S608 - fixed fragments only
        f" SELECT {spec.key} AS seek_key, x.id AS seek_id,"
        f" row_number() OVER (ORDER BY {spec.order('x')}) AS position"
        f" FROM catalog.anime x WHERE {_where(filters)}) numbered"
        " WHERE position % :step = 0 ORDER BY position"
    )


# --- reads ---------------------------------------------------------------------


async def list_anime(
    *,
    connection: ReadConnection,
    filters: Mapping[str, Any],
    sort: str,
    limit: int,
    offset: int,
    after: Anchor | None = None,
) -> list[Row]:
    """A page; with `after`, `offset` counts from the row just after that anchor."""
    names = tuple(sorted(filters))
    params = {**filters, "limit": limit, "offset": offset}
    if after is not None:
        params |= {"seek_key": after[0], "seek_id": after[1]}
    return await _fetch(connection, _anime_page_sql(sort, names, after is not None), params)


async def anime_anchors(
    *, connection: ReadConnection, filters: Mapping[str, Any], sort: str, step: int
) -> list[Anchor]:
    """The sort key of every `step`-th row: anchor i is the row at position step * (i + 1) - 1."""
    statement = _anime_anchor_sql(sort, tuple(sorted(filters)))
    rows = await _fetch(connection, statement, {**filters, "step": step})
    return [(row["seek_key"], row["seek_id"]) for row in rows]


async def count_anime(*, connection: ReadConnection, filters: Mapping[str, Any]) -> int:
    return int(await _fetchval(connection, _anime_count_sql(tuple(sorted(filters))), filters))


_GET_ANIME = text(f"SELECT {ANIME_COLUMNS} FROM catalog.anime a WHERE a.id = :id")  # noqa: S608
_ANIME_BY_IDS = text(
    f"SELECT {ANIME_COLUMNS} FROM catalog.anime a WHERE a.id = ANY(:ids)"  # noqa: S608
)
_ANIME_BY_EXTERNAL_IDS = text(
    f"SELECT {ANIME_COLUMNS} FROM catalog.anime a"  # noqa: S608
    " WHERE a.anilist_id = ANY(:anilist_ids) OR a.mal_id = ANY(:mal_ids)"
)
_ANIME_BY_HIANIME = text(
    f"SELECT {ANIME_COLUMNS} FROM catalog.anime a WHERE a.hianime_id = :hianime_id"  # noqa: S608
)


async def get_anime(*, connection: ReadConnection, anime_id: uuid.UUID) -> Row | None:
    rows = await _fetch(connection, _GET_ANIME, {"id": anime_id})
    return rows[0] if rows else None


async def get_anime_by_hianime_id(*, connection: ReadConnection, hianime_id: str) -> Row | None:
    rows = await _fetch(connection, _ANIME_BY_HIANIME, {"hianime_id": hianime_id})
    return rows[0] if rows else None


async def anime_by_ids(*, connection: ReadConnection, ids: Sequence[uuid.UUID]) -> list[Row]:
    return await _fetch(connection, _ANIME_BY_IDS, {"ids": list(ids)})


async def anime_by_external_ids(
    *, connection: ReadConnection, anilist_ids: Sequence[int], mal_ids: Sequence[int]
) -> list[Row]:
    """Anime whose AniList or MyAnimeList id is among the given ones (both are unique)."""
    params = {"anilist_ids": list(anilist_ids), "mal_ids": list(mal_ids)}
    return await _fetch(connection, _ANIME_BY_EXTERNAL_IDS, params)


_RELEASE_PAGE = text(
    f"SELECT {RELEASE_COLUMNS} FROM catalog.release r"  # noqa: S608
    " ORDER BY r.created_at, r.id LIMIT :limit OFFSET :offset"
)
_RELEASE_PAGE_OF_ANIME = text(
    f"SELECT {RELEASE_COLUMNS} FROM catalog.release r WHERE r.anime_id = :anime_id"  # noqa: S608
    " ORDER BY r.season_number, r.created_at, r.id LIMIT :limit OFFSET :offset"
)
_RELEASE_COUNT = text("SELECT count(*) FROM catalog.release")
_RELEASE_COUNT_OF_ANIME = text("SELECT count(*) FROM catalog.release WHERE anime_id = :anime_id")
_GET_RELEASE = text(f"SELECT {RELEASE_COLUMNS} FROM catalog.release r WHERE r.id = :id")  # noqa: S608


async def list_releases(
    *, connection: ReadConnection, anime_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[Row], int]:
    page = {"limit": limit, "offset": offset}
    if anime_id is None:
        rows = await _fetch(connection, _RELEASE_PAGE, page)
        total = await _fetchval(connection, _RELEASE_COUNT)
    else:
        of_anime = {"anime_id": anime_id}
        rows = await _fetch(connection, _RELEASE_PAGE_OF_ANIME, {**page, **of_anime})
        total = await _fetchval(connection, _RELEASE_COUNT_OF_ANIME, of_anime)
    return rows, int(total)


async def get_release(*, connection: ReadConnection, release_id: uuid.UUID) -> Row | None:
    rows = await _fetch(connection, _GET_RELEASE, {"id": release_id})
    return rows[0] if rows else None


# One round trip: no row means no such release; a release whose page is empty
# still gives one row (the total, with NULL episode columns) from the LEFT JOIN.
_EPISODE_PAGE = text(
    "SELECT h.total, p.* FROM catalog.release r"  # noqa: S608
    " CROSS JOIN LATERAL (SELECT count(*) AS total FROM catalog.episode"
    " WHERE release_id = r.id) h"
    f" LEFT JOIN LATERAL (SELECT {EPISODE_COLUMNS} FROM catalog.episode e"
    " WHERE e.release_id = r.id ORDER BY e.number LIMIT :limit OFFSET :offset) p ON true"
    " WHERE r.id = :release_id"
)
_EPISODES_BY_IDS = text(
    f"SELECT {EPISODE_COLUMNS}, r.anime_id::text AS anime_id FROM catalog.episode e"  # noqa: S608
    " JOIN catalog.release r ON r.id = e.release_id WHERE e.id = ANY(:ids)"
)


async def list_episodes(
    *, connection: ReadConnection, release_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Row], int] | None:
    """A page of a release's episodes and their total; None when the release does not exist."""
    params = {"release_id": release_id, "limit": limit, "offset": offset}
    rows = await _fetch(connection, _EPISODE_PAGE, params)
    if not rows:
        return None
    total = int(rows[0].pop("total"))
    for row in rows[1:]:
        del row["total"]
    return [row for row in rows if row["id"] is not None], total


async def episodes_by_ids(*, connection: ReadConnection, ids: Sequence[uuid.UUID]) -> list[Row]:
    return await _fetch(connection, _EPISODES_BY_IDS, {"ids": list(ids)})


# --- search ---------------------------------------------------------------------

# The vocabulary words a query's probes reach (each word's deletions, looked up
# as words and as stored variants: ranking.py says why that finds every word
# within the budget), then the words starting with the last query word, most
# frequent first. All primary-key or prefix-index lookups: no scan of the
# vocabulary, whatever its size. The prefix is a range, not `LIKE :pattern`:
# a cached generic plan could not turn a parameter's LIKE into an index range.
_SEARCH_WORDS = text(
    "SELECT w.word, w.titles, false AS expansion FROM catalog.title_word w"
    " WHERE w.word = ANY(:probes)"
    " UNION"
    " SELECT w.word, w.titles, false FROM catalog.title_word_variant v"
    " JOIN catalog.title_word w ON w.word = v.word WHERE v.variant = ANY(:probes)"
    " UNION ALL"
    " (SELECT w.word, w.titles, true FROM catalog.title_word w"
    " WHERE w.word ~>=~ :prefix_low AND w.word ~<~ :prefix_high"
    " ORDER BY w.titles DESC, w.word LIMIT :expansions)"
)
# The title rows worth ranking, at most `cap` from each of two roads:
# - `top`: rows holding one of the anchor's words, its least-typo words first,
#   then by score; each word's postings are read best first and only `cap`
#   deep, so "no" costs about what "naruto" does;
# - `together`: rows holding the anchor and the second-rarest query word too
#   (both through the GIN index over the key's words: the intersection of two
#   posting lists), which a common anchor's best-scored rows could leave out;
#   those holding more of the other words first (more words matched rank first).
_SEARCH_CANDIDATES = text(
    "WITH top AS ("
    " SELECT p.title_id FROM unnest(CAST(:anchor AS text[]), CAST(:best AS boolean[]))"
    " AS w(word, best)"
    " CROSS JOIN LATERAL (SELECT p.title_id, p.score FROM catalog.title_word_posting p"
    " WHERE p.word = w.word ORDER BY p.score DESC, p.title_id DESC LIMIT :cap) p"
    " ORDER BY w.best DESC, p.score DESC, p.title_id DESC LIMIT :cap"
    "), together AS ("
    " SELECT t.id FROM catalog.anime_title t WHERE string_to_array(t.key, ' ') && :anchor"
    " AND string_to_array(t.key, ' ') && :second"
    " ORDER BY CASE WHEN cardinality(CAST(:rest AS text[])) = 0 THEN 0 ELSE"
    " (SELECT count(*) FROM unnest(string_to_array(t.key, ' ')) AS k(word)"
    " WHERE k.word = ANY(:rest)) END DESC, t.score DESC NULLS LAST, t.id LIMIT :cap"
    ")"
    " SELECT t.anime_id::text AS anime_id, t.source, t.key, t.score::float8 AS score"
    " FROM catalog.anime_title t"
    " WHERE t.id IN (SELECT title_id FROM top UNION SELECT id FROM together)"
)


@dataclass(frozen=True, slots=True)
class FoundWords:
    """What the vocabulary holds for a query: word -> how many title rows contain it."""

    probed: dict[str, int]
    expanded: dict[str, int]


async def search_words(
    *,
    connection: ReadConnection,
    probes: Sequence[str],
    prefix: str | None,
    expansions: int,
) -> FoundWords:
    # Keys hold only [a-z0-9]: the next code point closes the range.
    params = {
        "probes": list(probes),
        "prefix_low": prefix,
        "prefix_high": prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None,
        "expansions": expansions,
    }
    rows = await _fetch(connection, _SEARCH_WORDS, params)
    found = FoundWords(probed={}, expanded={})
    for row in rows:
        (found.expanded if row["expansion"] else found.probed)[row["word"]] = row["titles"]
    return found


async def search_candidates(
    *, connection: ReadConnection, words: ranking.CandidateWords, cap: int
) -> list[Row]:
    """Title rows `(anime_id, source, key, score)` worth ranking for a query's words."""
    best = set(words.best)
    params = {
        "anchor": words.anchor,
        "best": [word in best for word in words.anchor],
        "second": words.second,
        "rest": words.rest,
        "cap": cap,
    }
    return await _fetch(connection, _SEARCH_CANDIDATES, params)


# --- writes ---------------------------------------------------------------------


async def lock_keys(*, session: AsyncSession, keys: Sequence[str]) -> None:
    """Serialize writers of the same external ids until the transaction ends."""
    for key in sorted(keys):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"catalog:{key}"}
        )


async def find_anime_id(
    *, session: AsyncSession, anilist_id: int | None, hianime_id: str | None
) -> uuid.UUID | None:
    conditions = []
    if anilist_id is not None:
        conditions.append(Anime.anilist_id == anilist_id)
    if hianime_id is not None:
        conditions.append(Anime.hianime_id == hianime_id)
    if not conditions:
        return None
    result = await session.execute(select(Anime.id).where(or_(*conditions)).limit(1))
    return result.scalar_one_or_none()


async def anime_names(*, session: AsyncSession, anime_id: uuid.UUID) -> dict[str, Any]:
    """The stored titles, synonyms and score of an anime (what its search rows are made of)."""
    columns = (Anime.title, Anime.title_original, Anime.title_en, Anime.title_native)
    result = await session.execute(
        select(*columns, Anime.synonyms, Anime.score).where(Anime.id == anime_id)
    )
    return dict(result.one()._mapping)


async def insert_anime(
    *, session: AsyncSession, values: Mapping[str, Any], conflict_key: str
) -> tuple[uuid.UUID, bool]:
    """Insert, or update the row holding the same `conflict_key`; (id, created)."""
    statement = insert(Anime).values(**values)
    changes = {name: statement.excluded[name] for name in values if name != conflict_key}
    created = literal_column("xmax = 0", type_=Boolean).label("created")
    upsert = statement.on_conflict_do_update(
        index_elements=[conflict_key], set_={**changes, "updated_at": func.now()}
    ).returning(Anime.id, created)
    row = (await session.execute(upsert)).one()
    return row.id, bool(row.created)


async def update_anime(
    *, session: AsyncSession, anime_id: uuid.UUID, values: Mapping[str, Any]
) -> None:
    await session.execute(
        update(Anime).where(Anime.id == anime_id).values(**values, updated_at=func.now())
    )


async def upsert_release(
    *, session: AsyncSession, anime_id: uuid.UUID, values: Mapping[str, Any]
) -> uuid.UUID:
    statement = insert(Release).values(anime_id=anime_id, **values)
    upsert = statement.on_conflict_do_update(
        constraint="uq_release_anime_id_title",
        set_={name: statement.excluded[name] for name in values if name != "title"},
    ).returning(Release.id)
    release_id: uuid.UUID = (await session.execute(upsert)).scalar_one()
    return release_id


_EPISODE_CHUNK = 1000  # 7 parameters a row, well under PostgreSQL's 32767


async def upsert_episodes(
    *, session: AsyncSession, release_id: uuid.UUID, episodes: Sequence[Mapping[str, Any]]
) -> None:
    for start in range(0, len(episodes), _EPISODE_CHUNK):
        chunk = [
            {"release_id": release_id, **episode}
            for episode in episodes[start : start + _EPISODE_CHUNK]
        ]
        statement = insert(Episode).values(chunk)
        statement = statement.on_conflict_do_update(
            constraint="uq_episode_release_id_number",
            set_={
                name: statement.excluded[name]
                for name in ("title", "duration_seconds", "air_date", "hianime_episode_id")
            },
        )
        await session.execute(statement)


async def replace_titles(
    *,
    session: AsyncSession,
    anime_id: uuid.UUID,
    titles: Sequence[tuple[str, str]],
    score: decimal.Decimal | float | None,
) -> None:
    """The search rows of one anime: (source, key) pairs, with the anime's score."""
    await session.execute(delete(AnimeTitle).where(AnimeTitle.anime_id == anime_id))
    if titles:
        await session.execute(
            insert(AnimeTitle),
            [
                {"anime_id": anime_id, "source": source, "key": key, "score": score}
                for source, key in titles
            ],
        )


async def anime_count(*, session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Anime))).scalar_one())


# --- bulk (the synthetic benchmark catalog) -------------------------------------------


async def synthetic_count(*, connection: AsyncConnection) -> int:
    result = await connection.execute(
        text("SELECT count(*) FROM catalog.anime WHERE slug LIKE 'synthetic-%'")
    )
    return int(result.scalar_one())


@dataclass
class SyntheticBatch:
    """Rows ready for bulk copy (see `demo.synthetic_batches`), ids assigned by the generator."""

    anime: list[tuple[Any, ...]] = field(default_factory=list)
    titles: list[tuple[Any, ...]] = field(default_factory=list)
    releases: list[tuple[Any, ...]] = field(default_factory=list)
    episodes: list[tuple[Any, ...]] = field(default_factory=list)


# Column names, in the order of SyntheticBatch's tuples.
ANIME_COPY_COLUMNS = (
    "id",
    "slug",
    "title",
    "title_original",
    "title_en",
    "title_native",
    "synonyms",
    "kind",
    "status",
    "year",
    "season",
    "genres",
    "episodes_total",
    "score",
    "anilist_id",
    "hianime_id",
    "created_at",
    "updated_at",
)
TITLE_COPY_COLUMNS = ("anime_id", "source", "key", "score")
RELEASE_COPY_COLUMNS = (
    "id",
    "anime_id",
    "title",
    "kind",
    "season_number",
    "year",
    "status",
    "episodes_total",
    "created_at",
)
EPISODE_COPY_COLUMNS = ("release_id", "number", "duration_seconds", "hianime_episode_id")


async def copy_synthetic(*, connection: AsyncConnection, batch: SyntheticBatch) -> None:
    """COPY a batch straight through asyncpg: an order of magnitude faster than INSERTs."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for table, columns, records in (
        ("anime", ANIME_COPY_COLUMNS, batch.anime),
        ("anime_title", TITLE_COPY_COLUMNS, batch.titles),
        ("release", RELEASE_COPY_COLUMNS, batch.releases),
        ("episode", EPISODE_COPY_COLUMNS, batch.episodes),
    ):
        if records:
            await driver.copy_records_to_table(
                table, schema_name="catalog", columns=list(columns), records=records
            )
