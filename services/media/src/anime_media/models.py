"""Tables of the media schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from anime_common import schema_metadata


class Base(DeclarativeBase):
    metadata = schema_metadata("media")


class Avatar(Base):
    """A user's current avatar files: what to delete on replacement, without scanning the folder.

    One row per user; the files of a replaced avatar are removed once the new row
    has committed. `user_id` is auth's user id (no foreign key: another schema).
    """

    __tablename__ = "avatars"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(64), unique=True)
    thumbnail_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    # Both images are squares: their side in pixels, and their length in bytes.
    side: Mapped[int] = mapped_column(Integer)
    thumbnail_side: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    thumbnail_byte_size: Mapped[int] = mapped_column(Integer)
    # What was uploaded (JPEG, PNG, ...) and how large, for support and statistics.
    source_format: Mapped[str] = mapped_column(String(16))
    source_width: Mapped[int] = mapped_column(Integer)
    source_height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
