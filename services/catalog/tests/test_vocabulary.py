"""The vocabulary of title words: kept by every write of `anime_title`, seen by every replica."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from anime_catalog import cli, ranking
from anime_catalog.app import MIGRATIONS, create_app
from anime_common import asyncpg_dsn, migrate
from anime_devstack.asgi import serve_asgi

from .conftest import catalog_settings, service_token
from .test_internal import frieren

pytestmark = pytest.mark.anyio

INTERNAL = {"Authorization": f"Bearer {service_token()}"}

# Rows of title_word that a recount of anime_title disagrees with, variants
# that word_variants() of the vocabulary would not make (or makes and are
# missing), and postings that differ from the titles' words.
DRIFT = """
WITH recount AS (
    SELECT word, count(*)::integer AS titles
    FROM (SELECT DISTINCT t.id, word
          FROM catalog.anime_title t, unnest(string_to_array(t.key, ' ')) AS word) AS words
    GROUP BY word
), expected_variants AS (
    SELECT catalog.word_variants(word) AS variant, word FROM catalog.title_word
)
SELECT
    (SELECT count(*) FROM recount r FULL JOIN catalog.title_word w USING (word)
     WHERE r.titles IS DISTINCT FROM w.titles)
    + (SELECT count(*) FROM (
        SELECT * FROM expected_variants
        EXCEPT SELECT variant, word FROM catalog.title_word_variant) AS missing)
    + (SELECT count(*) FROM (
        SELECT variant, word FROM catalog.title_word_variant
        EXCEPT SELECT * FROM expected_variants) AS extra)
    + (SELECT count(*) FROM (
        (SELECT DISTINCT word, coalesce(t.score, -1), t.id
         FROM catalog.anime_title t, unnest(string_to_array(t.key, ' ')) AS word
         EXCEPT SELECT word, score, title_id FROM catalog.title_word_posting)
        UNION ALL
        (SELECT word, score, title_id FROM catalog.title_word_posting
         EXCEPT SELECT DISTINCT word, coalesce(t.score, -1), t.id
         FROM catalog.anime_title t, unnest(string_to_array(t.key, ' ')) AS word)) AS postings)
"""


async def _fetchval(database_url: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two catalog processes' apps on one database, as two replicas behind the edge."""
    settings = catalog_settings(database_url)
    async with (
        serve_asgi(create_app(settings)) as first,
        serve_asgi(create_app(settings)) as second,
    ):
        yield first, second


async def search(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.get("/search/anime", params={"q": query})
    assert response.status_code == 200, response.text
    return [item["title_original"] for item in response.json()]


async def test_a_new_title_is_found_at_once_by_another_replica(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient], database_url: str
) -> None:
    writer, reader = replicas
    assert await search(reader, "Sousou no Freiren") == []
    created = await writer.post("/internal/anime", json=frieren(), headers=INTERNAL)
    assert created.status_code == 201, created.text
    # A typo, through the replica that did not write (its cache never saw the query).
    assert await search(reader, "sousuo no freiren") == ["Sousou no Frieren"]
    assert await _fetchval(database_url, DRIFT) == 0

    # Renamed: the old word leaves the vocabulary with its variants, the new one comes in.
    renamed = frieren(title_original="Sousou no Furiiren", synonyms=["Furiiren"])
    assert (await writer.post("/internal/anime", json=renamed, headers=INTERNAL)).status_code == 200
    words = "SELECT count(*) FROM catalog.title_word WHERE word = $1"
    assert await _fetchval(database_url, words, "furiiren") == 1
    assert await _fetchval(database_url, words, "sousou") == 1
    assert await search(reader, "furiirne") == ["Sousou no Furiiren"]
    assert await _fetchval(database_url, DRIFT) == 0
    # The English title still says Frieren: the word stays, counted once less.
    titles = "SELECT titles FROM catalog.title_word WHERE word = $1"
    assert await _fetchval(database_url, titles, "frieren") == 1


async def test_words_leave_with_their_last_title(database_url: str) -> None:
    settings = catalog_settings(database_url)
    async with serve_asgi(create_app(settings)) as client:
        for anilist_id, name in ((1, "Zanmatou Kiriko"), (2, "Zanmatou Ikazuchi")):
            body = frieren(title=name, title_original=name, title_en=None, title_native=None,
                           synonyms=[], anilist_id=anilist_id, releases=[])  # fmt: skip
            assert (await client.post("/internal/anime", json=body, headers=INTERNAL)).is_success
    count = "SELECT titles FROM catalog.title_word WHERE word = $1"
    assert await _fetchval(database_url, count, "zanmatou") == 2
    variants = "SELECT count(*) FROM catalog.title_word_variant WHERE word = $1"
    assert (
        await _fetchval(database_url, variants, "kiriko") == len(ranking.deletions("kiriko", 1)) - 1
    )
    await _fetchval(database_url, "DELETE FROM catalog.anime WHERE anilist_id = 1")
    assert await _fetchval(database_url, count, "zanmatou") == 1
    assert await _fetchval(database_url, count, "kiriko") is None
    assert await _fetchval(database_url, variants, "kiriko") == 0
    assert await _fetchval(database_url, DRIFT) == 0


async def test_bulk_copy_and_seed_keep_the_vocabulary(database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        assert await cli.seed_demo(engine) == 66
        assert await cli.generate(engine, titles=40, seed=5) == 40
    finally:
        await engine.dispose()
    assert await _fetchval(database_url, DRIFT) == 0
    # Long words have their two-letter deletions; ideograph tokens have none.
    two = "SELECT count(*) FROM catalog.title_word_variant WHERE word = $1 AND length(variant) = $2"
    assert await _fetchval(database_url, two, "evangelion", 8) > 0
    assert await _fetchval(database_url, two, "naruto", 4) == 0
    tokens = "SELECT count(*) FROM catalog.title_word_variant WHERE word ~ '^x[0-9a-f]{4,6}$'"
    assert await _fetchval(database_url, tokens) == 0


async def test_stored_variants_follow_the_typo_budget(database_url: str) -> None:
    """The migration's word_variants() and ranking's budget agree, length by length."""
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        await migrate(engine, MIGRATIONS)
    finally:
        await engine.dispose()
    for length in range(1, ranking.LONGEST_TYPO_WORD + 3):
        word = "abcdefghijklmnopqrstuvwxyz"[:length]
        stored = await _fetchval(
            database_url, "SELECT array_agg(v) FROM catalog.word_variants($1) AS v", word
        )
        expected = ranking.deletions(word, ranking.typo_budget(word)) - {word}
        assert set(stored or ()) == expected, length
    assert await _fetchval(database_url, "SELECT count(*) FROM catalog.word_variants('x9032')") == 0
