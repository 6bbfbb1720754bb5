"""The stream client's own network layer: address checks at connect time, and real flow control.

Every TCP connection the stream client opens goes through `connect_tcp` here: the host
is resolved and checked by the `AddressGuard`, and the connection is made to that very
address (so DNS cannot answer differently between the check and the connect, on the
first request or on any redirect hop).

Reading: anyio's stream protocol (httpx's default) pauses the socket between reads, but
while it reads, the event loop drains the socket as long as data keeps arriving (libuv
does up to 32 reads per wake-up): on a fast link that is megabytes per stream queued
in memory ahead of a slow client. This protocol stops reading as soon as `read_ahead`
bytes are waiting, and resumes when the consumer has taken them: memory per stream is
bounded by that, whatever the file's size and the client's speed.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import httpcore
import httpx

from anime_proxy.stream.addresses import AddressGuard

READ_AHEAD = 256 * 1024


class _FlowProtocol(asyncio.Protocol):
    def __init__(self, read_ahead: int) -> None:
        self.transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._read_ahead = read_ahead
        self._paused = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = False
        self.eof = False
        self._error: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()
        if self._buffered >= self._read_ahead and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._readable.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._error = exc
        self._readable.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    @property
    def has_news(self) -> bool:
        """Data, EOF or a close waiting: an idle keep-alive connection is no longer usable."""
        return bool(self._chunks) or self.eof or self.closed

    async def read(self, max_bytes: int) -> bytes:
        while not self._chunks:
            if self.eof or self.closed:
                if self._error is not None:
                    raise httpcore.ReadError(str(self._error))
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        # A chunk as the loop read it (at most its 256 KiB read size) is handed on whole, not
        # cut to httpcore's 64 KiB: every piece is a copy and one more trip through h11,
        # httpx, Starlette and the server (+30-50% throughput, bench/proxy).
        if len(chunk) > max(max_bytes, self._read_ahead):
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self._chunks.appendleft(rest)
        self._buffered -= len(chunk)
        if self._paused and self._buffered < self._read_ahead and self.transport:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def drained(self) -> None:
        if self.closed:
            raise httpcore.WriteError("connection closed")
        await self._writable.wait()


class _FlowStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _FlowProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's interface
        try:
            async with asyncio.timeout(timeout):
                return await self._protocol.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's interface
        if not buffer:
            return
        self._transport.write(buffer)
        try:
            async with asyncio.timeout(timeout):
                await self._protocol.drained()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc

    async def aclose(self) -> None:
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        assert transport is not None
        self._protocol.transport = transport
        return _FlowStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._protocol.has_news
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        return self._transport.get_extra_info(info)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard permits; streams with bounded read-ahead."""

    def __init__(self, *, guard: AddressGuard, read_ahead: int = READ_AHEAD) -> None:
        self._guard = guard
        self._read_ahead = read_ahead

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._guard.checked_address(host, port)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _FlowProtocol(self._read_ahead), host=address, port=port
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _FlowStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets for streams")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on `GuardedBackend` (httpx takes no network backend argument, so
    its connection pool is replaced by the same pool built on ours)."""

    def __init__(
        self,
        *,
        backend: GuardedBackend,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
