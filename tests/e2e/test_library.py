"""The library through the gateway: favorites, watch progress, jobs, and a SIGTERM mid-queue.

Users come from auth (`POST /auth/register`); anime from the catalog's demo
set, seeded as `scripts/run` does. Every write answers 202 with a job, polled
through `GET /jobs/{id}` until it has landed.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from anime_devstack.assertions import assert_envelope
from anime_e2e.fixtures import RunningStack, landed, register

pytestmark = pytest.mark.e2e


def test_reads_need_a_token_and_writes_answer_202(api: httpx.Client) -> None:
    for path in ("/favorites", "/watch/continue", f"/jobs/{uuid.uuid4()}"):
        response = api.get(path)
        assert_envelope(response, 401, "AUTH_ERROR")
    assert api.post("/favorites", json={"anime_id": "one-piece-100"}).status_code == 401


def test_favorites_round_trip(api: httpx.Client, demo_anime: dict[str, dict[str, Any]]) -> None:
    user = register(api)
    one_piece = demo_anime["one-piece-100"]
    accepted = api.post("/favorites", json={"anime_id": "one-piece-100"}, headers=user)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert set(body) == {"id", "anime_id", "created_at", "job"}
    assert body["anime_id"] == one_piece["id"]
    assert landed(api, body["job"], user)["status"] == "succeeded"

    listed = api.get("/favorites", headers=user)
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "id": body["id"],
            "anime_id": one_piece["id"],
            "created_at": body["created_at"],
            "anime": {"id": one_piece["id"], "title": one_piece["title"],
                      "poster": one_piece["poster"]},
        }
    ]  # fmt: skip
    again = api.post("/favorites", json={"anime_id": one_piece["id"]}, headers=user)
    assert again.status_code == 202
    assert again.json()["id"] == body["id"]

    removed = api.delete(f"/favorites/{one_piece['id']}", headers=user)
    assert removed.status_code == 202
    assert set(removed.json()) == {"job"}
    landed(api, removed.json()["job"], user)
    assert api.get("/favorites/", headers=user).json() == []
    nothing = api.delete(f"/favorites/{uuid.uuid4()}", headers=user)
    assert nothing.status_code == 202
    unknown = api.post("/favorites", json={"anime_id": str(uuid.uuid4())}, headers=user)
    assert_envelope(unknown, 404, "NOT_FOUND")


def test_two_identical_posts_at_once_are_one_job_and_one_favorite(
    seeded: RunningStack, demo_anime: dict[str, dict[str, Any]], api: httpx.Client
) -> None:
    user = register(api)
    body = {"anime_id": demo_anime["naruto-677"]["id"]}

    def post() -> httpx.Response:
        with httpx.Client(base_url=seeded.gateway_url, timeout=15, trust_env=False) as client:
            return client.post("/favorites", json=body, headers=user)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (future.result() for future in [pool.submit(post), pool.submit(post)])
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["job"]["id"] == second.json()["job"]["id"]
    landed(api, first.json()["job"], user)
    assert len(api.get("/favorites", headers=user).json()) == 1


def test_progress_rapid_updates_and_continue_watching(
    api: httpx.Client, demo_anime: dict[str, dict[str, Any]]
) -> None:
    user = register(api)
    one_piece = demo_anime["one-piece-100"]["id"]
    invalid = api.post(
        "/watch/progress", json={"anime_id": one_piece, "episode": 0, "progress_percent": 5},
        headers=user,
    )  # fmt: skip
    assert invalid.status_code == 422
    assert [item["field"] for item in invalid.json()["details"]] == ["episode"]
    jobs = []
    for position in range(1, 21):
        response = api.post(
            "/watch/progress",
            json={"anime_id": "one-piece-100", "episode": 7, "position_seconds": position * 30},
            headers=user,
        )
        assert response.status_code == 202, response.text
        jobs.append(response.json()["job"])
    for job in jobs:
        assert landed(api, job, user)["status"] == "succeeded"
    progress = api.get("/watch/progress", params={"anime_id": one_piece}, headers=user).json()
    assert [(item["episode"], item["position_seconds"]) for item in progress] == [(7, 600)]

    later = api.post(
        "/watch/progress",
        json={"anime_id": demo_anime["naruto-677"]["id"], "episode": 2, "progress_percent": 95},
        headers=user,
    )
    landed(api, later.json()["job"], user)
    watching = api.get("/watch/continue", headers=user).json()
    assert [item["anime"]["title"] for item in watching] == [
        demo_anime["naruto-677"]["title"],
        demo_anime["one-piece-100"]["title"],
    ]


def test_another_users_job_is_not_found(api: httpx.Client) -> None:
    owner, other = register(api), register(api)
    accepted = api.post("/favorites", json={"anime_id": "one-piece-100"}, headers=owner)
    job = accepted.json()["job"]
    assert api.get(f"/jobs/{job['id']}", headers=owner).status_code == 200
    hidden = api.get(f"/jobs/{job['id']}", headers=other)
    assert_envelope(hidden, 404, "NOT_FOUND")


def test_sigterm_lands_every_accepted_change(
    seeded: RunningStack, api: httpx.Client, demo_anime: dict[str, dict[str, Any]]
) -> None:
    user = register(api)
    one_piece = demo_anime["one-piece-100"]["id"]
    for episode in range(1, 41):
        response = api.post(
            "/watch/progress",
            json={"anime_id": one_piece, "episode": episode, "progress_percent": 50},
            headers=user,
        )
        assert response.status_code == 202
    seeded.stop_service("library")  # SIGTERM: the runner drains before the process ends
    seeded.start_service("library")
    listed = api.get("/watch/progress", params={"anime_id": one_piece, "limit": 100}, headers=user)
    assert listed.status_code == 200, listed.text
    assert [item["episode"] for item in listed.json()] == list(range(1, 41))
