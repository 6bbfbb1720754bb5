"""What the metrics middleware costs per request, in one run: the same app and route,
the common middleware stack with and without `MetricsMiddleware`, called in-process
(no sockets, no server), alternating rounds so both see the same machine load, in
CPU time of the process.

    uv run python bench/metrics/run.py                # 20,000 requests per round, 5 rounds
    uv run python bench/metrics/run.py --requests 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message

from anime_common import JSONResponse
from anime_common._error_handlers import EXCEPTION_HANDLERS
from anime_common._metrics import MetricsMiddleware
from anime_common._middleware import RequestContextMiddleware, TrailingSlashMiddleware


async def anime(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["id"], "title": "Frieren"})


def build(*, metrics: bool) -> Starlette:
    middleware = [Middleware(RequestContextMiddleware), Middleware(TrailingSlashMiddleware)]
    if metrics:
        middleware.append(Middleware(MetricsMiddleware, service="bench"))
    return Starlette(
        routes=[Route("/anime/{id}", anime, methods=["GET"])],
        middleware=middleware,
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


async def round_seconds(app: Starlette, requests: int) -> float:
    # CPU time of this process: what a request costs, not what other processes take.
    started = time.process_time()
    for index in range(requests):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/anime/{index % 50}",
            "raw_path": f"/anime/{index % 50}".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8002),
        }
        await app(scope, _receive, _send)
    return time.process_time() - started


async def main(requests: int, rounds: int) -> None:
    import logging

    logging.getLogger("anime_common.access").disabled = True  # the same for both apps
    apps = {"without": build(metrics=False), "with": build(metrics=True)}
    for app in apps.values():
        await round_seconds(app, 1000)  # warm-up: imports, label children, caches
    per_request: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            per_request[name].append(await round_seconds(app, requests) / requests * 1e6)
    base = statistics.median(per_request["without"])
    cost = statistics.median(per_request["with"])
    print(f"requests per round: {requests}, rounds: {rounds}")
    for name, values in per_request.items():
        print(
            f"  {name:<8} metrics: median {statistics.median(values):6.1f} µs CPU/request "
            f"(rounds: {', '.join(f'{v:.1f}' for v in values)})"
        )
    print(f"  metrics middleware: +{cost - base:.1f} µs CPU/request ({cost / base:.3f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
