"""How search matches and ranks anime: the one place to read, and change, the rules.

A query and every title or synonym are reduced to the same ASCII key
(`search_text.search_key`: case, NFKC, `ё`, punctuation, spacing, scripts),
then compared word by word, in Meilisearch's spirit.

Matching one query word
    A query word matches a title word within a typo budget that grows with the
    query word's length in the key: no typo under `ONE_TYPO_FROM` letters, one
    from it, two from `TWO_TYPOS_FROM`. A typo is one edit of the optimal
    string alignment distance: a letter inserted, left out, replaced, or two
    neighbours swapped (`psyhco` -> psycho). The last query word also matches
    as the start of a longer word (search-as-you-type: `frie` -> frieren), the
    `PREFIX_EXPANSIONS` most frequent such words. A word of ideographs (`x9032`,
    see search_text) matches only itself. A query word found nowhere that is
    two catalog words run together (`chainsawman`) is read as those two words,
    with one typo.

    Where the candidates come from: `catalog.title_word`, the vocabulary of
    distinct title words, and `catalog.title_word_variant`, each word with one
    letter left out (two, from `TWO_TYPOS_FROM` letters), both kept by triggers
    on `anime_title` (migration 0003). A query word's own deletions probed
    against both find every word within its budget (SymSpell: a swap or a
    replaced letter is one deletion on each side), with a few primary-key
    lookups whatever the catalog's size; the exact distance is then checked
    here on that short list.

Which anime match
    Query words that match nothing in the catalog are dropped (a random
    string finds nothing; `naruto qxzvw` is `naruto`). Of the rest, the one in
    the fewest titles, the anchor, must match (`the naruto`: `the` is in many
    titles, `naruto` in three, so the anchor is `naruto`): a title
    matches when it holds a match of the anchor, and ranks higher the more of
    the other words it also holds (Meilisearch's `frequency` matching
    strategy: the most common words are the first to be given up). An anime
    matches when one of its titles does; `X-Total-Count` counts those.
    Past `CANDIDATE_CAP` title rows holding the anchor (a query of common
    words only, or a short prefix), the rows ranked and counted are the
    `CANDIDATE_CAP` first by (the anchor's least-typo words, then `score`),
    plus up to `CANDIDATE_CAP` that also hold the second-rarest query word
    (those with more of the other words first); below the cap every matching
    row is ranked and the count is exact.

Ranking a title, rule by rule (the first difference decides):
    1. words: more query words matched;
    2. typo: fewer typos in all;
    3. proximity: matched words closer together and in the query's order
       (adjacent in order: 0; each word between: +1; reversed: 1 more; at most
       `PROXIMITY_CAP` per pair);
    4. exactness: the title is the matched words, in order (the query itself,
       up to its typos), then the title starts with them, then anything else;
       then fewer words matched only as a prefix (exact word over prefix);
    5. attribute: a main title (Russian, original, English, native) over a
       synonym.
An anime ranks as its best title; ties go to the higher `score`, then the id.
Exact title > prefix > fuzzy holds: an exact title matches every word with no
typo, adjacent and in order, so nothing ranks above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rapidfuzz.distance import OSA

from anime_catalog.search_text import CJK_TOKEN, search_key

ONE_TYPO_FROM = 5
TWO_TYPOS_FROM = 9
# The vocabulary stores no variants of longer words (migration 0003).
LONGEST_TYPO_WORD = 24
# Later words of a longer query are left out: each costs lookups.
MAX_QUERY_WORDS = 8
PREFIX_EXPANSIONS = 50
CANDIDATE_CAP = 200
PROXIMITY_CAP = 8
# Seconds for a whole search; over bounded candidates it takes milliseconds.
SEARCH_TIMEOUT = 1.0
# Where a title comes from (`anime_title.source`); synonyms rank below these.
MAIN_SOURCES = frozenset({"title", "title_original", "title_en", "title_native"})
# Halves of a split word are at least this long (`chainsaw` + `man`).
SPLIT_MIN = 2


def typo_budget(word: str) -> int:
    """How many typos a query word may carry."""
    if CJK_TOKEN.fullmatch(word) or len(word) > LONGEST_TYPO_WORD:
        return 0
    if len(word) >= TWO_TYPOS_FROM:
        return 2
    return 1 if len(word) >= ONE_TYPO_FROM else 0


def deletions(word: str, depth: int) -> set[str]:
    """The word with up to `depth` letters left out, itself included."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {item[:at] + item[at + 1 :] for item in frontier for at in range(len(item))}
        found |= frontier
    return found


@dataclass(frozen=True, slots=True)
class QueryWord:
    """One word of a query: its text, typo budget, and whether it may be a prefix."""

    text: str
    budget: int
    prefix: bool
    # A half of a split query word carries the split's typo.
    typos: int = 0


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A query made ready for lookups: its key and words."""

    key: str
    words: tuple[QueryWord, ...]

    @property
    def probes(self) -> list[str]:
        """Keys to look up in the vocabulary and its variants: each word's deletions."""
        found: set[str] = set()
        for word in self.words:
            found |= deletions(word.text, word.budget)
        return sorted(found)

    @property
    def prefix(self) -> str | None:
        """The last word, when it may also match as the start of longer words."""
        last = self.words[-1]
        return last.text if last.prefix else None

    def split(self, index: int, head: str, tail: str) -> SearchPlan:
        """The plan with word `index` read as two words (`chainsawman` -> chainsaw man)."""
        word = self.words[index]
        halves = (
            QueryWord(head, typo_budget(head), prefix=False, typos=word.typos + 1),
            QueryWord(tail, typo_budget(tail), prefix=word.prefix, typos=word.typos),
        )
        return replace(self, words=(*self.words[:index], *halves, *self.words[index + 1 :]))


