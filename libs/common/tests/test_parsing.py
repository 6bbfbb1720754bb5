"""parse_path_id: a path id that is not a UUID names nothing, so it is a 404."""

from __future__ import annotations

import uuid

import pytest

from anime_common import NotFoundError, parse_path_id


def test_a_uuid_in_any_spelling_is_parsed() -> None:
    value = uuid.uuid4()
    assert parse_path_id(str(value), what="Anime") == value
    assert parse_path_id(str(value).upper(), what="Anime") == value


@pytest.mark.parametrize("raw", ["nope", "", "123", "c1402186-8ef4-4db6-a5ca-d50ffa9a1a67x"])
def test_anything_else_is_a_404_naming_the_resource(raw: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        parse_path_id(raw, what="Collection")
    assert raised.value.message == "Collection not found"
