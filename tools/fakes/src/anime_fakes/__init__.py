"""Fake upstreams for tests and offline runs: aniwatch-api and AniList, failures on demand."""

from anime_fakes.anilist import create_anilist_app
from anime_fakes.aniwatch import create_aniwatch_app
from anime_fakes.faults import FakeState, Fault
from anime_fakes.server import RunningFake, serve_in_thread

__all__ = [
    "FakeState",
    "Fault",
    "RunningFake",
    "create_anilist_app",
    "create_aniwatch_app",
    "serve_in_thread",
]
