"""Catalog content that does not come from imports: the demo set and a synthetic bulk.

`demo_anime()` reads the packaged `data/demo_anime.json` (real anime facts;
see its `note`). `synthetic_anime()` makes a large, repeatable catalog for
benchmarks, with title lengths and scripts like the real ones (Russian,
English, romaji, Japanese, synonyms).
"""

# `random` makes fake data here, never secrets.
# ruff: noqa: S311

from __future__ import annotations

import datetime
import json
import random
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

from anime_catalog.repository import SyntheticBatch
from anime_catalog.schemas import AnimeIn, EpisodeIn, ReleaseIn
from anime_catalog.service import search_titles


def _release(hianime_id: str, raw: dict[str, Any], first_episode: int) -> ReleaseIn:
    duration = raw["duration_minutes"] * 60
    episodes = [
        EpisodeIn(
            number=number,
            duration_seconds=duration,
            hianime_episode_id=f"{hianime_id}?ep={first_episode + number - 1}",
        )
        for number in range(1, raw["episodes"] + 1)
    ]
    return ReleaseIn(
        title=raw["title"],
        kind=raw["kind"],
        season_number=raw["season_number"],
        year=raw["year"],
        status=raw["status"],
        episodes_total=raw["episodes"],
        episodes=episodes,
    )


def demo_anime() -> list[AnimeIn]:
    """The demo set, releases and episodes included."""
    text = resources.files("anime_catalog").joinpath("data/demo_anime.json").read_text("utf-8")
    result: list[AnimeIn] = []
    for raw in json.loads(text)["anime"]:
        releases: list[ReleaseIn] = []
        counted = 1
        for raw_release in raw["releases"]:
            releases.append(_release(raw["hianime_id"], raw_release, counted))
            counted += raw_release["episodes"]
        fields = {key: value for key, value in raw.items() if key != "releases"}
        result.append(AnimeIn(**fields, releases=releases))
    return result


# --- synthetic catalog -------------------------------------------------------------

_SYLLABLES = [
    "ka",
    "ki",
    "ku",
    "ke",
    "ko",
    "sa",
    "shi",
    "su",
    "se",
    "so",
    "ta",
    "chi",
    "tsu",
    "te",
    "to",
    "na",
    "ni",
    "nu",
    "ne",
    "no",
    "ha",
    "hi",
    "fu",
    "he",
    "ho",
    "ma",
    "mi",
    "mu",
    "me",
    "mo",
    "ya",
    "yu",
    "yo",
    "ra",
    "ri",
    "ru",
    "re",
    "ro",
    "wa",
    "ga",
    "gi",
    "gu",
    "ge",
    "go",
    "za",
    "ji",
    "zu",
    "ze",
    "zo",
    "da",
    "de",
    "do",
    "ba",
    "bi",
    "bu",
    "be",
    "bo",
    "n",
]
_ROMAJI_PARTICLES = ("no", "wa", "to", "ga", "ni", "de", "wo")
_ENGLISH = [
    "attack",
    "sword",
    "world",
    "love",
    "war",
    "dragon",
    "star",
    "night",
    "blade",
    "ghost",
    "hero",
    "academy",
    "demon",
    "king",
    "princess",
    "shadow",
    "fire",
    "moon",
    "sky",
    "spirit",
    "legend",
    "story",
    "journey",
    "girl",
    "boy",
    "city",
    "dream",
    "last",
    "first",
    "eternal",
    "silent",
    "hidden",
    "lost",
    "secret",
    "wild",
    "crimson",
    "blue",
    "black",
    "white",
]
_RUSSIAN = [
    "атака",
    "меч",
    "мир",
    "любовь",
    "война",
    "дракон",
    "звезда",
    "ночь",
    "клинок",
    "призрак",
    "герой",
    "академия",
    "демон",
    "король",
    "принцесса",
    "тень",
    "огонь",
    "луна",
    "небо",
    "дух",
    "легенда",
    "история",
    "путь",
    "девушка",
    "город",
    "мечта",
    "последний",
    "первый",
    "вечный",
    "тихий",
    "тайный",
    "потерянный",
    "дикий",
    "синий",
    "чёрный",
    "белый",
]
_KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん"
_KANJI = "進撃巨人鬼滅刃呪術廻戦鋼錬金術師魔法少女物語世界戦争恋愛学園天空星夜剣王姫影火月空"
GENRES = [
    "action",
    "adventure",
    "comedy",
    "drama",
    "fantasy",
    "horror",
    "mecha",
    "music",
    "mystery",
    "psychological",
    "romance",
    "sci-fi",
    "slice of life",
    "sports",
    "supernatural",
    "thriller",
]
KINDS = ("tv", "tv", "tv", "movie", "ova", "ona", "special")
STATUSES = ("released", "released", "released", "ongoing", "announced")
SEASONS = ("winter", "spring", "summer", "fall")


