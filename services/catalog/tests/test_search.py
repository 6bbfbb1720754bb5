"""Search: the ranking table (query -> expected first result), paging and edge cases."""

# Look-alike letters (Cyrillic, full-width) are what these tests are about.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import asyncpg
import httpx
import pytest

from anime_catalog import repository
from anime_catalog.ranking import plan_search
from anime_catalog.search_text import normalize, search_key

pytestmark = pytest.mark.anyio

# query -> hianime_id of the expected first result, with what the case is about.
SEARCH_TABLE = [
    ("naruot", "naruto-677"),  # typo (transposition)
    ("evangelon", "neon-genesis-evangelion-30"),  # typo (missing letter)
    ("gintma", "gintama-918"),  # typo
    ("frieren", "frieren-beyond-journeys-end-18542"),  # English word of the title
    ("fulmetal alchemist", "fullmetal-alchemist-brotherhood-1"),  # typo, multi-word
    ("ванпис", "one-piece-100"),  # Cyrillic, no hyphen
    ("Ван-Пис", "one-piece-100"),  # Cyrillic, exact
    ("наруто", "naruto-677"),  # Cyrillic spelling of the romaji
    ("атака титанов", "attack-on-titan-112"),  # Cyrillic, multi-word
    ("Врата Штеина", "steinsgate-3"),  # ё/е-style spelling variant (й→и)
    ("ёлки тетрадь смерти", "death-note-60"),  # extra word, still found
    ("тетрадь смерти", "death-note-60"),  # Cyrillic exact
    ("shingeki", "attack-on-titan-112"),  # romaji prefix
    ("shingeki no kyojin", "attack-on-titan-112"),  # romaji exact
    ("kimi no na wa", "your-name-10"),  # romaji with trailing dot dropped
    ("sen to chihiro", "spirited-away-9"),  # romaji prefix, multi-word
    ("進撃の巨人", "attack-on-titan-112"),  # native script
    ("ナルト", "naruto-677"),  # katakana
    ("鬼滅の刃", "demon-slayer-kimetsu-no-yaiba-47"),  # native script
    ("jjk", "jujutsu-kaisen-tv-534"),  # synonym
    ("AoT", "attack-on-titan-112"),  # synonym, case
    ("FMA:B", "fullmetal-alchemist-brotherhood-1"),  # synonym with punctuation
    ("steins gate", "steinsgate-3"),  # punctuation as a space
    ("STEINS;GATE", "steinsgate-3"),  # case and punctuation
    ("one punch", "one-punch-man-63"),  # prefix beats "One Piece"
    ("one piece", "one-piece-100"),  # exact
    ("chainsawman", "chainsaw-man-17406"),  # missing space
    ("titan", "attack-on-titan-112"),  # word inside a title
    ("demon slayer", "demon-slayer-kimetsu-no-yaiba-47"),  # English prefix
    ("  Kaguya  ", "kaguya-sama-love-is-war-65"),  # spaces trimmed
    ("ＮＡＲＵＴＯ", "naruto-677"),  # full-width letters (NFKC)
    ("hunter x hunter", "hunter-x-hunter-2011-2"),  # short middle word
    ("бокки", "bocchi-the-rock-17725"),  # Russian synonym
    ("Pokemon", None),  # not in the catalog: nothing
]


@pytest.mark.parametrize(("query", "expected"), SEARCH_TABLE)
async def test_search_table(client: httpx.AsyncClient, query: str, expected: str | None) -> None:
    response = await client.get("/search/anime", params={"q": query})
    assert response.status_code == 200, response.text
    results = response.json()
    if expected is None:
        assert results == []
        return
    assert results, query
    assert results[0]["hianime_id"] == expected, [item["hianime_id"] for item in results]


async def test_search_paging_and_total(client: httpx.AsyncClient) -> None:
    everything = await client.get("/search/anime", params={"q": "naruto", "limit": 100})
    total = int(everything.headers["x-total-count"])
    assert total == len(everything.json()) >= 2
    first = await client.get("/search/anime", params={"q": "naruto", "limit": 1})
    assert first.json() == everything.json()[:1]
    assert 'rel="next"' in first.headers["link"]
    second = await client.get("/search/anime", params={"q": "naruto", "limit": 1, "offset": 1})
    assert second.json() == everything.json()[1:2]
    past = await client.get("/search/anime", params={"q": "naruto", "offset": 50})
    assert past.json() == []
    assert past.headers["x-total-count"] == str(total)


async def test_short_and_empty_queries(client: httpx.AsyncClient) -> None:
    punctuation = await client.get("/search/anime", params={"q": "?!"})
    assert punctuation.status_code == 200
    assert punctuation.json() == []
    assert punctuation.headers["x-total-count"] == "0"
    # Two letters: a title or a word starting with them, no fuzzy noise; the title first.
    short = await client.get("/search/anime", params={"q": "ak"})
    assert [item["hianime_id"] for item in short.json()] == ["akira-179", "my-hero-academia-67"]
    nothing = await client.get("/search/anime", params={"q": "zq", "offset": 5})
    assert nothing.json() == []


def test_normalization() -> None:
    assert normalize("  Ёлки-Палки!!  ") == "елки палки"
    assert normalize("ＳＰＹ×ＦＡＭＩＬＹ") == "spy family"
    assert normalize("Re:Zero") == "re zero"
    assert search_key("Ёж") == search_key("еж") == "ezh"
    assert search_key("Kyōjin") == "kyojin"
    assert search_key("きゃく") == "kyaku"
    assert search_key("進") == "x9032"
    assert search_key("Ωmega") == "mega"
    assert search_key("—") == ""


def test_plans() -> None:
    assert plan_search("!!") is None
    plan = plan_search("Shingeki no Kyo")
    assert plan is not None
    assert [(word.text, word.budget, word.prefix) for word in plan.words] == [
        ("shingeki", 1, False),
        ("no", 0, False),
        ("kyo", 0, True),
    ]
    assert plan.prefix == "kyo"
    native = plan_search("進撃")
    assert native is not None
    assert native.prefix is None
    assert [word.budget for word in native.words] == [0, 0]


async def test_a_timed_out_search_is_a_503(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def too_slow(**_: object) -> None:
        raise RuntimeError("wrapped") from asyncpg.exceptions.QueryCanceledError("timeout")

    monkeypatch.setattr(repository, "search_words", too_slow)
    response = await client.get("/search/anime", params={"q": "timeout probe"})
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["retry-after"] == "1"

    async def broken(**_: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(repository, "search_words", broken)
    assert (await client.get("/search/anime", params={"q": "bug probe"})).status_code == 500
