"""Metrics: each service on its own port, Traefik on its own entry point, none at the gateway."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from anime_devstack.assertions import assert_envelope
from anime_devstack.stack import Stack
from anime_e2e.fixtures import RunningStack

SERVICES = ("auth", "catalog", "library", "media", "proxy")
Key = tuple[str, frozenset[tuple[str, str]]]


def _samples(url: str) -> dict[Key, float]:
    response = httpx.get(url, timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_counts_a_request_made_through_the_gateway(
    stack: RunningStack, gateway: httpx.Client, service: str
) -> None:
    metrics_url = f"{stack.service_url(service)}/internal/metrics"
    key = (
        "http_requests_total",
        frozenset(
            {("service", service), ("method", "GET"), ("route", "/health"), ("status", "200")}
        ),
    )
    before = _samples(metrics_url).get(key, 0.0)
    assert gateway.get(f"/health/{service}").status_code == 200
    after = _samples(metrics_url)
    assert after[key] == before + 1
    assert ("http_requests_in_flight", frozenset({("service", service)})) in after


@pytest.mark.parametrize("path", ["/internal/metrics", "/metrics", "/internal/metrics/"])
def test_metrics_are_not_reachable_through_the_gateway(gateway: httpx.Client, path: str) -> None:
    response = gateway.get(path)
    assert_envelope(response, 404, "NOT_FOUND")
    assert "x-request-id" not in response.headers, "a service answered"


def test_traefik_serves_its_own_metrics(stack: RunningStack, gateway: httpx.Client) -> None:
    if not isinstance(stack, Stack) or stack.traefik_metrics_url is None:
        pytest.skip("Traefik's metrics port is known to the local-process stack only")
    assert gateway.get("/health").status_code == 200
    names = {name for name, _ in _samples(stack.traefik_metrics_url)}
    assert "traefik_entrypoint_requests_total" in names
    assert "traefik_router_requests_total" in names
