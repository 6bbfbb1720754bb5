"""Catalog episode UUIDs and the AniList import, with the AniList fake and a small fake
catalog that serves the catalog's internal contract (see `anime_proxy.catalog_client`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from anime_common import AppError, TokenVerifier
from anime_devstack.assertions import assert_envelope
from anime_fakes import Fault, RunningFake, serve_in_thread

pytestmark = pytest.mark.anyio

ProxyFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
KNOWN_EPISODE = uuid.UUID("11111111-1111-4111-8111-111111111111")
UNKNOWN_EPISODE = uuid.UUID("0b9d6c1e-3f4a-4e8b-9c2d-7a5e1f3b8d40")
EPISODE_WITHOUT_ID = uuid.UUID("22222222-2222-4222-8222-222222222222")
BAD_EPISODE = uuid.UUID("33333333-3333-4333-8333-333333333333")


@dataclass
class FakeCatalog:
    url: str = ""
    anime: dict[int, dict[str, Any]] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    callers: list[str] = field(default_factory=list)
    lookups: int = 0


def _catalog_app(catalog: FakeCatalog, verifier: TokenVerifier) -> Starlette:
    def check(request: Request) -> Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            principal = verifier.decode(token)
        except AppError:
            return JSONResponse({"code": "AUTH_ERROR"}, status_code=401)
        catalog.callers.append(principal.subject)
        if "internal" not in principal.permissions:
            return JSONResponse({"code": "PERMISSION_DENIED"}, status_code=403)
        return None

    async def hianime(request: Request) -> Response:
        if (denied := check(request)) is not None:
            return denied
        episode = uuid.UUID(request.path_params["id"])
        values = {KNOWN_EPISODE: "frieren-beyond-journeys-end-18542?ep=4", BAD_EPISODE: "../home"}
        if episode not in values:
            return JSONResponse({"code": "NOT_FOUND"}, status_code=404)
        return JSONResponse({"episode_id": str(episode), "hianime_episode_id": values[episode]})

    async def upsert(request: Request) -> Response:
        if (denied := check(request)) is not None:
            return denied
        body = await request.json()
        catalog.in_flight += 1
        catalog.most_in_flight = max(catalog.most_in_flight, catalog.in_flight)
        await asyncio.sleep(0.02)
        catalog.in_flight -= 1
        known = catalog.anime.get(body["anilist_id"])
        row = {**(known or {"id": str(uuid.uuid4())}), **body}
        catalog.anime[body["anilist_id"]] = row
        return JSONResponse(row, status_code=200 if known else 201)

    async def by_external_ids(request: Request) -> Response:
        if (denied := check(request)) is not None:
            return denied
        body = await request.json()
        catalog.lookups += 1
        anilist_ids, mal_ids = set(body["anilist_ids"]), set(body["mal_ids"])
        return JSONResponse(
            [
                row
                for row in catalog.anime.values()
                if row.get("anilist_id") in anilist_ids or row.get("mal_id") in mal_ids
            ]
        )

    return Starlette(
        routes=[
            Route("/internal/episodes/{id}/hianime", hianime, methods=["GET"]),
            Route("/internal/anime", upsert, methods=["POST"]),
            Route("/internal/anime/by-external-ids", by_external_ids, methods=["POST"]),
        ]
    )


@pytest.fixture
def catalog(verifier: TokenVerifier) -> Iterator[FakeCatalog]:
    fake = FakeCatalog()
    with serve_in_thread(_catalog_app(fake, verifier)) as url:
        fake.url = url
        yield fake


@pytest.fixture
async def client(
    make_proxy: ProxyFactory, catalog: FakeCatalog, anilist: RunningFake
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_proxy(
        CATALOG_SERVICE_URL=catalog.url, ANILIST_API_URL=anilist.url, IMPORT_CONCURRENCY=2
    ) as client:
        yield client


@pytest.fixture
def auth(verifier: TokenVerifier) -> dict[str, str]:
    token = verifier.issue(
        subject=str(uuid.uuid4()),
        permissions=["read:content"],
        expires_in=60,
        session_id=str(uuid.uuid4()),
    )
    return {"Authorization": f"Bearer {token}"}


def entry(
    anilist_id: int, *, english: str | None, romaji: str | None, mal: int | None = None
) -> dict[str, Any]:
    return {
        "status": None,
        "media": {
            "id": anilist_id,
            "idMal": mal,
            "title": {"romaji": romaji, "english": english, "native": None},
            "coverImage": {"large": f"https://anilist.example.test/{anilist_id}.jpg"},
        },
    }


def frontend_entry(anilist_id: int, *, mal: int | None) -> dict[str, Any]:
    """What the Kitsu frontend sends: `media { id idMal bannerImage title { english } }`."""
    return {
        "media": {"id": anilist_id, "idMal": mal, "bannerImage": None, "title": {"english": None}}
    }


# --- catalog episode UUIDs ---------------------------------------------------------------


async def test_a_catalog_episode_uuid_is_resolved_with_a_service_token(
    client: httpx.AsyncClient, aniwatch: RunningFake, catalog: FakeCatalog
) -> None:
    response = await client.get(
        "/api/episode/sources", params={"animeEpisodeId": str(KNOWN_EPISODE).upper()}
    )
    assert response.status_code == 200, response.text
    assert aniwatch.state.log[-1]["params"]["animeEpisodeId"] == (
        "frieren-beyond-journeys-end-18542?ep=4"
    )
    servers = await client.get(
        "/api/episode/servers", params={"animeEpisodeId": str(KNOWN_EPISODE)}
    )
    assert servers.json()["data"]["episodeId"] == "frieren-beyond-journeys-end-18542?ep=4"
    assert set(catalog.callers) == {"service:proxy"}


@pytest.mark.parametrize("episode", [UNKNOWN_EPISODE, EPISODE_WITHOUT_ID, BAD_EPISODE])
async def test_unknown_or_unusable_episode_uuids_are_404(
    client: httpx.AsyncClient, aniwatch: RunningFake, episode: uuid.UUID
) -> None:
    response = await client.get("/api/episode/sources", params={"animeEpisodeId": str(episode)})
    assert response.status_code == 404
    assert aniwatch.total == 0


async def test_without_a_catalog_a_uuid_is_503(make_proxy: ProxyFactory) -> None:
    async with make_proxy() as client:
        response = await client.get(
            "/api/episode/servers", params={"animeEpisodeId": str(KNOWN_EPISODE)}
        )
    assert response.status_code == 503


async def test_a_catalog_that_is_down_is_503_naming_it(make_proxy: ProxyFactory) -> None:
    async with make_proxy(CATALOG_SERVICE_URL="http://127.0.0.1:9") as client:
        response = await client.get(
            "/api/episode/servers", params={"animeEpisodeId": str(KNOWN_EPISODE)}
        )
    assert response.status_code == 503
    assert response.json()["message"] == "The catalog is unavailable"
    assert response.headers["Retry-After"] == "5"


# --- the AniList import ----------------------------------------------------------------


async def test_import_of_given_lists_with_matched_unmatched_and_known_entries(
    client: httpx.AsyncClient, catalog: FakeCatalog, anilist: RunningFake, auth: dict[str, str]
) -> None:
    known_id = str(uuid.uuid4())
    catalog.anime[21] = {"id": known_id, "anilist_id": 21, "title": "One Piece"}
    lists = [
        {
            "name": "Watching",
            "status": "CURRENT",
            "entries": [entry(16498, english="Attack on Titan", romaji="Shingeki no Kyojin")],
        },
        {
            "name": "Completed",
            "status": "COMPLETED",
            "entries": [
                entry(21, english="One Piece", romaji="One Piece", mal=21),
                entry(999001, english=None, romaji="Obscure Pilot"),
                # AniList's id is unknown upstream, MAL's agrees: still the right anime.
                entry(1, english="Sousou no Frieren", romaji="Sousou no Frieren", mal=52991),
            ],
        },
        {
            "name": "Rewatching",
            "status": "REPEATING",
            "entries": [entry(5555, english="Mystery Show", romaji="Nazo")],
        },
        {"name": "Paused", "status": "PAUSED", "entries": []},
    ]
    response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    imported = {item["id"]: item for item in body["animes"]}
    assert set(imported) == {
        "attack-on-titan-112",
        "one-piece-100",
        "frieren-beyond-journeys-end-18542",
        "mystery-show-999",
    }
    assert imported["attack-on-titan-112"]["status"] == "watching"
    assert imported["one-piece-100"] == {
        "id": "one-piece-100",
        "anime_id": known_id,
        "thumbnail": "https://anilist.example.test/21.jpg",
        "title": "One Piece",
        "status": "completed",
    }
    assert imported["mystery-show-999"]["status"] == "watching"
    assert body["unmatched"] == [
        {
            "anilist_id": 999001,
            "title": "Obscure Pilot",
            "status": "completed",
            "reason": "no HiAnime anime matches this entry",
        }
    ]
    stored = catalog.anime[16498]
    assert stored["hianime_id"] == "attack-on-titan-112"
    assert stored["title_original"] == "Shingeki no Kyojin"
    # What the lists lacked came from AniList, in one batched request.
    assert (stored["genres"], stored["year"], stored["episodes_total"]) == (
        ["Action", "Drama", "Fantasy"],
        2013,
        25,
    )
    assert stored["description"] == "Humanity lives behind walls."
    assert stored["kind"] == "tv"
    # The upstream's episode list came along, so the watch page has episodes to offer.
    [release] = stored["releases"]
    assert (release["season_number"], release["episodes_total"]) == (1, 25)
    assert [episode["hianime_episode_id"] for episode in release["episodes"]] == [
        f"attack-on-titan-112?ep={number}" for number in range(1, 26)
    ]
    assert anilist.count("/graphql") == 1
    assert catalog.most_in_flight <= 2


async def test_entries_with_only_ids_are_matched_in_the_catalog_without_the_upstream(
    client: httpx.AsyncClient, catalog: FakeCatalog, aniwatch: RunningFake, auth: dict[str, str]
) -> None:
    by_anilist, by_mal = str(uuid.uuid4()), str(uuid.uuid4())
    catalog.anime[16498] = {"id": by_anilist, "anilist_id": 16498, "mal_id": 16498,
                            "hianime_id": "attack-on-titan-112", "title": "Атака титанов",
                            "title_en": "Attack on Titan", "poster": "/p/aot.jpg"}  # fmt: skip
    # Held under another (older) AniList id: the MAL id is what places it.
    catalog.anime[-1] = {"id": by_mal, "anilist_id": None, "mal_id": 52991,
                         "hianime_id": "frieren-beyond-journeys-end-18542",
                         "title": "Провожающая в последний путь Фрирен"}  # fmt: skip
    lists = [
        {
            "name": "Watching",
            "status": "CURRENT",
            "entries": [frontend_entry(16498, mal=None), frontend_entry(777001, mal=52991)],
        }
    ]
    response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unmatched"] == []
    assert sorted(body["animes"], key=lambda item: item["id"]) == [
        {"id": "attack-on-titan-112", "anime_id": by_anilist,
         # The cover and English title came from AniList's details for the id.
         "thumbnail": "https://anilist.example.test/16498.jpg", "title": "Attack on Titan",
         "status": "watching"},
        {"id": "frieren-beyond-journeys-end-18542", "anime_id": by_mal, "thumbnail": None,
         "title": "Провожающая в последний путь Фрирен", "status": "watching"},
    ]  # fmt: skip
    assert aniwatch.total == 0
    assert catalog.lookups == 1


async def test_an_entry_with_only_a_romaji_title_is_matched_through_the_upstream(
    client: httpx.AsyncClient, catalog: FakeCatalog, anilist: RunningFake, auth: dict[str, str]
) -> None:
    anilist.state.add_fault(Fault(mode="500"))  # no completion: the entry is all there is
    lists = [{"status": "PLANNING",
              "entries": [entry(154587, english=None, romaji="Sousou no Frieren")]}]  # fmt: skip
    response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 200, response.text
    [imported] = response.json()["animes"]
    assert (imported["id"], imported["title"], imported["status"]) == (
        "frieren-beyond-journeys-end-18542",
        "Sousou no Frieren",
        "plan to watch",
    )
    assert catalog.anime[154587]["hianime_id"] == "frieren-beyond-journeys-end-18542"


async def test_a_catalog_anime_without_a_hianime_id_gets_one_or_keeps_its_uuid(
    client: httpx.AsyncClient, catalog: FakeCatalog, anilist: RunningFake, auth: dict[str, str]
) -> None:
    anilist.state.add_fault(Fault(mode="500"))
    placed, unplaced = str(uuid.uuid4()), str(uuid.uuid4())
    catalog.anime[21] = {"id": placed, "anilist_id": 21, "title": "Ван-Пис",
                         "title_en": "One Piece"}  # fmt: skip
    catalog.anime[424242] = {"id": unplaced, "anilist_id": 424242, "title": "Нигде нет"}
    entries = [frontend_entry(21, mal=None), frontend_entry(424242, mal=None)]
    lists = [{"status": "CURRENT", "entries": entries}]
    response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 200, response.text
    ids = {item["anime_id"]: item["id"] for item in response.json()["animes"]}
    assert ids == {placed: "one-piece-100", unplaced: unplaced}
    # Found through the catalog's own English title; its Russian main title stays.
    assert catalog.anime[21]["hianime_id"] == "one-piece-100"
    assert catalog.anime[21]["title"] == "Ван-Пис"


async def test_an_import_of_200_mixed_entries(
    client: httpx.AsyncClient, catalog: FakeCatalog, aniwatch: RunningFake, auth: dict[str, str]
) -> None:
    for number in range(1, 151):
        catalog.anime[100_000 + number] = {
            "id": str(uuid.uuid4()), "anilist_id": 100_000 + number, "mal_id": 200_000 + number,
            "hianime_id": f"known-show-{number}", "title": f"Known {number}",
        }  # fmt: skip
    entries = [frontend_entry(100_000 + number, mal=None) for number in range(1, 101)]
    entries += [frontend_entry(900_000 + n, mal=200_000 + n) for n in range(101, 151)]
    entries += [entry(16498, english=None, romaji="Shingeki no Kyojin")]
    entries += [entry(800_000 + number, english=None, romaji=f"Nothing {number}")
                for number in range(49)]  # fmt: skip
    lists = [{"status": "COMPLETED", "entries": entries}]
    response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["animes"]) == 151
    assert len(body["unmatched"]) == 49
    assert {item["id"] for item in body["animes"]} == {
        *(f"known-show-{number}" for number in range(1, 151)),
        "attack-on-titan-112",
    }
    assert catalog.lookups == 1
    # Only what the catalog lacked went upstream: one suggestion each, one detail for the match.
    assert aniwatch.total <= 50 + 3


async def test_import_of_given_lists_survives_anilist_being_down(
    client: httpx.AsyncClient, catalog: FakeCatalog, anilist: RunningFake, auth: dict[str, str]
) -> None:
    anilist.state.add_fault(Fault(mode="500"))
    lists = [{"status": "CURRENT", "entries": [entry(21, english="One Piece", romaji="One Piece")]}]
    response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["animes"]] == ["one-piece-100"]
    assert catalog.anime[21]["genres"] == []


async def test_import_by_username_from_anilist(
    client: httpx.AsyncClient, anilist: RunningFake, auth: dict[str, str]
) -> None:
    response = await client.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = {item["id"]: item["status"] for item in body["animes"]}
    assert statuses == {
        "attack-on-titan-112": "watching",
        "frieren-beyond-journeys-end-18542": "completed",
        "one-piece-100": "dropped",
        "attack-on-titan-season-2-3133": "on hold",
    }
    assert [item["status"] for item in body["unmatched"]] == ["plan to watch"]
    assert anilist.count("/graphql") == 1


async def test_import_needs_a_token_and_one_source(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.post("/api/import/anilist", json={"username": "demo"})).status_code == 401
    for body in ({}, {"username": "demo", "animes": []}, {"username": "no spaces allowed"}):
        response = await client.post("/api/import/anilist", json=body, headers=auth)
        assert response.status_code == 422, body


@pytest.mark.parametrize(
    ("field", "media"),
    [
        ("animes.0.entries.0.media.id", {"id": 2**31}),
        ("animes.0.entries.0.media.id", {"id": 163893200863056.0}),  # what the fuzzer sent
        ("animes.0.entries.0.media.idMal", {"id": 1, "idMal": 2**31}),
        ("animes.0.entries.0.media.episodes", {"id": 1, "episodes": 2**31}),
    ],
)
async def test_ids_and_counts_past_anilists_32_bits_are_refused_before_the_catalog(
    client: httpx.AsyncClient,
    catalog: FakeCatalog,
    auth: dict[str, str],
    field: str,
    media: dict[str, Any],
) -> None:
    body = {"animes": [{"entries": [{"media": media}]}]}
    response = await client.post("/api/import/anilist", json=body, headers=auth)
    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [item["field"] for item in error["details"]] == [field]
    assert catalog.lookups == 0


async def test_import_of_an_unknown_user_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/api/import/anilist", json={"username": "nobody"}, headers=auth)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("mode", "status"), [("403", 502), ("500", 502), ("errors", 502), ("html", 502)]
)
async def test_anilist_failures_are_translated(
    client: httpx.AsyncClient, anilist: RunningFake, auth: dict[str, str], mode: str, status: int
) -> None:
    anilist.state.add_fault(Fault(mode=mode))
    response = await client.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert response.status_code == status
    assert response.json()["code"] == "BAD_GATEWAY"


async def test_anilist_429_short_wait_is_waited_out_long_one_is_ours(
    client: httpx.AsyncClient, anilist: RunningFake, auth: dict[str, str]
) -> None:
    anilist.state.add_fault(Fault(mode="429", retry_after=1, times=1))
    ok = await client.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert ok.status_code == 200
    assert anilist.count("/graphql") == 2
    anilist.state.add_fault(Fault(mode="429", retry_after=600, times=1))
    limited = await client.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 599
    # Not hammered: the next import waits without asking AniList.
    again = await client.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert again.status_code == 429
    assert anilist.count("/graphql") == 3


async def test_the_longest_wait_inside_a_request_is_a_setting(
    make_proxy: ProxyFactory, catalog: FakeCatalog, anilist: RunningFake, auth: dict[str, str]
) -> None:
    anilist.state.add_fault(Fault(mode="429", retry_after=1, times=1))
    async with make_proxy(
        CATALOG_SERVICE_URL=catalog.url, ANILIST_API_URL=anilist.url, UPSTREAM_MAX_WAIT=0
    ) as client:
        limited = await client.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert anilist.count("/graphql") == 1


async def test_too_many_entries_are_refused(
    make_proxy: ProxyFactory, catalog: FakeCatalog, auth: dict[str, str]
) -> None:
    lists = [
        {
            "status": "CURRENT",
            "entries": [entry(i, english=f"T{i}", romaji="r") for i in range(1, 4)],
        }
    ]
    async with make_proxy(CATALOG_SERVICE_URL=catalog.url, IMPORT_MAX_ENTRIES=2) as client:
        response = await client.post("/api/import/anilist", json={"animes": lists}, headers=auth)
    assert response.status_code == 422


async def test_a_service_token_cannot_import(
    client: httpx.AsyncClient, verifier: TokenVerifier
) -> None:
    service = {"Authorization": f"Bearer {verifier.issue_service_token('catalog')}"}
    response = await client.post("/api/import/anilist", json={"username": "demo"}, headers=service)
    assert_envelope(response, 401, "AUTH_ERROR")
