"""ServiceClient against real local servers: each way a peer fails, and the envelope it maps to."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from anime_common import (
    PeerAnswerError,
    PeerTimeoutError,
    PeerUnavailableError,
    ServiceClient,
    TokenVerifier,
)
from anime_common._request_id import REQUEST_ID_HEADER, request_id_var
from anime_fakes import serve_in_thread

from .apps import make_settings

pytestmark = pytest.mark.anyio

VERIFIER = TokenVerifier(make_settings())


class Peer:
    """What the peer saw: one entry per request that reached it."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.release = asyncio.Event()

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            self.seen.append(request)
            return JSONResponse(
                {
                    "authorization": request.headers.get("authorization"),
                    "request_id": request.headers.get(REQUEST_ID_HEADER),
                }
            )

        async def fail(request: Request) -> Response:
            self.seen.append(request)
            return JSONResponse({"code": "INTERNAL_ERROR", "message": "x", "details": None}, 500)

        async def relay(request: Request) -> Response:
            # A peer whose own peer is down, saying so in its envelope.
            self.seen.append(request)
            body = {"code": "X", "message": "x", "details": {"service": "anime source"}}
            return JSONResponse(body, 503)

        async def slow(request: Request) -> Response:
            self.seen.append(request)
            await asyncio.sleep(5)
            return Response()

        async def garbage(request: Request) -> Response:
            return Response(b"<html>", media_type="text/html")

        return Starlette(
            routes=[
                Route("/echo", echo, methods=["GET", "POST", "PUT"]),
                Route("/fail", fail, methods=["GET", "POST"]),
                Route("/relay", relay),
                Route("/slow", slow, methods=["GET", "PUT"]),
                Route("/garbage", garbage),
            ]
        )


@pytest.fixture
def peer() -> Iterator[tuple[Peer, str]]:
    state = Peer()
    with serve_in_thread(state.app()) as url:
        yield state, url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _client(http: httpx.AsyncClient, base_url: str, **kwargs: object) -> ServiceClient:
    return ServiceClient(
        http=http,
        base_url=base_url,
        service="catalog",
        caller="library",
        verifier=VERIFIER,
        timeout=httpx.Timeout(0.3, connect=0.3),
        **kwargs,  # type: ignore[arg-type]
    )


def _closed_port() -> int:
    """A local port with nobody listening: a connection is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_signs_as_the_caller_and_passes_the_request_id_on(
    peer: tuple[Peer, str], http: httpx.AsyncClient
) -> None:
    _, url = peer
    token = request_id_var.set("req-123")
    try:
        response = await _client(http, url + "/").get("/echo")
    finally:
        request_id_var.reset(token)
    body = response.json()
    assert body["request_id"] == "req-123"
    principal = VERIFIER.decode(body["authorization"].removeprefix("Bearer "))
    assert principal.subject == "service:library"
    assert principal.is_service


async def test_a_refused_connection_is_a_503_naming_the_peer_after_one_retry(
    http: httpx.AsyncClient,
) -> None:
    client = _client(http, f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(PeerUnavailableError) as raised:
        await client.get("/echo")
    error = raised.value
    assert (error.status_code, error.code) == (503, "SERVICE_UNAVAILABLE")
    assert error.message == "The catalog is unavailable"
    assert error.headers == {"Retry-After": "5"}
    assert error.details == {"service": "catalog"}
    assert not error.may_have_applied  # nothing was sent


async def test_an_unresolvable_host_is_a_503(http: httpx.AsyncClient) -> None:
    with pytest.raises(PeerUnavailableError):
        await _client(http, "http://no-such-host.invalid").get("/echo")


async def test_a_5xx_is_a_503_and_is_not_retried(
    peer: tuple[Peer, str], http: httpx.AsyncClient
) -> None:
    state, url = peer
    with pytest.raises(PeerUnavailableError) as raised:
        await _client(http, url).get("/fail")
    assert raised.value.peer_status == 500
    assert raised.value.headers["Retry-After"] == "5"
    assert len(state.seen) == 1


async def test_a_peer_naming_its_own_missing_peer_is_passed_on(
    peer: tuple[Peer, str], http: httpx.AsyncClient
) -> None:
    _, url = peer
    with pytest.raises(PeerUnavailableError) as raised:
        await _client(http, url).get("/relay")
    assert raised.value.message == "The anime source is unavailable"
    assert raised.value.details == {"service": "anime source"}


async def test_silence_past_the_read_timeout_is_a_504_sent_once(
    peer: tuple[Peer, str], http: httpx.AsyncClient
) -> None:
    state, url = peer
    with pytest.raises(PeerTimeoutError) as raised:
        await _client(http, url).put("/slow")
    error = raised.value
    assert (error.status_code, error.code) == (504, "GATEWAY_TIMEOUT")
    assert error.message == "The catalog did not answer in time"
    assert error.may_have_applied
    # A slow peer is not asked twice, even for an idempotent method.
    assert len(state.seen) == 1


async def test_only_idempotent_requests_are_retried(http: httpx.AsyncClient) -> None:
    """A server that drops every connection once it has read the request."""
    accepted = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = _client(http, f"http://127.0.0.1:{port}", retries=2)
        for call, expected in (
            (client.get("/x"), 3),
            (client.put("/x", json={}), 3),
            (client.post("/x", json={}), 1),
            (client.post("/x", json={}, idempotent=True), 3),
        ):
            accepted = 0
            with pytest.raises(PeerUnavailableError) as raised:
                await call
            assert raised.value.may_have_applied  # sent, then the connection went away
            assert accepted == expected


async def test_answers_below_500_come_back_and_bad_bodies_are_a_502(
    peer: tuple[Peer, str], http: httpx.AsyncClient
) -> None:
    _, url = peer
    client = _client(http, url)
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    with pytest.raises(PeerAnswerError) as raised:
        client.json(await client.get("/garbage"))
    assert (raised.value.status_code, raised.value.message) == (
        502,
        "The catalog sent an invalid answer",
    )
    assert client.unexpected(missing).status_code == 502
