"""The vocabulary of title words and its deletion neighbourhood (word-level typo search).

`anime_title` gains a copy of its anime's score (candidate rows are ordered
without a join) and a GIN index over its key's words, in place of the
whole-key trigram and prefix indexes.

`title_word` holds every distinct word of `anime_title.key` with how many title
rows contain it; `title_word_posting` which rows those are, best score first;
`title_word_variant` holds each word's deletion variants (as
in SymSpell: the word with one letter left out, from 5 letters on, or two,
from 9), so a query word finds every vocabulary word within its typo budget
through a handful of primary-key probes. Triggers on `anime_title` keep both
in step inside the same transaction as any write to it (upserts, imports,
COPY), so every replica sees a new title's words the moment it commits.

The lengths 5 and 9 are `ranking.ONE_TYPO_FROM` and `ranking.TWO_TYPOS_FROM`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Ideograph tokens (`x9032`) are matched exactly only; words past 24 letters
# would make hundreds of variants for no real title.
_VARIANTS = r"""
CREATE FUNCTION catalog.word_variants(word text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DISTINCT variant FROM (
        SELECT overlay(word PLACING '' FROM i FOR 1) AS variant
        FROM generate_series(1, length(word)) AS i
        WHERE length(word) >= 5
        UNION ALL
        SELECT overlay(overlay(word PLACING '' FROM j FOR 1) PLACING '' FROM i FOR 1)
        FROM generate_series(1, length(word)) AS i, generate_series(i + 1, length(word)) AS j
        WHERE length(word) >= 9
    ) AS variants
    WHERE length(word) <= 24 AND word !~ '^x[0-9a-f]{4,6}$'
$$
"""
# Counts change through one sorted INSERT ... ON CONFLICT, so concurrent
# imports sharing words lock them in the same order (no deadlock).
_COUNT_WORDS = """
CREATE FUNCTION catalog.count_title_words(changed text[], step integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
BEGIN
    WITH counted AS (
        INSERT INTO catalog.title_word AS w (word, titles)
        SELECT word, step * count(*)::integer
        FROM (SELECT DISTINCT k.n, word
              FROM unnest(changed) WITH ORDINALITY AS k(key, n),
                   unnest(string_to_array(k.key, ' ')) AS word) AS words
        GROUP BY word ORDER BY word
        ON CONFLICT (word) DO UPDATE SET titles = w.titles + excluded.titles
        RETURNING w.word, w.titles, (xmax = 0) AS created
    ), added AS (
        INSERT INTO catalog.title_word_variant (variant, word)
        SELECT catalog.word_variants(word), word FROM counted WHERE created AND titles > 0
        ON CONFLICT DO NOTHING
    )
    SELECT array_agg(word) INTO touched FROM counted WHERE titles <= 0;
    IF touched IS NULL THEN
        RETURN;
    END IF;
    -- A statement of its own: a CTE cannot delete the rows its sibling just updated.
    WITH gone AS (
        DELETE FROM catalog.title_word
        WHERE word = ANY(touched) AND titles <= 0
        RETURNING word
    )
    DELETE FROM catalog.title_word_variant v
    USING (SELECT word, catalog.word_variants(word) AS variant FROM gone) AS g
    WHERE v.variant = g.variant AND v.word = g.word;
END
$$
"""
# Postings: which title rows hold a word, best score first, so a common word's
# best few hundred rows are one index range however many rows hold it.
_ON_INSERT = """
CREATE FUNCTION catalog.title_words_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog.count_title_words(ARRAY(SELECT key FROM added_rows), 1);
    INSERT INTO catalog.title_word_posting (word, score, title_id)
    SELECT DISTINCT word, coalesce(a.score, -1), a.id
    FROM added_rows AS a, unnest(string_to_array(a.key, ' ')) AS word
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""
_ON_DELETE = """
CREATE FUNCTION catalog.title_words_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog.title_word_posting AS p
    USING (SELECT DISTINCT word, coalesce(r.score, -1) AS score, r.id
           FROM removed_rows AS r, unnest(string_to_array(r.key, ' ')) AS word) AS gone
    WHERE p.word = gone.word AND p.score = gone.score AND p.title_id = gone.id;
    PERFORM catalog.count_title_words(ARRAY(SELECT key FROM removed_rows), -1);
    RETURN NULL;
END
$$
"""
# Triggers fire in name order: an update takes its old row's words away
# before it counts the new row's.
_TRIGGERS = (
    "CREATE TRIGGER title_words_insert AFTER INSERT ON catalog.anime_title"
    " REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION catalog.title_words_added()",
    "CREATE TRIGGER title_words_update_1 AFTER UPDATE ON catalog.anime_title"
    " REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION catalog.title_words_removed()",
    "CREATE TRIGGER title_words_update_2 AFTER UPDATE ON catalog.anime_title"
    " REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION catalog.title_words_added()",
    "CREATE TRIGGER title_words_delete AFTER DELETE ON catalog.anime_title"
    " REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION catalog.title_words_removed()",
)


def upgrade() -> None:
    op.create_table(
        "title_word",
        sa.Column("word", sa.Text(), nullable=False),
        sa.Column("titles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_title_word")),
        schema="catalog",
    )
    op.create_index(
        "ix_title_word_prefix",
        "title_word",
        ["word"],
        unique=False,
        schema="catalog",
        postgresql_ops={"word": "text_pattern_ops"},
        postgresql_include=["titles"],
    )
    op.create_table(
        "title_word_variant",
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("variant", "word", name=op.f("pk_title_word_variant")),
        schema="catalog",
    )
    op.add_column(
        "anime_title",
        sa.Column("score", sa.Numeric(precision=4, scale=2), nullable=True),
        schema="catalog",
    )
    op.execute(
        "UPDATE catalog.anime_title t SET score = a.score FROM catalog.anime a"
        " WHERE a.id = t.anime_id"
    )
    op.create_table(
        "title_word_posting",
        sa.Column("word", sa.Text(), nullable=False),
        sa.Column("score", sa.Numeric(precision=4, scale=2), nullable=False),
        sa.Column("title_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("word", "score", "title_id", name=op.f("pk_title_word_posting")),
        schema="catalog",
    )
    op.create_index(
        "ix_anime_title_words",
        "anime_title",
        [sa.literal_column("string_to_array(key, ' ')")],
        unique=False,
        schema="catalog",
        postgresql_using="gin",
    )
    # Whole-key trigram and prefix matching gave way to the word index above.
    op.drop_index("ix_anime_title_key_trgm", table_name="anime_title", schema="catalog")
    op.drop_index("ix_anime_title_key_prefix", table_name="anime_title", schema="catalog")
    for statement in (_VARIANTS, _COUNT_WORDS, _ON_INSERT, _ON_DELETE, *_TRIGGERS):
        op.execute(statement)
    # The titles already stored.
    op.execute("SELECT catalog.count_title_words(ARRAY(SELECT key FROM catalog.anime_title), 1)")
    op.execute(
        "INSERT INTO catalog.title_word_posting (word, score, title_id)"
        " SELECT DISTINCT word, coalesce(t.score, -1), t.id"
        " FROM catalog.anime_title AS t, unnest(string_to_array(t.key, ' ')) AS word"
    )


def downgrade() -> None:
    for trigger in ("title_words_insert", "title_words_update_1", "title_words_update_2",
                    "title_words_delete"):  # fmt: skip
        op.execute(f"DROP TRIGGER {trigger} ON catalog.anime_title")
    for function in (
        "title_words_added()",
        "title_words_removed()",
        "count_title_words(text[], integer)",
        "word_variants(text)",
    ):
        op.execute(f"DROP FUNCTION catalog.{function}")
    op.create_index(
        "ix_anime_title_key_prefix",
        "anime_title",
        ["key"],
        unique=False,
        schema="catalog",
        postgresql_ops={"key": "text_pattern_ops"},
    )
    op.create_index(
        "ix_anime_title_key_trgm",
        "anime_title",
        ["key"],
        unique=False,
        schema="catalog",
        postgresql_using="gin",
        postgresql_ops={"key": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_anime_title_words", table_name="anime_title", schema="catalog", postgresql_using="gin"
    )
    op.drop_column("anime_title", "score", schema="catalog")
    op.drop_table("title_word_posting", schema="catalog")
    op.drop_table("title_word_variant", schema="catalog")
    op.drop_index("ix_title_word_prefix", table_name="title_word", schema="catalog")
    op.drop_table("title_word", schema="catalog")
