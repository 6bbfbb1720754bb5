"""The catalog through the gateway: demo data, paging, search, caching, public-ness.

The e2e stack starts with an empty database; the module seeds it once with the
same step `scripts/run` uses (`Stack.seed_demo_catalog`, i.e.
`python -m anime_catalog seed-demo`). Internal routes are driven directly at
the catalog with a service token, and shown unreachable through the gateway.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from anime_common import CommonSettings, TokenVerifier, load_settings
from anime_devstack.stack import Stack
from anime_e2e.fixtures import RunningStack

pytestmark = pytest.mark.e2e

STALE = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}


def service_token(stack: Stack) -> str:
    """What another service would present: signed with the stack's key, permission internal."""
    settings = load_settings(
        CommonSettings, SECRET_KEY=stack.config.secret_key, DATABASE_URL="postgresql://unused/x"
    )
    return TokenVerifier(settings).issue_service_token("e2e")


def first_result(api: httpx.Client, query: str) -> dict[str, Any]:
    response = api.get("/search/anime", params={"q": query})
    assert response.status_code == 200, response.text
    assert response.json(), query
    result: dict[str, Any] = response.json()[0]
    return result


def test_listing_pages_through_the_gateway(api: httpx.Client, seeded: RunningStack) -> None:
    first = api.get("/anime", params={"limit": 30})
    assert first.status_code == 200
    assert first.headers["x-total-count"] == "66"
    assert len(first.json()) == 30
    link = first.headers["link"]
    # The next page is a reference relative to the gateway's origin (PUBLIC_URL unset),
    # never to the service behind it nor to whatever Host the client sent.
    assert link.startswith("</anime?")
    assert 'rel="next"' in link
    last = api.get("/anime", params={"limit": 30, "offset": 60})
    assert len(last.json()) == 6
    assert "link" not in last.headers
    assert api.get("/anime", params={"offset": 1000}).json() == []
    movies = api.get("/anime", params={"kind": "movie", "sort": "-score", "limit": 100}).json()
    assert movies
    assert all(item["kind"] == "movie" for item in movies)
    scores = [item["score"] for item in movies]
    assert scores == sorted(scores, reverse=True)
    bad = api.get("/anime", params={"sort": "popularity"})
    assert bad.status_code == 422
    assert bad.json()["details"][0]["field"] == "sort"


def test_seeding_again_leaves_a_filled_catalog_alone(api: httpx.Client, seeded: Stack) -> None:
    seeded.seed_demo_catalog()
    assert api.get("/anime", params={"limit": 1}).headers["x-total-count"] == "66"


def test_detail_releases_and_episodes(api: httpx.Client) -> None:
    one_piece = first_result(api, "ванпис")
    assert one_piece["hianime_id"] == "one-piece-100"
    assert api.get(f"/anime/{one_piece['id']}").json() == one_piece
    assert api.get("/anime/one-piece-100").status_code == 404
    releases = api.get("/releases", params={"anime_id": one_piece["id"]}).json()
    assert api.get(f"/releases/{releases[0]['id']}/").json() == releases[0]
    episodes = api.get("/episodes", params={"release_id": releases[0]["id"], "limit": 100})
    assert int(episodes.headers["x-total-count"]) >= 1000
    assert [item["number"] for item in episodes.json()] == list(range(1, 101))
    assert api.get("/episodes").status_code == 422
    assert api.get("/episodes", params={"release_id": str(uuid.uuid4())}).status_code == 404


@pytest.mark.parametrize(
    ("query", "hianime_id"),
    [
        ("naruot", "naruto-677"),
        ("shingeki", "attack-on-titan-112"),
        ("進撃の巨人", "attack-on-titan-112"),
        ("врата штейна", "steinsgate-3"),
        ("psyhco", "psycho-pass-225"),
        ("atack on titna", "attack-on-titan-112"),
        ("госопжа", "kaguya-sama-love-is-war-65"),
    ],
)
def test_search_through_the_gateway(api: httpx.Client, query: str, hianime_id: str) -> None:
    assert first_result(api, query)["hianime_id"] == hianime_id


def test_revalidation_through_the_gateway(api: httpx.Client) -> None:
    first = api.get("/anime", params={"genre": "drama"})
    etag = first.headers["etag"]
    assert "no-cache" in first.headers["cache-control"]
    again = api.get("/anime", params={"genre": "drama"}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_public_routes_ignore_a_stale_token(api: httpx.Client) -> None:
    anime = first_result(api, "frieren")
    release = api.get("/releases", params={"anime_id": anime["id"]}).json()[0]
    for path, params in (
        ("/anime", {}),
        (f"/anime/{anime['id']}", {}),
        ("/releases", {}),
        (f"/releases/{release['id']}", {}),
        ("/episodes", {"release_id": release["id"]}),
        ("/search/anime", {"q": "frieren"}),
    ):
        for suffix in ("", "/"):
            response = api.get(path + suffix, params=params, headers=STALE)
            assert response.status_code == 200, (path, response.text)


def test_internal_routes_only_directly(api: httpx.Client, seeded: Stack) -> None:
    document = {
        "title": "Тестовое аниме",
        "title_en": "Gateway Test Anime",
        "hianime_id": "gateway-test-anime-1",
        "genres": ["comedy"],
        "kind": "ova",
    }
    blocked = api.post("/internal/anime", json=document)
    assert blocked.status_code == 404
    assert "x-request-id" not in blocked.headers  # the edge's 404, not the catalog's
    direct = httpx.post(
        f"{seeded.service_url('catalog')}/internal/anime",
        json=document,
        headers={"Authorization": f"Bearer {service_token(seeded)}"},
        timeout=15,
        trust_env=False,
    )
    assert direct.status_code == 201, direct.text
    assert first_result(api, "gateway test anime")["id"] == direct.json()["id"]
    assert api.get("/anime").headers["x-total-count"] == "67"
