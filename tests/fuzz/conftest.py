"""The stack the fuzz suite attacks: every service on a real PostgreSQL, with the fakes
of what lies outside our walls (aniwatch-api and AniList) as their upstreams."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

import pytest

from anime_devstack.config import SERVICE_NAMES, ServiceSpec, StackConfig, default_services
from anime_devstack.ports import free_ports
from anime_devstack.stack import Stack

FAKES = (
    ("hianime_fake", "aniwatch", "HIANIME_API_URL", "/health"),
    ("anilist_fake", "anilist", "ANILIST_API_URL", "/_fake/stats"),
)


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The five services (and the edge), seeded with the demo catalog, on free ports."""
    gateway, *ports = free_ports(len(SERVICE_NAMES) + 1 + len(FAKES))
    services = default_services(dict(zip(SERVICE_NAMES, ports, strict=False)))
    services += tuple(
        ServiceSpec(
            name=name,
            argv=(sys.executable, "-m", "anime_fakes", fake),
            port=port,
            url_env=url_env,
            health_path=health_path,
        )
        for (name, fake, url_env, health_path), port in zip(
            FAKES, ports[len(SERVICE_NAMES) :], strict=True
        )
    )
    config = StackConfig.for_tests(tmp_path_factory.mktemp("fuzz"), services=services)
    config = dataclasses.replace(config, gateway_port=gateway, seed_demo=True)
    with Stack(config) as stack:
        yield stack
