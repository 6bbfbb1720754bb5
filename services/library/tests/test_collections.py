"""Collections (issue 9) against a real PostgreSQL and the real catalog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from anime_devstack.assertions import assert_envelope
from anime_devstack.ports import free_port

from .conftest import (
    UNKNOWN_HIANIME_ID,
    Catalog,
    count,
    fields_of,
    user_token,
)

pytestmark = pytest.mark.anyio

COLLECTION_FIELDS = {
    "id", "user_id", "name", "description", "is_public", "items_count", "created_at",
    "updated_at",
}  # fmt: skip


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/collections", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_with_anime_then_read_and_list(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user_id = uuid.uuid4()
    user = user_token(user_id)
    frieren, one_piece = str(catalog.anime["frieren"]), str(catalog.anime["one-piece"])
    created = await create(
        library,
        user,
        name="  To watch  ",
        description="Autumn",
        # A HiAnime id and a repeat of an anime already named count once.
        anime_ids=[one_piece, "frieren-18542", one_piece],
    )
    assert set(created) == COLLECTION_FIELDS | {"items"}
    assert created["name"] == "To watch"
    assert created["user_id"] == str(user_id)
    assert created["is_public"] is False
    assert created["items_count"] == 2
    assert created["created_at"] == created["updated_at"]
    assert [item["anime_id"] for item in created["items"]] == [one_piece, frieren]
    assert created["items"][1]["anime"] == {
        "id": frieren,
        "title": "Фрирен",
        "poster": "https://img.example/frieren.jpg",
    }
    assert set(created["items"][0]) == {"anime_id", "added_at", "anime"}

    read = await library.get(f"/collections/{created['id']}/", headers=user)
    assert read.status_code == 200
    assert read.json() == created

    listed = await library.get("/collections", headers=user)
    assert listed.headers["x-total-count"] == "1"
    assert listed.json() == [{key: created[key] for key in COLLECTION_FIELDS}]
    # Collections are per user.
    assert (await library.get("/collections", headers=user_token())).json() == []


async def test_an_empty_collection_and_a_page_of_collections(library: httpx.AsyncClient) -> None:
    user = user_token()
    names = ["first", "second", "third"]
    for name in names:
        created = await create(library, user, name=name)
        assert created["items"] == []
        assert created["description"] is None
    page = await library.get("/collections?limit=2", headers=user)
    assert [item["name"] for item in page.json()] == ["third", "second"]  # newest first
    assert page.headers["x-total-count"] == "3"
    assert 'rel="next"' in page.headers["link"]
    beyond = await library.get("/collections?offset=10", headers=user)
    assert beyond.json() == []
    assert beyond.headers["x-total-count"] == "3"


async def test_names_are_unique_per_user_ignoring_case(
    library: httpx.AsyncClient, database_url: str
) -> None:
    user, other = user_token(), user_token()
    first = await create(library, user, name="Isekai")
    clash = await library.post("/collections", json={"name": " isekai "}, headers=user)
    assert_envelope(clash, 409, "CONFLICT_ERROR")
    await create(library, other, name="Isekai")  # another user's name is no clash
    second = await create(library, user, name="Mecha")
    renamed = await library.patch(
        f"/collections/{second['id']}", json={"name": "ISEKAI"}, headers=user
    )
    assert_envelope(renamed, 409, "CONFLICT_ERROR")
    # A collection may change the case of its own name.
    own = await library.patch(f"/collections/{first['id']}", json={"name": "ISEKAI"}, headers=user)
    assert own.status_code == 200, own.text
    assert own.json()["name"] == "ISEKAI"
    assert await count(database_url, "SELECT count(*) FROM library.collections") == 3


async def test_patch_changes_only_the_fields_given(library: httpx.AsyncClient) -> None:
    user = user_token()
    created = await create(library, user, name="Old", description="Words")
    path = f"/collections/{created['id']}"
    published = await library.patch(path, json={"is_public": True}, headers=user)
    assert published.status_code == 200
    body = published.json()
    assert (body["name"], body["description"], body["is_public"]) == ("Old", "Words", True)
    assert body["updated_at"] > created["updated_at"]
    cleared = (await library.patch(path, json={"description": None}, headers=user)).json()
    assert (cleared["name"], cleared["description"], cleared["is_public"]) == ("Old", None, True)
    # What a client read may be sent back: read-only fields are ignored.
    unchanged = await library.patch(path, json={**cleared, "id": "x", "items": []}, headers=user)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["name"] == "Old"

    for bad, field in (
        ({"name": None}, "name"),
        ({"is_public": None}, "is_public"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"description": "x" * 2001}, "description"),
    ):
        assert field in fields_of(await library.patch(path, json=bad, headers=user)), bad
    assert (await library.get(path, headers=user)).json()["name"] == "Old"


async def test_create_rejects_bad_input_and_writes_nothing(
    library: httpx.AsyncClient, database_url: str
) -> None:
    user = user_token()
    for bad, field in (
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": " \n "}, "name"),
        ({"name": "ok", "is_public": "maybe"}, "is_public"),
        ({"name": "ok", "anime_ids": "not-a-list"}, "anime_ids"),
        ({"name": "ok", "anime_ids": [""]}, "anime_ids.0"),
    ):
        assert field in fields_of(await library.post("/collections", json=bad, headers=user)), bad
    assert_envelope(
        await library.post("/collections", content=b"{", headers=user), 400, "VALIDATION_ERROR"
    )
    assert await count(database_url, "SELECT count(*) FROM library.collections") == 0


async def test_unknown_anime_is_a_404_and_nothing_is_written(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    known = str(catalog.anime["frieren"])
    for reference in (str(uuid.uuid4()), "no-such-anime-1", "Not An Id!"):
        response = await library.post(
            "/collections", json={"name": "x", "anime_ids": [known, reference]}, headers=user
        )
        assert reference in assert_envelope(response, 404, "NOT_FOUND")["message"]
    assert await count(database_url, "SELECT count(*) FROM library.collections") == 0

    created = await create(library, user, name="x")
    response = await library.post(
        f"/collections/{created['id']}/items", json={"anime_id": str(uuid.uuid4())}, headers=user
    )
    assert_envelope(response, 404, "NOT_FOUND")
    assert await count(database_url, "SELECT count(*) FROM library.collection_items") == 0


async def test_items_are_added_once_listed_in_order_and_removed(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    created = await create(library, user, name="Queue")
    items = f"/collections/{created['id']}/items"
    first = await library.post(
        items, json={"anime_id": str(catalog.anime["frieren"])}, headers=user
    )
    assert first.status_code == 201, first.text
    assert first.json()["anime"]["title"] == "Фрирен"
    again = await library.post(items, json={"anime_id": "frieren-18542"}, headers=user)
    assert again.status_code == 200
    assert again.json() == first.json()
    # An anime the catalog did not know yet is imported through its HiAnime id.
    imported = await library.post(items, json={"anime_id": UNKNOWN_HIANIME_ID}, headers=user)
    assert imported.status_code == 201, imported.text
    await library.post(items, json={"anime_id": str(catalog.anime["one-piece"])}, headers=user)

    page = await library.get(f"{items}?limit=2", headers=user)
    assert page.headers["x-total-count"] == "3"
    assert [item["anime"]["title"] for item in page.json()] == ["Фрирен", "Дандадан"]
    detail = (await library.get(f"/collections/{created['id']}", headers=user)).json()
    assert detail["items_count"] == 3
    assert detail["updated_at"] > created["updated_at"]

    removed = await library.delete(f"{items}/frieren-18542", headers=user)
    assert removed.status_code == 204
    assert removed.content == b""
    by_id = await library.delete(f"{items}/{catalog.anime['one-piece']}/", headers=user)
    assert by_id.status_code == 204
    for missing in ("frieren-18542", str(uuid.uuid4()), "no-such-anime-1"):
        assert_envelope(await library.delete(f"{items}/{missing}", headers=user), 404, "NOT_FOUND")
    left = (await library.get(items, headers=user)).json()
    assert [item["anime"]["title"] for item in left] == ["Дандадан"]
    assert await count(database_url, "SELECT count(*) FROM library.collection_items") == 1


async def test_the_item_bound_holds_even_for_concurrent_adds(
    make_library: Callable[..., Any], catalog: Catalog, database_url: str
) -> None:
    async with make_library(COLLECTION_MAX_ITEMS=1) as library:
        user = user_token()
        too_many = {"name": "x", "anime_ids": ["frieren-18542", "one-piece-100"]}
        assert fields_of(await library.post("/collections", json=too_many, headers=user)) == {
            "anime_ids"
        }
        created = await create(library, user, name="one")
        items = f"/collections/{created['id']}/items"
        answers = await asyncio.gather(
            *(
                library.post(items, json={"anime_id": str(catalog.anime[name])}, headers=user)
                for name in ("frieren", "one-piece")
            )
        )
        assert sorted(answer.status_code for answer in answers) == [201, 422]
        assert await count(database_url, "SELECT count(*) FROM library.collection_items") == 1


async def test_collections_per_user_are_bounded(make_library: Callable[..., Any]) -> None:
    async with make_library(COLLECTIONS_PER_USER=2) as library:
        user = user_token()
        await create(library, user, name="a")
        await create(library, user, name="b")
        third = await library.post("/collections", json={"name": "c"}, headers=user)
        assert fields_of(third) == {"name"}
        await create(library, user_token(), name="c")  # the bound is per user


async def test_other_users_see_public_collections_only_and_change_none(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    owner_id = uuid.uuid4()
    owner, stranger = user_token(owner_id), user_token()
    private = await create(library, owner, name="Secret")
    public = await create(
        library, owner, name="Shared", is_public=True, anime_ids=[str(catalog.anime["frieren"])]
    )

    shown = await library.get(f"/collections?user_id={owner_id}", headers=stranger)
    assert shown.headers["x-total-count"] == "1"
    assert [item["id"] for item in shown.json()] == [public["id"]]
    # The owner asking for their own id sees everything.
    mine = await library.get(f"/collections?user_id={owner_id}", headers=owner)
    assert {item["id"] for item in mine.json()} == {private["id"], public["id"]}

    read = await library.get(f"/collections/{public['id']}", headers=stranger)
    assert read.status_code == 200
    assert read.json()["items"][0]["anime"]["title"] == "Фрирен"
    assert (await library.get(f"/collections/{public['id']}/items", headers=stranger)).json()

    anime = {"anime_id": str(catalog.anime["one-piece"])}
    for collection in (private, public):
        path = f"/collections/{collection['id']}"
        if collection is private:
            assert_envelope(await library.get(path, headers=stranger), 404, "NOT_FOUND")
            assert_envelope(await library.get(f"{path}/items", headers=stranger), 404, "NOT_FOUND")
        for response in (
            await library.patch(path, json={"name": "Mine now"}, headers=stranger),
            await library.delete(path, headers=stranger),
            await library.post(f"{path}/items", json=anime, headers=stranger),
            await library.delete(f"{path}/items/{catalog.anime['frieren']}", headers=stranger),
        ):
            assert_envelope(response, 404, "NOT_FOUND")
    unchanged = (await library.get(f"/collections/{public['id']}", headers=owner)).json()
    assert (unchanged["name"], unchanged["items_count"]) == ("Shared", 1)


async def test_delete_removes_the_collection_and_its_items(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    created = await create(library, user, name="Gone", anime_ids=[str(catalog.anime["frieren"])])
    path = f"/collections/{created['id']}"
    deleted = await library.delete(path, headers=user)
    assert deleted.status_code == 204
    assert_envelope(await library.get(path, headers=user), 404, "NOT_FOUND")
    assert_envelope(await library.delete(path, headers=user), 404, "NOT_FOUND")
    assert await count(database_url, "SELECT count(*) FROM library.collection_items") == 0
    # Its name is free again.
    await create(library, user, name="Gone")


async def test_ids_that_are_not_uuids_are_404_and_a_bad_user_id_is_422(
    library: httpx.AsyncClient,
) -> None:
    user = user_token()
    for path in ("/collections/nope", "/collections/nope/items"):
        assert_envelope(await library.get(path, headers=user), 404, "NOT_FOUND")
    assert_envelope(
        await library.patch("/collections/nope", json={}, headers=user), 404, "NOT_FOUND"
    )
    assert fields_of(await library.get("/collections?user_id=nope", headers=user)) == {"user_id"}
    assert fields_of(await library.get("/collections?limit=101", headers=user)) == {"limit"}


async def test_reads_need_a_token_and_writes_need_write_content(
    library: httpx.AsyncClient,
) -> None:
    some = f"/collections/{uuid.uuid4()}"
    for path in ("/collections", some, f"{some}/items"):
        assert_envelope(await library.get(path), 401, "AUTH_ERROR")
    reader = user_token(permissions=("read:content",))
    assert (await library.get("/collections", headers=reader)).status_code == 200
    for response in (
        await library.post("/collections", json={"name": "x"}, headers=reader),
        await library.patch(some, json={"name": "x"}, headers=reader),
        await library.delete(some, headers=reader),
        await library.post(f"{some}/items", json={"anime_id": "x-1"}, headers=reader),
        await library.delete(f"{some}/items/x-1", headers=reader),
    ):
        assert_envelope(response, 403, "PERMISSION_DENIED")
    assert_envelope(await library.post("/collections", json={"name": "x"}), 401, "AUTH_ERROR")


async def test_catalog_down_is_a_503_and_nothing_is_written(
    make_library: Callable[..., Any], database_url: str
) -> None:
    async with make_library(CATALOG_SERVICE_URL=f"http://127.0.0.1:{free_port()}") as library:
        user = user_token()
        body = {"name": "x", "anime_ids": [str(uuid.uuid4())]}
        response = await library.post("/collections", json=body, headers=user)
        assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
        assert await count(database_url, "SELECT count(*) FROM library.collections") == 0
        # Without anime to check, the catalog is not needed.
        created = await create(library, user, name="x")
        assert created["items"] == []
