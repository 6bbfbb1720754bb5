"""`python -m anime_<service>`: load settings, configure logs, run uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

import orjson
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from anime_common._errors import error_body
from anime_common._logging import configure_logging
from anime_common._settings import CommonSettings, SettingsError, load_settings

SettingsT = TypeVar("SettingsT", bound=CommonSettings)

# Young-generation collections every this many net allocations instead of 700:
# a request allocates hundreds of short-lived containers, so 700 meant a
# collection every few requests, a generation-1 one every few dozen and, as
# long-lived objects piled up (the library keeps finished jobs by the ten
# thousand), full collections of 50-130 ms in the middle of requests.
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Freeze what start-up created (modules, classes, the app) out of the collector's
    reach and collect less often. Measured on the library under load (bench/library):
    7 full collections (664 ms, up to 130 ms each) and 84 generation-1 ones in 30 s
    before; none after."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def lean_log_records() -> None:
    """Leave out of log records what no line of ours prints (Python's logging HOWTO,
    "Optimization"): the caller's file, line and function, found by walking the
    stack on every call, and thread and process names. The JSON lines are unchanged."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


# Past this many bytes waiting, a write goes out at once: the transport's own
# buffer limits, and so uvicorn's back-pressure, see it without delay.
COALESCE_LIMIT = 64 * 1024


class _CoalescingTransport:
    """Hands what one loop turn writes to the socket in one `writelines`.

    uvicorn writes a response's head and its body with two `transport.write`
    calls, so two send syscalls and two TCP segments per response, each read
    apart by Traefik. Measured on the library under load (bench/library): those
    two sends were ~18% of the service's CPU time.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._size += len(data)
        if self._size >= COALESCE_LIMIT:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending, self._size = self._pending, [], 0
        if not self._transport.is_closing():
            self._transport.writelines(pending)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response in one send (`_CoalescingTransport`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _CoalescingTransport(transport)))

    def send_400_response(self, msg: str) -> None:
        """A request the parser refuses gets the error envelope too, not uvicorn's plain text.

        Behind Traefik the edge refuses most such requests itself (with JSON), but
        each service is also reachable on its own port.
        """
        body = orjson.dumps(error_body(400, "Invalid HTTP request"))
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join([*head, body]))
        self.transport.close()


def run_service(
    build_app: Callable[[SettingsT], Starlette], settings_class: type[SettingsT]
) -> None:
    """Run one service in the foreground; a bad setting or failed start-up exits non-zero."""
    try:
        settings = load_settings(settings_class)
    except SettingsError as exc:
        sys.stderr.write(f"{settings_class.SERVICE_NAME}: {exc}\n")
        raise SystemExit(2) from None
    configure_logging(
        service=settings_class.SERVICE_NAME,
        level=settings.LOG_LEVEL,
        log_format=settings.LOG_FORMAT,
    )
    lean_log_records()
    app = build_app(settings)
    tune_gc()
    uvicorn.run(
        app,
        host=settings.HOST,
        port=settings.PORT,
        loop="uvloop",
        http=CoalescingHttpProtocol,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
        access_log=False,  # RequestContextMiddleware logs each request with its id
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=settings.SHUTDOWN_GRACE_SECONDS,
    )
