"""`/internal/hianime/anime/{id}`: what the catalog imports, checked against its own schema."""

from __future__ import annotations

import uuid

import httpx
import pytest

from anime_catalog.schemas import AnimeIn
from anime_common import TokenVerifier
from anime_fakes import RunningFake

pytestmark = pytest.mark.anyio
PATH = "/internal/hianime/anime/{}"


def service_headers(verifier: TokenVerifier) -> dict[str, str]:
    return {"Authorization": f"Bearer {verifier.issue_service_token('catalog')}"}


async def test_an_anime_as_the_catalog_wants_it(
    proxy: httpx.AsyncClient, verifier: TokenVerifier
) -> None:
    response = await proxy.get(
        PATH.format("frieren-beyond-journeys-end-18542"), headers=service_headers(verifier)
    )
    assert response.status_code == 200, response.text
    anime = AnimeIn.model_validate(response.json())
    assert anime.hianime_id == "frieren-beyond-journeys-end-18542"
    assert (anime.anilist_id, anime.mal_id, anime.year, anime.kind) == (154587, 52991, 2023, "tv")
    assert anime.status == "released"
    assert anime.genres == ["Adventure", "Drama", "Fantasy"]
    assert anime.releases is not None
    episodes = anime.releases[0].episodes or []
    assert len(episodes) == 28
    assert episodes[3].hianime_episode_id == "frieren-beyond-journeys-end-18542?ep=4"


async def test_ids_the_upstream_lacks_stay_null(
    proxy: httpx.AsyncClient, verifier: TokenVerifier
) -> None:
    response = await proxy.get(PATH.format("mystery-show-999"), headers=service_headers(verifier))
    anime = AnimeIn.model_validate(response.json())
    assert (anime.anilist_id, anime.mal_id) == (None, None)


async def test_unknown_and_invalid_ids_are_404(
    proxy: httpx.AsyncClient, verifier: TokenVerifier, aniwatch: RunningFake
) -> None:
    headers = service_headers(verifier)
    assert (await proxy.get(PATH.format("no-such-anime-1"), headers=headers)).status_code == 404
    assert (await proxy.get(PATH.format("Bad..Id"), headers=headers)).status_code == 404
    assert aniwatch.total == 1


async def test_it_needs_a_service_token(proxy: httpx.AsyncClient, verifier: TokenVerifier) -> None:
    assert (await proxy.get(PATH.format("one-piece-100"))).status_code == 401
    user = verifier.issue(
        subject=str(uuid.uuid4()),
        permissions=["read:content"],
        expires_in=60,
        session_id=str(uuid.uuid4()),
    )
    response = await proxy.get(
        PATH.format("one-piece-100"), headers={"Authorization": f"Bearer {user}"}
    )
    assert response.status_code == 403
