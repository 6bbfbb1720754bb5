"""Collections and views through the gateway (issue 9): users from auth, anime from the demo set."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from anime_devstack.assertions import assert_envelope
from anime_e2e.fixtures import landed, register

pytestmark = pytest.mark.e2e


def user_id(api: httpx.Client, user: dict[str, str]) -> str:
    me: dict[str, Any] = api.get("/users/me", headers=user).json()
    return str(me["id"])


def test_collections_round_trip(api: httpx.Client, demo_anime: dict[str, dict[str, Any]]) -> None:
    owner, stranger = register(api), register(api)
    naruto, one_piece = demo_anime["naruto-677"], demo_anime["one-piece-100"]
    created = api.post(
        "/collections/",
        json={"name": "Shonen", "anime_ids": ["naruto-677", one_piece["id"]]},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    collection = created.json()
    assert collection["is_public"] is False
    assert [item["anime"] for item in collection["items"]] == [
        {"id": anime["id"], "title": anime["title"], "poster": anime["poster"]}
        for anime in (naruto, one_piece)
    ]
    path = f"/collections/{collection['id']}"

    clash = api.post("/collections", json={"name": "shonen"}, headers=owner)
    assert_envelope(clash, 409, "CONFLICT_ERROR")
    # Private: another user cannot see it, nor change it.
    assert api.get(path, headers=stranger).status_code == 404
    assert api.delete(path, headers=stranger).json()["code"] == "NOT_FOUND"

    published = api.patch(path, json={"is_public": True, "description": "Classics"}, headers=owner)
    assert published.status_code == 200, published.text
    shown = api.get("/collections", params={"user_id": user_id(api, owner)}, headers=stranger)
    assert shown.headers["x-total-count"] == "1"
    assert [item["id"] for item in shown.json()] == [collection["id"]]
    assert api.get(path, headers=stranger).json()["description"] == "Classics"

    item = api.post(f"{path}/items", json={"anime_id": "death-note-60"}, headers=owner)
    assert item.status_code == 201, item.text
    assert api.delete(f"{path}/items/naruto-677", headers=owner).status_code == 204
    left = api.get(f"{path}/items", headers=owner)
    assert left.headers["x-total-count"] == "2"
    assert [entry["anime_id"] for entry in left.json()] == [
        one_piece["id"],
        demo_anime["death-note-60"]["id"],
    ]
    unknown = api.post(f"{path}/items", json={"anime_id": str(uuid.uuid4())}, headers=owner)
    assert unknown.status_code == 404

    assert api.delete(path, headers=owner).status_code == 204
    assert api.get(path, headers=owner).status_code == 404


def test_collections_need_a_token(api: httpx.Client) -> None:
    response = api.get("/collections")
    assert_envelope(response, 401, "AUTH_ERROR")
    assert api.post("/collections", json={"name": "x"}).status_code == 401


def test_views_are_counted_once_per_hour_and_listed(
    api: httpx.Client, demo_anime: dict[str, dict[str, Any]]
) -> None:
    viewer, other = register(api), register(api)
    anime_id = demo_anime["death-note-60"]["id"]
    before = api.get("/views/stats", params={"anime_id": anime_id}).json()
    for user in (viewer, viewer, other):
        accepted = api.post(
            "/views", json={"anime_id": "death-note-60", "episode": 1}, headers=user
        )
        assert accepted.status_code == 202, accepted.text
        assert landed(api, accepted.json()["job"], user)["status"] == "succeeded"
    after = api.get("/views/stats", params={"anime_id": anime_id})
    assert after.status_code == 200
    # Public: no token needed. The viewer's refresh was not counted again.
    assert after.json()["total"] - before["total"] == 2
    assert after.json()["last_7_days"] - before["last_7_days"] == 2

    recent = api.get("/views", headers=viewer)
    assert recent.headers["x-total-count"] == "1"
    assert [(item["anime_id"], item["episode"]) for item in recent.json()] == [(anime_id, 1)]
    bad = api.post("/views", json={"anime_id": anime_id, "episode": 0}, headers=viewer)
    assert bad.status_code == 422
    assert bad.json()["details"][0]["field"] == "episode"
