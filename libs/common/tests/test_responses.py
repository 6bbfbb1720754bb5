from __future__ import annotations

import datetime
import uuid

from anime_common import RowOut
from anime_common._responses import dumps


class EpisodeRow(RowOut):
    id: uuid.UUID
    number: int
    title: str | None
    aired_at: datetime.datetime


class ReleaseRow(RowOut):
    id: uuid.UUID
    episodes: list[EpisodeRow]


def _row() -> dict[str, object]:
    return {
        # Our repositories read UUIDs as text: PostgreSQL already prints them canonically.
        "id": "0b2f1f7e-8d44-4c8a-9f6e-3a5b8c1d2e4f",
        "number": 3,
        "title": None,
        "aired_at": datetime.datetime(2024, 4, 6, 15, 30, 0, 125000, tzinfo=datetime.UTC),
    }


def test_a_row_out_is_written_exactly_as_its_row() -> None:
    row = _row()
    assert dumps(EpisodeRow.from_row(row)) == dumps(row)
    assert dumps([EpisodeRow.from_row(row)]) == (
        b'[{"id":"0b2f1f7e-8d44-4c8a-9f6e-3a5b8c1d2e4f","number":3,"title":null,'
        b'"aired_at":"2024-04-06T15:30:00.125000Z"}]'
    )


def test_a_row_out_nests_and_matches_what_pydantic_writes_for_the_same_values() -> None:
    episode = _row()
    release = ReleaseRow.from_row(
        {"id": "5f0c3a1e-2b7d-4e9f-8a6c-1d2e3f4a5b6c", "episodes": [EpisodeRow.from_row(episode)]}
    )
    validated = ReleaseRow.model_validate(
        {"id": "5f0c3a1e-2b7d-4e9f-8a6c-1d2e3f4a5b6c", "episodes": [episode]}
    )
    assert dumps(release) == validated.model_dump_json().encode()
    assert release.episodes[0].number == 3
