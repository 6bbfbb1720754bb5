"""The proxy's own Prometheus metrics (served with the common ones at /internal/metrics)."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from anime_proxy.breaker import CircuitBreaker

CACHE_LOOKUPS = Counter(
    "proxy_cache_lookups_total",
    "Answers by how the response cache served them: hit (fresh), miss (asked upstream), "
    "stale (upstream failed, an expired entry served) or bypass (cache off)",
    ["policy", "result"],
)

# For the stream proxy (`/m3u8-proxy`): bytes relayed to clients by kind of
# resource (playlist, segment, key, subtitle), and streams being relayed now.
STREAM_BYTES = Counter(
    "proxy_stream_bytes_total", "Bytes of HLS resources relayed to clients", ["kind"]
)
STREAMS_ACTIVE = Gauge("proxy_streams_active", "HLS responses being relayed right now")


class _BreakerCollector(Collector):
    """The state of every live circuit breaker, read when scraped: 1 for its current state."""

    def __init__(self) -> None:
        self._breakers: dict[str, weakref.ref[CircuitBreaker]] = {}

    def track(self, breaker: CircuitBreaker) -> None:
        self._breakers[breaker.name] = weakref.ref(breaker)

    def describe(self) -> Iterable[Metric]:
        yield self._family()

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for name, ref in sorted(self._breakers.items()):
            breaker = ref()
            if breaker is None:
                continue
            current = breaker.state
            for state in type(current):
                family.add_metric([name, state.value], 1.0 if state is current else 0.0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "proxy_breaker_state",
            "1 for the state each upstream's circuit breaker is in, 0 for the others",
            labels=["upstream", "state"],
        )


BREAKERS = _BreakerCollector()
REGISTRY.register(BREAKERS)
