"""Fake upstreams for tests and offline runs: aniwatch-api, AniList and an HLS CDN, failures
on demand."""

from anime_fakes.anilist import create_anilist_app
from anime_fakes.aniwatch import create_aniwatch_app
from anime_fakes.faults import FakeState, Fault
from anime_fakes.hls import CdnStats, create_hls_app
from anime_fakes.server import RunningFake, serve_in_thread

__all__ = [
    "CdnStats",
    "FakeState",
    "Fault",
    "RunningFake",
    "create_anilist_app",
    "create_aniwatch_app",
    "create_hls_app",
    "serve_in_thread",
]
