"""Prometheus metrics: requests per route template, in-flight requests, database pools.

Every service serves them on its own port at `METRICS_PATH`, under `/internal`,
which the gateway never routes: Prometheus scrapes each process directly. The
text is the process's default registry, so a service's own metrics (defined at
module level with `prometheus_client`) appear there without more wiring.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/internal/metrics"

# A path that matched no route is counted under one label value: the label set
# stays bounded whatever paths clients (or scanners) try.
UNMATCHED_ROUTE = "(unmatched)"

# Seconds; from a cached read (~1 ms) to an argon2 login or a slow upstream.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template and status",
    ["service", "method", "route", "status"],
)
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request to the end of its response, by route template and status",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being answered right now", ["service"])


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Counts and times every HTTP request under the template of the route that took it.

    It sits inside the other middleware, next to the router, because the router
    records the matched route in the scope it is handed.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self._service = service
        self._in_flight = IN_FLIGHT.labels(service)
        # (method, route, status) -> the two label children: a dict lookup per
        # request instead of prometheus_client's label resolution.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._in_flight.dec()
            counter, histogram = self._series(scope["method"], _route_template(scope), status)
            counter.inc()
            histogram.observe(time.perf_counter() - started)

    def _series(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (self._service, method, route, str(status))
            children = (REQUESTS.labels(*labels), REQUEST_DURATION.labels(*labels))
            self._children[key] = children
        return children


async def metrics_endpoint(_: Request) -> Response:
    """The process's metrics in Prometheus' text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@dataclass(frozen=True, slots=True)
class PoolUsage:
    in_use: int
    idle: int
    max_size: int


class _PoolCollector(Collector):
    """Reads every tracked pool when scraped; a pool that was garbage-collected drops out."""

    def __init__(self) -> None:
        self._pools: dict[str, Callable[[], PoolUsage | None]] = {}

    def track(self, name: str, usage: Callable[[], PoolUsage | None]) -> None:
        self._pools[name] = usage

    def untrack(self, name: str) -> None:
        self._pools.pop(name, None)

    def collect(self) -> Iterable[Metric]:
        connections = GaugeMetricFamily(
            "db_pool_connections",
            "Database connections of a pool, in use or idle",
            labels=["pool", "state"],
        )
        limit = GaugeMetricFamily(
            "db_pool_max_connections", "The most connections a pool may open", labels=["pool"]
        )
        for name, read in sorted(self._pools.items()):
            usage = read()
            if usage is None:
                continue
            connections.add_metric([name, "in_use"], usage.in_use)
            connections.add_metric([name, "idle"], usage.idle)
            limit.add_metric([name], usage.max_size)
        yield connections
        yield limit


POOLS = _PoolCollector()
REGISTRY.register(POOLS)


def track_pool(name: str, owner: object, usage: Callable[[object], PoolUsage]) -> None:
    """Report `usage(owner)` as pool `name` while `owner` lives (weakly held)."""
    ref = weakref.ref(owner)

    def read() -> PoolUsage | None:
        current = ref()
        return None if current is None else usage(current)

    POOLS.track(name, read)
