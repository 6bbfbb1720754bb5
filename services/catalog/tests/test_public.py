"""The public catalog routes on the demo data: shapes, paging, filters, sorts, errors, caching."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from anime_catalog.app import create_app
from anime_catalog.state import CatalogState
from anime_common import service_state
from anime_devstack.asgi import serve_asgi

from .conftest import catalog_settings

pytestmark = pytest.mark.anyio

ANIME_KEYS = [
    "id", "slug", "title", "title_original", "title_en", "title_native", "synonyms",
    "description", "kind", "status", "year", "season", "genres", "episodes_total", "poster",
    "score", "anilist_id", "mal_id", "hianime_id", "created_at", "updated_at",
]  # fmt: skip
RELEASE_KEYS = [
    "id", "anime_id", "title", "kind", "season_number", "year", "status", "episodes_total",
    "created_at",
]  # fmt: skip
EPISODE_KEYS = [
    "id", "release_id", "number", "title", "duration_seconds", "air_date", "hianime_episode_id",
]  # fmt: skip
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
# An expired, wrongly signed token: public routes must not even look at it.
STALE_TOKEN = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjoxfQ.c2lnbmF0dXJl"


async def all_anime(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await client.get("/anime", params={**params, "limit": 100, "offset": offset})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page
        if "link" not in response.headers:
            return items
        offset += 100


async def anime_by_slug(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    for item in await all_anime(client):
        if item["slug"] == slug:
            return item
    raise AssertionError(slug)


async def test_anime_list_shape_and_default_order(client: httpx.AsyncClient) -> None:
    response = await client.get("/anime")
    assert response.status_code == 200
    items = response.json()
    assert isinstance(items, list)
    assert len(items) == 20
    assert all(list(item) == ANIME_KEYS for item in items)
    total = int(response.headers["x-total-count"])
    assert total == 66
    first = items[0]
    assert str(uuid.UUID(first["id"])) == first["id"]
    assert first["created_at"].endswith("Z")
    assert isinstance(first["score"], float)
    keys = [(item["created_at"], item["id"]) for item in await all_anime(client)]
    # Newest first, ties broken by id in the same direction.
    assert keys == sorted(keys, key=lambda key: (_ts(key[0]), key[1]), reverse=True)


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_paging_headers_last_page_and_past_the_end(client: httpx.AsyncClient) -> None:
    first = await client.get("/anime", params={"limit": 25})
    assert first.headers["x-total-count"] == "66"
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    assert "limit=25" in link
    assert "offset=25" in link
    last = await client.get("/anime", params={"limit": 25, "offset": 50})
    assert len(last.json()) == 16
    assert "link" not in last.headers
    assert last.headers["x-total-count"] == "66"
    past = await client.get("/anime", params={"offset": 500})
    assert past.status_code == 200
    assert past.json() == []
    assert past.headers["x-total-count"] == "66"
    ids = [item["id"] for item in await all_anime(client, sort="title")]
    assert len(ids) == len(set(ids)) == 66


@pytest.mark.parametrize(
    ("path", "params"), [("/anime", {}), ("/releases", {}), ("/search/anime", {"q": "naruto"})]
)
async def test_an_offset_past_the_bound_is_a_422_naming_it(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params={**params, "offset": "9223372036854775808"})
    assert response.status_code == 422
    assert [item["field"] for item in response.json()["details"]] == ["offset"]


async def test_a_nul_in_a_query_parameter_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/anime", params={"genre": "\x00"})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "genre"


SORT_KEYS: dict[str, tuple[Any, bool]] = {
    "-created_at": (lambda item: (_ts(item["created_at"]), item["id"]), True),
    "-score": (lambda item: (item["score"] if item["score"] is not None else -1, item["id"]), True),
    "-year": (lambda item: (item["year"] or 0, item["id"]), True),
    "title": (lambda item: (item["title"].encode(), item["id"]), False),
}


@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
async def test_sorts(client: httpx.AsyncClient, sort: str) -> None:
    key, descending = SORT_KEYS[sort]
    items = await all_anime(client, sort=sort)
    assert len(items) == 66
    assert items == sorted(items, key=key, reverse=descending)


@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
async def test_deep_pages_seek_from_anchors(demo_url: str, sort: str) -> None:
    """With anchors every 7 rows, every page equals the same slice of the whole list."""
    key, descending = SORT_KEYS[sort]
    app = create_app(catalog_settings(demo_url))
    async with serve_asgi(app) as small_steps:
        service_state(app, CatalogState).anchor_step = 7
        expected = sorted(await all_anime(small_steps, sort=sort), key=key, reverse=descending)
        for genre in (None, "drama"):
            wanted = [item for item in expected if genre is None or genre in item["genres"]]
            for offset in range(0, len(wanted) + 3, 5):
                params: dict[str, Any] = {"sort": sort, "limit": 5, "offset": offset}
                if genre:
                    params["genre"] = genre
                page = await small_steps.get("/anime", params=params)
                assert page.json() == wanted[offset : offset + 5], (genre, offset)
                assert page.headers["x-total-count"] == str(len(wanted))


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"genre": "sports"}, lambda item: "sports" in item["genres"]),
        ({"genre": "Slice of Life"}, lambda item: "slice of life" in item["genres"]),
        ({"year": 2016}, lambda item: item["year"] == 2016),
        ({"status": "ongoing"}, lambda item: item["status"] == "ongoing"),
        ({"kind": "movie"}, lambda item: item["kind"] == "movie"),
        ({"kind": "tv", "year": 2022, "genre": "comedy"},
         lambda item: item["kind"] == "tv" and item["year"] == 2022 and "comedy" in item["genres"]),
    ],
)  # fmt: skip
async def test_filters(client: httpx.AsyncClient, params: dict[str, Any], check: Any) -> None:
    response = await client.get("/anime", params={**params, "limit": 100})
    items = response.json()
    assert items
    assert all(check(item) for item in items)
    assert int(response.headers["x-total-count"]) == len(items)
    everything = await all_anime(client)
    assert len(items) == sum(1 for item in everything if check(item))


async def test_filter_matching_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/anime", params={"genre": "cooking", "year": 1900})
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"
    assert "link" not in response.headers


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/anime", {"limit": 0}, "limit"),
        ("/anime", {"limit": 101}, "limit"),
        ("/anime", {"limit": "x"}, "limit"),
        ("/anime", {"offset": -1}, "offset"),
        ("/anime", {"sort": "score"}, "sort"),
        ("/anime", {"status": "finished"}, "status"),
        ("/anime", {"kind": "series"}, "kind"),
        ("/anime", {"year": "new"}, "year"),
        ("/releases", {"anime_id": "nope"}, "anime_id"),
        ("/episodes", {}, "release_id"),
        ("/episodes", {"release_id": "12"}, "release_id"),
        ("/search/anime", {}, "q"),
        ("/search/anime", {"q": " a "}, "q"),
        ("/search/anime", {"q": "naruto", "limit": 1000}, "limit"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], field: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in body["details"]] == [field]


async def test_one_anime_and_404s(client: httpx.AsyncClient) -> None:
    one_piece = await anime_by_slug(client, "one-piece-100")
    response = await client.get(f"/anime/{one_piece['id']}")
    assert response.status_code == 200
    assert response.json() == one_piece
    assert one_piece["title"] == "Ван-Пис"
    assert one_piece["title_original"] == "One Piece"
    assert one_piece["hianime_id"] == "one-piece-100"
    assert one_piece["description"] is None
    upper = await client.get(f"/anime/{one_piece['id'].upper()}")
    assert upper.json()["id"] == one_piece["id"]
    for path in (f"/anime/{UNKNOWN_ID}", "/anime/not-a-uuid", "/anime/123",
                 f"/releases/{UNKNOWN_ID}", "/releases/nope"):  # fmt: skip
        missing = await client.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["code"] == "NOT_FOUND"
    assert (await client.get("/anime/nope")).json()["message"] == "Anime not found"


async def test_releases_and_episodes(client: httpx.AsyncClient) -> None:
    titan = await anime_by_slug(client, "attack-on-titan-112")
    response = await client.get("/releases", params={"anime_id": titan["id"]})
    releases = response.json()
    assert response.headers["x-total-count"] == "4"
    assert [release["season_number"] for release in releases] == [1, 2, 3, 4]
    assert all(list(release) == RELEASE_KEYS for release in releases)
    assert all(release["anime_id"] == titan["id"] for release in releases)
    one = await client.get(f"/releases/{releases[0]['id']}")
    assert one.json() == releases[0]

    everything = await client.get("/releases", params={"limit": 5})
    assert int(everything.headers["x-total-count"]) > 66
    assert len(everything.json()) == 5

    first_season = releases[0]
    # Without `limit`, the whole list: the frontend never reads paging headers.
    episodes = await client.get("/episodes", params={"release_id": first_season["id"]})
    assert episodes.headers["x-total-count"] == "25"
    assert "link" not in episodes.headers
    assert [episode["number"] for episode in episodes.json()] == list(range(1, 26))
    paged = await client.get("/episodes", params={"release_id": first_season["id"], "limit": 20})
    assert paged.headers["x-total-count"] == "25"
    assert 'offset=20>; rel="next"' in paged.headers["link"]
    page = paged.json()
    assert [episode["number"] for episode in page] == list(range(1, 21))
    assert all(list(episode) == EPISODE_KEYS for episode in page)
    assert page[0]["duration_seconds"] == 1440
    assert page[0]["hianime_episode_id"] == "attack-on-titan-112?ep=1"
    rest = await client.get(
        "/episodes", params={"release_id": first_season["id"], "offset": 20, "limit": 20}
    )
    assert [episode["number"] for episode in rest.json()] == list(range(21, 26))
    unknown = await client.get("/episodes", params={"release_id": UNKNOWN_ID})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Release not found"
    none_for_unknown_anime = await client.get("/releases", params={"anime_id": UNKNOWN_ID})
    assert none_for_unknown_anime.json() == []


async def test_etag_and_304(client: httpx.AsyncClient) -> None:
    one_piece = await anime_by_slug(client, "one-piece-100")
    for path, params in (("/anime", {"limit": 5}), (f"/anime/{one_piece['id']}", {}),
                         ("/search/anime", {"q": "naruto"}), ("/releases", {})):  # fmt: skip
        first = await client.get(path, params=params)
        etag = first.headers["etag"]
        assert etag.startswith('"')
        assert first.headers["cache-control"] == "public, no-cache"
        again = await client.get(path, params=params, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        weak = await client.get(path, params=params, headers={"If-None-Match": f'"x", W/{etag}'})
        assert weak.status_code == 304
        star = await client.get(path, params=params, headers={"If-None-Match": "*"})
        assert star.status_code == 304
        other = await client.get(path, params=params, headers={"If-None-Match": '"other"'})
        assert other.status_code == 200
    different = await client.get("/anime", params={"limit": 6})
    assert (
        different.headers["etag"]
        != (await client.get("/anime", params={"limit": 5})).headers["etag"]
    )


async def test_errors_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/anime/{UNKNOWN_ID}")
    assert "etag" not in response.headers


async def test_trailing_slashes_and_stale_authorization(client: httpx.AsyncClient) -> None:
    one_piece = await anime_by_slug(client, "one-piece-100")
    release = (await client.get("/releases", params={"anime_id": one_piece["id"]})).json()[0]
    paths = [
        ("/anime", {}),
        (f"/anime/{one_piece['id']}", {}),
        ("/releases", {"anime_id": one_piece["id"]}),
        (f"/releases/{release['id']}", {}),
        ("/episodes", {"release_id": release["id"]}),
        ("/search/anime", {"q": "one piece"}),
    ]
    for path, params in paths:
        plain = await client.get(path, params=params)
        slashed = await client.get(path + "/", params=params)
        stale = await client.get(path, params=params, headers={"Authorization": STALE_TOKEN})
        garbage = await client.get(path, params=params, headers={"Authorization": "Basic x"})
        for response in (plain, slashed, stale, garbage):
            assert response.status_code == 200, (path, response.text)
            assert response.json() == plain.json()


async def test_head_and_wrong_method(client: httpx.AsyncClient) -> None:
    head = await client.head("/anime")
    assert head.status_code == 200
    assert head.headers["x-total-count"] == "66"
    post = await client.post("/anime", json={})
    assert post.status_code == 405


async def test_openapi_documents_the_catalog(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path in ("/anime", "/anime/{id}", "/releases", "/releases/{id}", "/episodes",
                 "/search/anime", "/internal/anime"):  # fmt: skip
        assert path in document["paths"], path
    parameters = {p["name"] for p in document["paths"]["/anime"]["get"]["parameters"]}
    assert {"limit", "offset", "genre", "year", "status", "kind", "sort"} <= parameters
