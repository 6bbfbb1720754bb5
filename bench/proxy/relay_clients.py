"""Which HTTP client relays a segment cheapest: the stream proxy's httpx path against aiohttp.

    uv run --frozen --with aiohttp python bench/proxy/relay_clients.py [--duration 6]

A bare ASGI relay of the fake CDN's 20 MiB segment (`python -m anime_fakes hls`) under
uvicorn (uvloop, httptools, as `anime_common._serve` runs the services), one process per
variant, wrk at c=8 against it; then MiB/s and the CPU seconds per GiB the relay, the
fake and wrk spent. Variants: `httpx` (the proxy's client: `GuardedTransport`, 256 KiB
read-ahead, Starlette's StreamingResponse), `httpx-raw` (the same client, bodies sent
with ASGI `send` directly), `aiohttp` (llhttp in C, `read_bufsize` 128 KiB, ASGI `send`).
No address checks, limits or headers beyond what the fake needs: it measures the relay.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from starlette.responses import StreamingResponse
from stream import children_cpu, load_average, start_fake_cdn  # bench/proxy/stream.py

from anime_devstack.ports import free_ports
from anime_devstack.proc import cpu_seconds
from anime_devstack.stack import wait_for_ok
from anime_devstack.wrk import ensure_wrk, run_wrk
from anime_fakes.hls import REFERER
from anime_proxy.stream.addresses import AddressGuard
from anime_proxy.stream.network import GuardedBackend, GuardedTransport

SEGMENT = 20 * 1024 * 1024
GIB = 1024**3
HEADERS = {"Referer": REFERER, "Accept-Encoding": "identity"}
_clients: dict[str, Any] = {}


async def _start(variant: str) -> None:
    if variant.startswith("httpx"):
        guard = AddressGuard(allowed_networks=[ipaddress.ip_network("127.0.0.0/8")])
        transport = GuardedTransport(
            backend=GuardedBackend(guard=guard), limits=httpx.Limits(max_connections=512)
        )
        _clients["http"] = httpx.AsyncClient(transport=transport, trust_env=False)
    else:
        import aiohttp

        _clients["http"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512),
            auto_decompress=False,
            read_bufsize=128 * 1024,
        )


async def app(scope: Any, receive: Any, send: Any) -> None:
    """The relay the child process serves (`VARIANT`, `UPSTREAM` from the environment)."""
    variant, upstream = os.environ["VARIANT"], os.environ["UPSTREAM"]
    if scope["type"] == "lifespan":
        await receive()
        await _start(variant)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    http = _clients["http"]
    if variant.startswith("httpx"):
        response = await http.send(
            http.build_request("GET", upstream, headers=HEADERS), stream=True
        )
        chunks, close = response.aiter_raw(), response.aclose
    else:
        response = await http.get(upstream, headers=HEADERS, allow_redirects=False)
        chunks = response.content.iter_any()

        async def close() -> None:
            response.close()

    headers = {name: response.headers[name] for name in ("content-length", "content-type")}
    try:
        if variant == "httpx":
            await StreamingResponse(chunks, headers=headers)(scope, receive, send)
            return
        raw = [(name.encode(), value.encode()) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--variants", default="httpx,httpx-raw,aiohttp,httpx,httpx-raw,aiohttp")
    args = parser.parse_args()
    ensure_wrk()
    cdn_port, relay_port = free_ports(2)
    cdn = f"http://127.0.0.1:{cdn_port}"
    upstream = f"{cdn}/big/{SEGMENT}.ts"
    fake = start_fake_cdn(cdn_port)
    try:
        print(load_average())
        for variant in args.variants.split(","):
            relay = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
                 "relay_clients:app", "--port", str(relay_port), "--loop", "uvloop",
                 "--http", "httptools", "--log-level", "warning", "--no-access-log"],
                env={**os.environ, "VARIANT": variant, "UPSTREAM": upstream},
            )  # fmt: skip
            try:
                url = f"http://127.0.0.1:{relay_port}/"
                wait_for_ok(url)
                before = (cpu_seconds(relay.pid), cpu_seconds(fake.pid), children_cpu())
                run = run_wrk(url, concurrency=args.concurrency, seconds=args.duration, timeout=60)
                after = (cpu_seconds(relay.pid), cpu_seconds(fake.pid), children_cpu())
            finally:
                relay.terminate()
                relay.wait(timeout=20)
            gib = run.requests * SEGMENT / GIB
            relay_cpu, fake_cpu, wrk_cpu = (
                ((end or 0.0) - (start or 0.0)) / gib
                for start, end in zip(before, after, strict=True)
            )
            print(
                f"{variant:10} {gib * 1024 / run.seconds:6.0f} MiB/s; CPU s/GiB: relay"
                f" {relay_cpu:4.2f} fake {fake_cpu:4.2f} wrk {wrk_cpu:4.2f}",
                flush=True,
            )
        print(load_average())
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
