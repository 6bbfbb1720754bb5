"""The HTTP protocol every service runs: a response goes out in one send, and stays whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from anime_common._serve import COALESCE_LIMIT, CoalescingHttpProtocol, _CoalescingTransport
from anime_devstack.ports import free_port

pytestmark = pytest.mark.anyio


class RecordingTransport:
    """What reaches the socket: each call to the real transport's write methods."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.calls.append([data])

    def writelines(self, lines: list[bytes]) -> None:
        self.calls.append(list(lines))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


def coalescing() -> tuple[_CoalescingTransport, RecordingTransport]:
    real = RecordingTransport()
    return _CoalescingTransport(real), real  # type: ignore[arg-type]


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_what_one_loop_turn_writes_goes_out_in_one_call() -> None:
    transport, real = coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert real.calls == []
    await next_turn()
    assert real.calls == [[b"HTTP/1.1 200 OK\r\n\r\n", b"body"]]
    transport.write(b"next")
    await next_turn()
    assert real.calls[-1] == [b"next"]


async def test_a_large_write_goes_out_at_once_for_back_pressure() -> None:
    transport, real = coalescing()
    transport.write(b"head")
    transport.write(b"x" * COALESCE_LIMIT)
    assert real.calls == [[b"head", b"x" * COALESCE_LIMIT]]
    await next_turn()
    assert len(real.calls) == 1  # the scheduled flush found nothing left


async def test_close_sends_what_waits_and_abort_drops_it() -> None:
    transport, real = coalescing()
    transport.write(b"last")
    transport.close()
    assert real.calls == [[b"last"]]
    assert real.closed
    transport, real = coalescing()
    transport.write(b"dropped")
    transport.abort()
    await next_turn()
    assert real.calls == []
    assert real.aborted
    # Anything else is the real transport's.
    assert transport.get_write_buffer_size() == 0


async def test_nothing_is_written_to_a_transport_already_closing() -> None:
    transport, real = coalescing()
    transport.write(b"late")
    real.closed = True
    await next_turn()
    assert real.calls == []


async def _chunks() -> AsyncIterator[bytes]:
    for n in range(50):
        yield bytes([65 + n % 26]) * 40_000
        await asyncio.sleep(0)


async def _echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


APP = Starlette(
    routes=[
        Route("/small", lambda request: PlainTextResponse("hello")),
        Route("/echo", _echo, methods=["POST"]),
        Route("/stream", lambda request: StreamingResponse(_chunks())),
    ]
)


@pytest.fixture
async def served() -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        APP, host="127.0.0.1", port=port, http=CoalescingHttpProtocol, log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_responses_arrive_whole_over_one_kept_alive_connection(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, trust_env=False) as client:
        for _ in range(3):
            small = await client.get("/small")
            assert (small.status_code, small.text) == (200, "hello")
        big = b"0123456789" * 300_000
        echoed = await client.post("/echo", content=big)
        assert echoed.content == big
        streamed = await client.get("/stream")
        expected: Any = b"".join([chunk async for chunk in _chunks()])
        assert streamed.content == expected


async def test_pipelined_requests_are_answered_in_order(served: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write(request * 3)
    await writer.drain()
    received = b""
    async with asyncio.timeout(5):
        while received.count(b"hello") < 3:
            received += await reader.read(65536)
    assert received.count(b"HTTP/1.1 200 OK") == 3
    writer.close()
    await writer.wait_closed()


async def test_a_request_the_parser_refuses_gets_the_error_envelope(served: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /small HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        received = await reader.read()  # the server closes the connection after it
    writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"content-type: application/json" in head.split(b"\r\n")
    assert orjson.loads(body) == {
        "code": "VALIDATION_ERROR",  # every 400's code (anime_common.error_body)
        "message": "Invalid HTTP request",
        "details": None,
    }
