"""Internal routes: service token, upserts, batch lookups, HiAnime ids and imports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from anime_catalog.proxy_client import ProxyImporter
from anime_catalog.schemas import AnimeIn
from anime_catalog.state import KeyedLocks
from anime_common import TokenVerifier
from anime_devstack.assertions import assert_envelope

from .conftest import catalog_settings, make_client, service_token

pytestmark = pytest.mark.anyio

INTERNAL = {"Authorization": f"Bearer {service_token()}"}


def frieren(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "title": "Провожающая в последний путь Фрирен",
        "title_en": "Frieren: Beyond Journey's End",
        "title_original": "Sousou no Frieren",
        "title_native": "葬送のフリーレン",
        "synonyms": ["Фрирен"],
        "kind": "tv",
        "status": "released",
        "year": 2023,
        "season": "fall",
        "genres": ["adventure", "drama", "fantasy"],
        "episodes_total": 28,
        "score": 9.3,
        "anilist_id": 154587,
        "releases": [
            {
                "title": "Frieren",
                "season_number": 1,
                "episodes": [
                    {"number": n, "duration_seconds": 1440, "hianime_episode_id": f"fr?ep={n}"}
                    for n in (1, 2)
                ],
            }
        ],
    }
    return {**document, **changes}


@pytest.fixture
async def fresh(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in make_client(database_url):
        yield client


async def test_internal_routes_need_a_service_token(fresh: httpx.AsyncClient) -> None:
    user_token = service_token(permissions=("read:content",))
    for method, path in (
        ("POST", "/internal/anime"),
        ("POST", "/internal/anime/batch"),
        ("POST", "/internal/anime/by-external-ids"),
        ("POST", "/internal/episodes/batch"),
        ("GET", f"/internal/episodes/{uuid.uuid4()}/hianime"),
        ("GET", "/internal/hianime/one-piece-100"),
    ):
        missing = await fresh.request(method, path, json={})
        assert missing.status_code == 401, path
        denied = await fresh.request(
            method, path, json={}, headers={"Authorization": f"Bearer {user_token}"}
        )
        assert denied.status_code == 403, path


async def test_upsert_creates_then_updates(fresh: httpx.AsyncClient) -> None:
    created = await fresh.post("/internal/anime", json=frieren(), headers=INTERNAL)
    assert created.status_code == 201, created.text
    anime = created.json()
    assert anime["slug"] == "frieren-beyond-journey-s-end-154587"
    assert anime["score"] == 9.3
    assert anime["hianime_id"] is None

    # The same AniList id again, now with a HiAnime id and one more episode.
    more = frieren(hianime_id="frieren-beyond-journeys-end-18542", score=9.2, description=None)
    more["releases"][0]["episodes"].append({"number": 3, "duration_seconds": 1440})
    updated = await fresh.post("/internal/anime", json=more, headers=INTERNAL)
    assert updated.status_code == 200
    assert updated.json()["id"] == anime["id"]
    assert updated.json()["hianime_id"] == "frieren-beyond-journeys-end-18542"
    assert updated.json()["score"] == 9.2
    assert updated.json()["updated_at"] >= anime["updated_at"]

    # Keyed by HiAnime id only: still the same anime.
    by_hianime = frieren(anilist_id=None, hianime_id="frieren-beyond-journeys-end-18542")
    again = await fresh.post("/internal/anime", json=by_hianime, headers=INTERNAL)
    assert again.status_code == 200
    assert again.json()["anilist_id"] == 154587  # not erased by an import that lacks it

    listing = await fresh.get("/anime")
    assert listing.headers["x-total-count"] == "1"
    releases = (await fresh.get("/releases", params={"anime_id": anime["id"]})).json()
    assert len(releases) == 1
    episodes = await fresh.get("/episodes", params={"release_id": releases[0]["id"]})
    assert [episode["number"] for episode in episodes.json()] == [1, 2, 3]
    found = await fresh.get("/search/anime", params={"q": "фрирен"})
    assert [item["id"] for item in found.json()] == [anime["id"]]


async def test_upsert_validation(fresh: httpx.AsyncClient) -> None:
    no_key = await fresh.post("/internal/anime", json=frieren(anilist_id=None), headers=INTERNAL)
    assert no_key.status_code == 422
    bad_kind = await fresh.post("/internal/anime", json=frieren(kind="series"), headers=INTERNAL)
    assert [d["field"] for d in bad_kind.json()["details"]] == ["kind"]
    not_json = await fresh.post("/internal/anime", content=b"{", headers=INTERNAL)
    assert not_json.status_code == 400
    hianime_only = frieren(anilist_id=None, hianime_id="frieren-1", releases=None)
    made = await fresh.post("/internal/anime", json=hianime_only, headers=INTERNAL)
    assert made.json()["slug"] == "frieren-1"


async def test_batch_lookups_and_hianime_episode(fresh: httpx.AsyncClient) -> None:
    anime = (await fresh.post("/internal/anime", json=frieren(), headers=INTERNAL)).json()
    unknown = str(uuid.uuid4())
    batch = await fresh.post(
        "/internal/anime/batch", json={"ids": [anime["id"], unknown]}, headers=INTERNAL
    )
    assert [item["id"] for item in batch.json()] == [anime["id"]]
    empty = await fresh.post("/internal/anime/batch", json={"ids": []}, headers=INTERNAL)
    assert empty.json() == []

    other = frieren(anilist_id=21, title="Ван-Пис", mal_id=21, hianime_id="one-piece-100",
                    releases=None)  # fmt: skip
    other_id = (await fresh.post("/internal/anime", json=other, headers=INTERNAL)).json()["id"]
    by_ids = await fresh.post(
        "/internal/anime/by-external-ids",
        json={"anilist_ids": [154587, 999], "mal_ids": [21, 998]},
        headers=INTERNAL,
    )
    assert sorted(item["id"] for item in by_ids.json()) == sorted([anime["id"], other_id])
    only_mal = await fresh.post(
        "/internal/anime/by-external-ids", json={"mal_ids": [21]}, headers=INTERNAL
    )
    assert [item["hianime_id"] for item in only_mal.json()] == ["one-piece-100"]
    nothing = await fresh.post("/internal/anime/by-external-ids", json={}, headers=INTERNAL)
    assert nothing.json() == []
    for bad in ({"anilist_ids": [0]}, {"mal_ids": ["x"]}, {"ids": []},
                {"anilist_ids": list(range(1, 502))}):  # fmt: skip
        refused = await fresh.post("/internal/anime/by-external-ids", json=bad, headers=INTERNAL)
        assert refused.status_code == 422, bad

    release = (await fresh.get("/releases", params={"anime_id": anime["id"]})).json()[0]
    episodes = (await fresh.get("/episodes", params={"release_id": release["id"]})).json()
    ids = [episode["id"] for episode in episodes]
    looked_up = await fresh.post("/internal/episodes/batch", json={"ids": ids}, headers=INTERNAL)
    assert sorted(item["id"] for item in looked_up.json()) == sorted(ids)
    assert all(item["anime_id"] == anime["id"] for item in looked_up.json())
    assert (
        await fresh.post("/internal/episodes/batch", json={"ids": []}, headers=INTERNAL)
    ).json() == []

    mapped = await fresh.get(f"/internal/episodes/{ids[0]}/hianime", headers=INTERNAL)
    assert mapped.json() == {"episode_id": ids[0], "hianime_episode_id": "fr?ep=1"}
    for missing in (unknown, "nope"):
        response = await fresh.get(f"/internal/episodes/{missing}/hianime", headers=INTERNAL)
        assert response.status_code == 404


class FakeImporter:
    """Counts fetches and answers slowly, so concurrent resolutions overlap."""

    def __init__(self, known: dict[str, AnimeIn]) -> None:
        self.known = known
        self.calls: list[str] = []

    async def fetch_hianime(self, hianime_id: str) -> AnimeIn | None:
        self.calls.append(hianime_id)
        await asyncio.sleep(0.05)
        return self.known.get(hianime_id)


async def test_resolve_imports_once_under_concurrency(database_url: str) -> None:
    importer = FakeImporter(
        {
            "frieren-beyond-journeys-end-18542": AnimeIn.model_validate(
                frieren(anilist_id=None, hianime_id="x-1")
            )
        }
    )
    async for client in make_client(database_url, importer=importer):
        path = "/internal/hianime/frieren-beyond-journeys-end-18542"
        responses = await asyncio.gather(*(client.get(path, headers=INTERNAL) for _ in range(8)))
        assert {response.status_code for response in responses} == {200}
        assert len({response.json()["id"] for response in responses}) == 1
        assert responses[0].json()["hianime_id"] == "frieren-beyond-journeys-end-18542"
        assert importer.calls == ["frieren-beyond-journeys-end-18542"]
        assert (await client.get("/anime")).headers["x-total-count"] == "1"

        known = await client.get(path, headers=INTERNAL)
        assert known.json()["id"] == responses[0].json()["id"]
        assert len(importer.calls) == 1

        unknown = await client.get("/internal/hianime/nobody-knows-1", headers=INTERNAL)
        assert unknown.status_code == 404
        malformed = await client.get("/internal/hianime/Not_An_Id", headers=INTERNAL)
        assert malformed.status_code == 404
        assert importer.calls == ["frieren-beyond-journeys-end-18542", "nobody-knows-1"]


async def test_resolve_without_importer_is_404(fresh: httpx.AsyncClient) -> None:
    response = await fresh.get("/internal/hianime/one-piece-100", headers=INTERNAL)
    assert response.status_code == 404


async def test_keyed_locks_are_dropped_when_free() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with locks.hold("k"):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(hold("a"), hold("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(locks) == 0


def _proxy(handler: Any) -> ProxyImporter:
    settings = catalog_settings("postgresql://unused/db")
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ProxyImporter(client=client, base_url="http://proxy/", verifier=TokenVerifier(settings))


async def test_proxy_importer_contract() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/known-1"):
            return httpx.Response(200, json=frieren(anilist_id=None, hianime_id="known-1"))
        if request.url.path.endswith("/broken-1"):
            return httpx.Response(200, json={"title": ""})
        if request.url.path.endswith("/down-1"):
            return httpx.Response(503)
        if request.url.path.endswith("/slow-1"):
            raise httpx.ReadTimeout("slow", request=request)
        if request.url.path.endswith("/gone-1"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(404)

    importer = _proxy(answer)
    found = await importer.fetch_hianime("known-1")
    assert found is not None
    assert found.title_en == "Frieren: Beyond Journey's End"
    assert seen[0].url == "http://proxy/internal/hianime/anime/known-1"
    token = seen[0].headers["authorization"].removeprefix("Bearer ")
    principal = TokenVerifier(catalog_settings("postgresql://unused/db")).decode(token)
    assert principal.subject == "service:catalog"
    assert "internal" in principal.permissions
    assert await importer.fetch_hianime("unknown-1") is None
    for hianime_id, status in (
        ("broken-1", 502),
        ("down-1", 503),
        ("slow-1", 504),
        ("gone-1", 503),
    ):
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the status is what matters
            await importer.fetch_hianime(hianime_id)
        assert getattr(raised.value, "status_code", None) == status


async def test_upsert_conflicts_and_kept_titles(fresh: httpx.AsyncClient) -> None:
    first = frieren(hianime_id="frieren-1", releases=None)
    await fresh.post("/internal/anime", json=first, headers=INTERNAL)
    other = frieren(
        anilist_id=None, hianime_id="other-2", title="Другое", title_native="別", releases=None
    )
    await fresh.post("/internal/anime", json=other, headers=INTERNAL)
    clash = await fresh.post(
        "/internal/anime", json=frieren(hianime_id="other-2", releases=None), headers=INTERNAL
    )
    assert_envelope(clash, 409, "CONFLICT_ERROR")

    # An update that does not know the native title keeps it, in the search too.
    thin = frieren(hianime_id="frieren-1", title_native=None, synonyms=[], releases=None)
    assert (await fresh.post("/internal/anime", json=thin, headers=INTERNAL)).status_code == 200
    found = await fresh.get("/search/anime", params={"q": "葬送のフリーレン"})
    assert [item["hianime_id"] for item in found.json()] == ["frieren-1"]
    assert found.json()[0]["synonyms"] == ["Фрирен"]
