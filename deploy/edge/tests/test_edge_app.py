"""The error-page app answers every method with the envelope of the status in its path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from anime_edge import create_app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as c:
        yield c


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "NOT_FOUND"),
        (413, "PAYLOAD_TOO_LARGE"),
        (429, "RATE_LIMITED"),
        (502, "BAD_GATEWAY"),
        (504, "GATEWAY_TIMEOUT"),
    ],
)
async def test_status_page_is_the_envelope(
    client: httpx.AsyncClient, status: int, code: str
) -> None:
    response = await client.get(f"/{status}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "code": code,
        "message": response.json()["message"],
        "details": None,
    }
    assert response.json()["message"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_any_method_and_subpath(client: httpx.AsyncClient, method: str) -> None:
    # The catch-all router replaces the path but keeps the client's method.
    response = await client.request(method, "/404/some/unrouted/path")
    assert response.status_code == 404
    if method != "HEAD":
        assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.anyio
async def test_non_error_status_is_not_a_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/200")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.anyio
async def test_unknown_path_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {
        "code": "NOT_FOUND",
        "message": "Not found",
        "details": None,
    }


@pytest.mark.anyio
async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert (await client.post("/health")).json()["code"] == "METHOD_NOT_ALLOWED"


def test_main_serves_on_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from anime_edge import __main__ as entry

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    # Logging setup rewires the root logger; keep pytest's own handlers intact.
    monkeypatch.setattr(entry, "configure_logging", lambda **_: None)
    monkeypatch.setenv("HOST", "127.0.0.2")
    monkeypatch.setenv("PORT", "18123")
    entry.main()
    (args, kwargs), *_ = calls
    assert args == ("anime_edge.app:app",)
    assert kwargs["host"] == "127.0.0.2"
    assert kwargs["port"] == 18123


@pytest.mark.anyio
async def test_the_rate_limit_page_says_when_to_retry(client: httpx.AsyncClient) -> None:
    assert (await client.get("/429")).headers["retry-after"] == "1"
    assert "retry-after" not in (await client.get("/502")).headers
