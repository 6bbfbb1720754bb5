"""The small, fixed world both fakes describe: a few anime HiAnime and AniList agree on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FakeAnime:
    id: str
    name: str
    jname: str
    anilist_id: int | None
    mal_id: int | None
    episodes: int
    type: str = "TV"
    year: int = 2020
    genres: tuple[str, ...] = ("Action",)
    description: str = "A fake anime for tests."
    synonyms: tuple[str, ...] = field(default_factory=tuple)

    @property
    def poster(self) -> str:
        return f"https://img.example.test/posters/{self.id}.jpg"

    def row(self) -> dict[str, Any]:
        """aniwatch-api's anime row."""
        return {
            "id": self.id,
            "name": self.name,
            "jname": self.jname,
            "poster": self.poster,
            "duration": "24m",
            "type": self.type,
            "rating": None,
            "episodes": {"sub": self.episodes, "dub": None},
        }


ANIME: tuple[FakeAnime, ...] = (
    FakeAnime(
        id="attack-on-titan-112",
        name="Attack on Titan",
        jname="Shingeki no Kyojin",
        anilist_id=16498,
        mal_id=16498,
        episodes=25,
        year=2013,
        genres=("Action", "Drama", "Fantasy"),
        description="Humanity lives behind walls.",
    ),
    # A decoy with a close name: matching must confirm ids, not just take the first hit.
    FakeAnime(
        id="attack-on-titan-season-2-3133",
        name="Attack on Titan Season 2",
        jname="Shingeki no Kyojin Season 2",
        anilist_id=20958,
        mal_id=25777,
        episodes=12,
        year=2017,
        genres=("Action", "Drama"),
    ),
    FakeAnime(
        id="one-piece-100",
        name="One Piece",
        jname="One Piece",
        anilist_id=21,
        mal_id=21,
        episodes=30,
        year=1999,
        genres=("Action", "Adventure", "Comedy"),
        description="Pirates look for a treasure.",
    ),
    FakeAnime(
        id="frieren-beyond-journeys-end-18542",
        name="Frieren: Beyond Journey's End",
        jname="Sousou no Frieren",
        anilist_id=154587,
        mal_id=52991,
        episodes=28,
        year=2023,
        genres=("Adventure", "Drama", "Fantasy"),
        description="An elf outlives her party.",
    ),
    # The upstream does not always know AniList/MAL ids: then the name has to do.
    FakeAnime(
        id="mystery-show-999",
        name="Mystery Show",
        jname="Nazo no Show",
        anilist_id=None,
        mal_id=None,
        episodes=12,
        year=2021,
    ),
)
BY_ID = {anime.id: anime for anime in ANIME}
GENRES = ("Action", "Adventure", "Comedy", "Drama", "Fantasy")


def find(anime_id: str) -> FakeAnime | None:
    return BY_ID.get(anime_id)


def search(query: str) -> list[FakeAnime]:
    words = query.lower().split()
    return [
        anime
        for anime in ANIME
        if all(word in f"{anime.name} {anime.jname}".lower() for word in words)
    ]
