"""Tables of the catalog schema.

Every index the queries rely on is declared here, trigram ones included, so
`alembic check` keeps the migrations honest.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from anime_common import schema_metadata

_NEW_UUID = text("gen_random_uuid()")
_EMPTY_ARRAY = text("'{}'::text[]")


class Base(DeclarativeBase):
    metadata = schema_metadata("catalog")


class Anime(Base):
    __tablename__ = "anime"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=_NEW_UUID
    )
    slug: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    title_original: Mapped[str | None] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    title_native: Mapped[str | None] = mapped_column(Text)
    synonyms: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=_EMPTY_ARRAY)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    season: Mapped[str | None] = mapped_column(Text)
    genres: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=_EMPTY_ARRAY)
    episodes_total: Mapped[int | None] = mapped_column(Integer)
    poster: Mapped[str | None] = mapped_column(Text)
    score: Mapped[decimal.Decimal | None] = mapped_column(Numeric(4, 2))
    # Unique where present: PostgreSQL lets many NULLs through a unique constraint.
    anilist_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    mal_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    hianime_id: Mapped[str | None] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    releases: Mapped[list[Release]] = relationship(back_populates="anime", lazy="raise")

    __table_args__ = (
        # One index per sort of GET /anime (repository.ANIME_SORTS), each ending
        # in the id tiebreak, so a page is an index walk and a deep page a seek
        # from a remembered key. Ascending, scanned backwards for the "-" sorts;
        # NULL scores and years are folded below every real value (last).
        Index("ix_anime_created_at_id", "created_at", "id"),
        Index("ix_anime_score_id", func.coalesce(score, -1), "id"),
        Index("ix_anime_year_id", func.coalesce(year, 0), "id"),
        Index("ix_anime_title_id", "title", "id"),
        # Filters: genre is an array containment (GIN); the others are equalities.
        Index("ix_anime_genres", "genres", postgresql_using="gin"),
        Index("ix_anime_status", "status"),
        Index("ix_anime_kind", "kind"),
    )


class Release(Base):
    """A season, movie or OVA of an anime: what episodes belong to."""

    __tablename__ = "release"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=_NEW_UUID
    )
    anime_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("anime.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    season_number: Mapped[int | None] = mapped_column(SmallInteger)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str | None] = mapped_column(Text)
    episodes_total: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    anime: Mapped[Anime] = relationship(back_populates="releases", lazy="raise")
    episodes: Mapped[list[Episode]] = relationship(back_populates="release", lazy="raise")

    __table_args__ = (
        # GET /releases?anime_id= pages in (season, created, id) order.
        Index("ix_release_anime_id_order", "anime_id", "season_number", "created_at", "id"),
        Index("ix_release_created_at_id", "created_at", "id"),
        # Upserts address a release by its anime and season.
        UniqueConstraint("anime_id", "title", name="uq_release_anime_id_title"),
    )


class Episode(Base):
    __tablename__ = "episode"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=_NEW_UUID
    )
    release_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("release.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    air_date: Mapped[datetime.date | None] = mapped_column()
    hianime_episode_id: Mapped[str | None] = mapped_column(Text, unique=True)

    release: Mapped[Release] = relationship(back_populates="episodes", lazy="raise")

    __table_args__ = (
        # Also the index of GET /episodes?release_id= (ordered by number).
        UniqueConstraint("release_id", "number", name="uq_episode_release_id_number"),
    )


class AnimeTitle(Base):
    """The search index: one row per title or synonym of an anime, as a folded key.

    `key` is the title normalized and folded to ASCII (see `search_text.py`),
    its words separated by single spaces; the GIN index over those words finds
    the titles holding any of a query's matched words.
    """

    __tablename__ = "anime_title"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    anime_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("anime.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    # The anime's score, copied on every write of its titles: the many rows of
    # a common word are ordered without a join.
    score: Mapped[decimal.Decimal | None] = mapped_column(Numeric(4, 2))

    __table_args__ = (
        Index("ix_anime_title_anime_id", "anime_id"),
        # The titles holding any of a query's matched words.
        Index(
            "ix_anime_title_words", func.string_to_array(key, text("' '")), postgresql_using="gin"
        ),
    )


class TitleWord(Base):
    """The vocabulary: every distinct word of `anime_title.key`, with how many rows hold it.

    Kept by triggers on `anime_title` (migration 0003), in the same transaction
    as the write that changes a title, whatever the writer (upsert, COPY).
    """

    __tablename__ = "title_word"

    word: Mapped[str] = mapped_column(Text, primary_key=True)
    titles: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # Search-as-you-type: the words starting with the query's last word, by frequency.
        Index(
            "ix_title_word_prefix",
            "word",
            postgresql_ops={"word": "text_pattern_ops"},
            postgresql_include=["titles"],
        ),
    )


class TitleWordVariant(Base):
    """A vocabulary word with one letter (two, for long words) left out: its typo neighbourhood.

    `catalog.word_variants()` makes them; a query word's own deletions probed
    against this key find every word within its typo budget (SymSpell).
    """

    __tablename__ = "title_word_variant"

    variant: Mapped[str] = mapped_column(Text, primary_key=True)
    word: Mapped[str] = mapped_column(Text, primary_key=True)


class TitleWordPosting(Base):
    """Which title rows hold a word, best score first (-1: no score; kept by the same triggers).

    A common word's best rows are then one short index range, however many
    rows hold it.
    """

    __tablename__ = "title_word_posting"

    word: Mapped[str] = mapped_column(Text, primary_key=True)
    score: Mapped[decimal.Decimal] = mapped_column(Numeric(4, 2), primary_key=True)
    title_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
