"""Tables of the catalog schema."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from anime_common import schema_metadata


class Base(DeclarativeBase):
    metadata = schema_metadata("catalog")
