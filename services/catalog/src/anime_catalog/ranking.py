"""How search ranks anime: the one place to read, and change, the rules.

A query and every title or synonym are reduced to the same ASCII key
(`search_text.search_key`: case, NFKC, `ё`, punctuation, spacing, scripts).
Each title row of an anime then scores

    tier + closeness

    tier 3  the key equals the query                 "Naruto"    -> naruto
         2  the key starts with the query            "shingeki"  -> shingeki no kyojin
         1  a later word of the key starts with it   "titan"     -> attack on titan
         0  a fuzzy match only                       "naruot"    -> naruto

closeness is the mean of pg_trgm's `similarity` (the whole title against the
query: shorter, closer titles win) and `word_similarity` (the best stretch of
the title against the query: a query that is one word of a long title still
scores), both 0..1. An anime scores its best title; ties go to the higher
`score`, then the id.
Exact and prefix matches therefore always rank above fuzzy ones.

Typo tolerance grows with length, as in Meilisearch: keys shorter than
`FUZZY_MIN_LENGTH` match only exactly or as a prefix (short common tokens are
where trigram search is slow and useless); longer ones also fuzzily, through
the GIN trigram index (the `<%` operator with the threshold below). Queries
in ideographs match exactly or as a prefix only.
Each kind of match contributes at most `CANDIDATES_PER_BRANCH` title rows, so
the total of a vague query is "at least this many", and a statement timeout
bounds the rare pathological query.
"""

from __future__ import annotations

from dataclasses import dataclass

from anime_catalog.search_text import CJK_TOKEN, search_key

FUZZY_MIN_LENGTH = 4
# `<%`: how much of the query's trigrams a stretch of the title must share.
WORD_SIMILARITY_THRESHOLD = 0.5
STATEMENT_TIMEOUT_MS = 1000

# The score of one candidate title row `t`.
RANK_SQL = """
    CASE
        WHEN t.key = :key THEN 3
        WHEN t.key LIKE :prefix THEN 2
        WHEN t.key LIKE :word_prefix THEN 1
        ELSE 0
    END + (similarity(t.key, :key) + word_similarity(:key, t.key)) / 2
"""
# Which title rows are candidates at all: one branch per kind of match, each
# served by an index and capped, so a vague query ("no", "dragon") ranks a
# bounded number of rows instead of a tenth of the catalog. Prefix matches
# come shortest first, so an exact match is always among them.
CANDIDATES_PER_BRANCH = 100
_PREFIX_BRANCH = (
    "SELECT t.anime_id, t.key FROM catalog.anime_title t WHERE t.key LIKE :prefix"
    " ORDER BY length(t.key)"
)
_WORD_PREFIX_BRANCH = (
    "SELECT t.anime_id, t.key FROM catalog.anime_title t WHERE t.key LIKE :word_prefix"
)
# Only `<%` (the query against the best-matching stretch of a title): adding
# whole-title `%` found nothing more in the ranking table and cost 5-10x.
_FUZZY_BRANCH = "SELECT t.anime_id, t.key FROM catalog.anime_title t WHERE :key <% t.key"
# Order of the anime, once each has its best rank `h.rank`.
ORDER_SQL = "h.rank DESC, a.score DESC NULLS LAST, a.id"


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A query made ready for SQL: its key, LIKE patterns and whether typos are forgiven."""

    key: str
    fuzzy: bool

    @property
    def params(self) -> dict[str, str]:
        # Keys hold only [a-z0-9 ], so nothing needs escaping for LIKE.
        return {"key": self.key, "prefix": f"{self.key}%", "word_prefix": f"% {self.key}%"}

    @property
    def candidates_sql(self) -> str:
        """`(anime_id, key)` rows worth ranking, at most CANDIDATES_PER_BRANCH per branch."""
        branches = [_PREFIX_BRANCH, _WORD_PREFIX_BRANCH]
        if self.fuzzy:
            branches.append(_FUZZY_BRANCH)
        return " UNION ALL ".join(
            f"({branch} LIMIT {CANDIDATES_PER_BRANCH})" for branch in branches
        )


def plan_search(query: str) -> SearchPlan | None:
    """The plan of a query; None when nothing searchable is left (only punctuation)."""
    key = search_key(query)
    if not key:
        return None
    # Ideographs are spelled as code-point tokens ("x9032"), whose trigrams are
    # shared by every CJK title: fuzzy matching there is slow and meaningless.
    ideographic = any(CJK_TOKEN.fullmatch(word) for word in key.split())
    return SearchPlan(key=key, fuzzy=len(key) >= FUZZY_MIN_LENGTH and not ideographic)