def _romaji_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def _romaji(rng: random.Random) -> str:
    words = [_romaji_word(rng)]
    for _ in range(rng.randint(0, 3)):
        words += [rng.choice(_ROMAJI_PARTICLES), _romaji_word(rng)]
    return " ".join(words).title()


def _phrase(rng: random.Random, common: list[str], low: int, high: int, cyrillic: bool) -> str:
    """Words like real titles': a few very common ones, most from a large vocabulary."""
    words = []
    for _ in range(rng.randint(low, high)):
        if rng.random() < 0.3:
            words.append(rng.choice(common))
        else:
            word = _romaji_word(rng)
            words.append(search_text_cyrillic(word) if cyrillic else word)
    return " ".join(words)


def search_text_cyrillic(word: str) -> str:
    """A made-up Russian-looking word: romaji syllables spelled in Cyrillic."""
    return "".join(_TO_CYRILLIC.get(char, char) for char in word)


_TO_CYRILLIC = dict(zip("abdefghijkmnoprstuwyz", "абдефгхийкмнопрстувыз", strict=True))


def _native(rng: random.Random) -> str:
    return "".join(rng.choice(_KANJI + _KANA) for _ in range(rng.randint(3, 10)))


def synthetic_batches(
    *, titles: int, seed: int = 1, batch_size: int = 2000, offset: int = 0
) -> Iterator[SyntheticBatch]:
    """`titles` fake anime in batches; ids and slugs are unique from `offset` on."""
    rng = random.Random(seed)
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    batch = SyntheticBatch()
    for index in range(offset, offset + titles):
        anime_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        romaji = _romaji(rng)
        english = _phrase(rng, _ENGLISH, 1, 5, cyrillic=False).title()
        russian = (
            _phrase(rng, _RUSSIAN, 1, 5, cyrillic=True).capitalize() if rng.random() < 0.8 else None
        )
        native = _native(rng)
        synonyms = [
            _phrase(rng, _ENGLISH, 1, 3, cyrillic=False).title() for _ in range(rng.randint(0, 2))
        ]
        year = rng.randint(1970, 2026)
        kind = rng.choice(KINDS)
        episodes = 1 if kind == "movie" else rng.choice((12, 12, 13, 24, 25, 26, 50))
        created = start + datetime.timedelta(seconds=rng.randint(0, 6 * 365 * 86400))
        slug = f"synthetic-{index}"
        status, season = rng.choice(STATUSES), rng.choice(SEASONS)
        genres = sorted(rng.sample(GENRES, rng.randint(1, 4)))
        score = round(rng.uniform(4.0, 9.5), 2) if rng.random() < 0.9 else None
        batch.anime.append((
            anime_id, slug, russian or english, romaji, english, native, synonyms, kind,
            status, year, season, genres, episodes, score,
            10_000_000 + index, slug, created, created,
        ))  # fmt: skip
        # The search rows the service itself writes for these names.
        names = {
            "title": russian or english,
            "title_original": romaji,
            "title_en": english,
            "title_native": native,
            "synonyms": synonyms,
        }
        batch.titles.extend((anime_id, source, key, score) for source, key in search_titles(names))
        release_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        batch.releases.append(
            (release_id, anime_id, english, kind, 1, year, "released", episodes, created)
        )
        if index % 10 == 0:
            batch.episodes.extend(
                (release_id, number, 1440, f"{slug}?ep={number}")
                for number in range(1, episodes + 1)
            )
        if len(batch.anime) >= batch_size:
            yield batch
            batch = SyntheticBatch()
    if batch.anime:
        yield batch