def plan_search(query: str) -> SearchPlan | None:
    """The plan of a query; None when nothing searchable is left (only punctuation)."""
    key = search_key(query)
    if not key:
        return None
    texts = key.split()[:MAX_QUERY_WORDS]
    words = tuple(
        QueryWord(
            text,
            typo_budget(text),
            # Ideographs are whole words already: no prefix matching in them.
            prefix=index == len(texts) - 1 and not CJK_TOKEN.fullmatch(text),
        )
        for index, text in enumerate(texts)
    )
    return SearchPlan(key=" ".join(texts), words=words)


def splits(word: str) -> list[tuple[str, str]]:
    """Every way of reading a word as two (each half at least SPLIT_MIN letters)."""
    if CJK_TOKEN.fullmatch(word):
        return []
    return [(word[:at], word[at:]) for at in range(SPLIT_MIN, len(word) - SPLIT_MIN + 1)]


# --- matching ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WordMatch:
    """How a title word matches a query word."""

    typos: int
    prefix: bool


# Per query word: the vocabulary words it matches, and how.
Matches = list[dict[str, WordMatch]]


def match_words(
    plan: SearchPlan, *, found: Iterable[str], expansions: Iterable[str] = ()
) -> Matches:
    """Which vocabulary words each query word matches.

    `found` are the words the probes reached (a superset: checked here),
    `expansions` the words starting with the last query word.
    """
    candidates = list(found)
    matches: Matches = []
    for word in plan.words:
        matched: dict[str, WordMatch] = {}
        for candidate in candidates:
            distance = OSA.distance(word.text, candidate, score_cutoff=word.budget)
            if distance <= word.budget:
                matched[candidate] = WordMatch(word.typos + distance, prefix=False)
        matches.append(matched)
    if plan.prefix is not None:
        last = matches[-1]
        as_prefix = WordMatch(plan.words[-1].typos, prefix=True)
        for candidate in expansions:
            known = last.get(candidate)
            # "mitsud": mitsuda is one typo away, but no typo as a prefix.
            if candidate.startswith(plan.prefix) and (
                known is None or known.typos > as_prefix.typos
            ):
                last[candidate] = as_prefix
    return matches


@dataclass(frozen=True, slots=True)
class CandidateWords:
    """The words that pick the title rows worth ranking (see "Which anime match")."""

    # Every word matching the anchor, and those of them with its fewest typos.
    anchor: list[str]
    best: list[str]
    # Every word matching the second-rarest query word, then any other one.
    second: list[str]
    rest: list[str]


def candidate_words(matches: Matches, frequency: Mapping[str, int]) -> CandidateWords | None:
    """The anchor (the matched query word in the fewest titles) and the others, rarest first.

    A query word's frequency is the sum over the words it matches: an upper
    bound of the titles holding it. None when no query word matched anything.
    """
    rarest = sorted(
        (sum(frequency.get(word, 0) for word in matched), index)
        for index, matched in enumerate(matches)
        if matched
    )
    if not rarest:
        return None
    anchor = matches[rarest[0][1]]
    fewest = min(match.typos for match in anchor.values())
    later = [set(matches[index]) for _, index in rarest[1:]]
    return CandidateWords(
        anchor=sorted(anchor),
        best=sorted(word for word, match in anchor.items() if match.typos == fewest),
        second=sorted(later[0]) if later else [],
        rest=sorted(set().union(*later[1:])),
    )


# --- ranking -----------------------------------------------------------------------

Rank = tuple[int, int, int, int, int, int]


def _proximity(before: int, after: int) -> int:
    gap = after - before
    return min(gap - 1 if gap > 0 else 1 - gap, PROXIMITY_CAP)


def rank_title(plan: SearchPlan, matches: Matches, *, key: str, source: str) -> Rank:
    """The rank of one title row (smaller is better; see the rules above)."""
    title_words = key.split()
    matched = typos = proximity = prefixes = 0
    previous: int | None = None
    positions: list[int] = []
    for query_index in range(len(plan.words)):
        words = matches[query_index]
        hits = [
            (match.typos, position, match.prefix)
            for position, word in enumerate(title_words)
            if (match := words.get(word)) is not None
        ]
        if not hits:
            continue
        fewest = min(hit[0] for hit in hits)
        best = [hit for hit in hits if hit[0] == fewest]
        # A repeated word ("hunter x hunter") takes its next occurrence.
        later = [hit for hit in best if previous is None or hit[1] > previous]
        _, position, prefix = (later or best)[0]
        matched += 1
        typos += fewest
        prefixes += prefix
        if previous is not None:
            proximity += _proximity(previous, position)
        previous = position
        positions.append(position)
    if positions == list(range(len(title_words))):
        exactness = 0
    elif positions == list(range(len(positions))):
        exactness = 1
    else:
        exactness = 2
    return (-matched, typos, proximity, exactness, prefixes, source not in MAIN_SOURCES)


def rank_anime(plan: SearchPlan, matches: Matches, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Anime ids, best first, from candidate title rows (`anime_id`, `source`, `key`, `score`)."""
    best: dict[str, tuple[Rank, float | None]] = {}
    for row in rows:
        rank = rank_title(plan, matches, key=row["key"], source=row["source"])
        known = best.get(row["anime_id"])
        if known is None or rank < known[0]:
            best[row["anime_id"]] = (rank, row["score"])

    def order(anime_id: str) -> tuple[Rank, bool, float, str]:
        rank, score = best[anime_id]
        return rank, score is None, -(score or 0.0), anime_id

    return sorted(best, key=order)
