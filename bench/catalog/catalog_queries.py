"""Search queries made from the catalog's own titles: exact, and with the typos people make.

Each typo'd query carries one edit of a kind the issue lists (neighbours
swapped, a letter left out, one added, one replaced, two typos in a long word,
the words in another order, the last word cut to a prefix), applied to a title
of a real anime, so the anime it should find is known.

One edit must be one typo of the search key (`search_key` folds Cyrillic to
Latin letters): in Cyrillic only letters that fold to one Latin letter are
edited or typed (not `ж`, `ш`, `ю`, `ь`, ...), as a typo on a Russian keyboard
would be counted by a Russian user.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from anime_catalog.ranking import ONE_TYPO_FROM, TWO_TYPOS_FROM
from anime_catalog.search_text import search_key

LATIN = "abcdefghijklmnopqrstuvwxyz"
# Cyrillic letters that fold to exactly one Latin letter.
CYRILLIC = "абвгдезийклмнопрстуфхыэ"
KINDS = (
    "transposition",
    "deletion",
    "insertion",
    "substitution",
    "two typos in a long word",
    "swapped words",
    "prefix of the last word",
)


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    anime_id: str
    title: str
    kind: str


def _letters(word: str) -> str:
    return CYRILLIC if any(char in CYRILLIC for char in word.lower()) else LATIN


def _editable(word: str, at: int) -> bool:
    return word[at].lower() in _letters(word)


def _one_edit(rng: random.Random, word: str, kind: str) -> str | None:
    """The word with one edit of `kind`, or None when it has no place for one."""
    letters = _letters(word)
    places = [at for at in range(len(word)) if _editable(word, at)]
    if kind == "transposition":
        pairs = [at for at in places if at + 1 < len(word) and _editable(word, at + 1)
                 and word[at].lower() != word[at + 1].lower()]  # fmt: skip
        if not pairs:
            return None
        at = rng.choice(pairs)
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if not places:
        return None
    at = rng.choice(places)
    if kind == "deletion":
        return word[:at] + word[at + 1 :]
    if kind == "insertion":
        return word[:at] + rng.choice(letters) + word[at:]
    other = rng.choice([letter for letter in letters if letter != word[at].lower()])
    return word[:at] + other + word[at + 1 :]


def _typo_words(words: list[str], length: int) -> list[int]:
    return [index for index, word in enumerate(words) if len(search_key(word)) >= length]


def make_typo(rng: random.Random, title: str, kind: str) -> str | None:
    """The title with one typo of `kind`; None when the title has no place for it."""
    words = title.split()
    if kind == "swapped words":
        if len(words) < 2:
            return None
        at = rng.randrange(len(words) - 1)
        words[at], words[at + 1] = words[at + 1], words[at]
        return " ".join(words)
    if kind == "prefix of the last word":
        # At least half the word and 3 letters: what a user has typed before
        # looking at suggestions; a 2-letter prefix names no title.
        last = words[-1]
        if len(last) < 4:
            return None
        words[-1] = last[: rng.randint(max(3, (len(last) + 1) // 2), len(last) - 1)]
        return " ".join(words)
    if kind == "two typos in a long word":
        candidates = _typo_words(words, TWO_TYPOS_FROM + 1)
        if not candidates:
            return None
        at = rng.choice(candidates)
        edited: str | None = words[at]
        for _ in range(2):
            edited = _one_edit(rng, edited, rng.choice(KINDS[:4])) if edited else None
        # Still long enough for two typos, and really two edits away.
        if not edited or len(search_key(edited)) < TWO_TYPOS_FROM:
            return None
        if OSA.distance(search_key(edited), search_key(words[at])) != 2:
            return None
        words[at] = edited
        return " ".join(words)
    candidates = _typo_words(words, ONE_TYPO_FROM)
    if not candidates:
        return None
    at = rng.choice(candidates)
    edited = _one_edit(rng, words[at], kind)
    if edited is None or search_key(edited) == search_key(words[at]):
        return None
    if len(search_key(edited)) < ONE_TYPO_FROM:
        return None  # a deletion made the word too short to carry a typo
    words[at] = edited
    return " ".join(words)


def _titles(anime: dict[str, object]) -> list[str]:
    return [str(anime[name]) for name in ("title", "title_en", "title_original") if anime.get(name)]


def typo_queries(
    rng: random.Random,
    anime: list[dict[str, object]],
    count: int,
    *,
    kinds: tuple[str, ...] = KINDS,
) -> list[Query]:
    """`count` distinct typo'd queries, the kinds taken in turn, each from a random anime."""
    queries: dict[str, Query] = {}
    turn = 0
    while len(queries) < count:
        kind = kinds[turn % len(kinds)]
        item = rng.choice(anime)
        title = rng.choice(_titles(item))
        text = make_typo(rng, title, kind)
        if text is not None and text not in queries and search_key(text) != search_key(title):
            queries[text] = Query(text, str(item["id"]), title, kind)
            turn += 1
    return list(queries.values())


def exact_queries(rng: random.Random, anime: list[dict[str, object]], count: int) -> list[Query]:
    """`count` distinct titles as they are, of random anime."""
    queries: dict[str, Query] = {}
    while len(queries) < count:
        item = rng.choice(anime)
        title = rng.choice(_titles(item))
        queries.setdefault(title, Query(title, str(item["id"]), title, "exact"))
    return list(queries.values())
