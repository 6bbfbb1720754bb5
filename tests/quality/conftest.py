"""The five services' apps as `python -m anime_<name>` builds them, for the checks that read
their real routing tables (no lifespan runs: routes and OpenAPI need no database)."""

from __future__ import annotations

import importlib

import pytest
from starlette.applications import Starlette

from anime_common import load_settings

SERVICES = ("auth", "catalog", "library", "media", "proxy")


def service_app(name: str) -> Starlette:
    settings_module = importlib.import_module(f"anime_{name}.settings")
    settings_class = next(
        value
        for attribute, value in vars(settings_module).items()
        if attribute.endswith("Settings") and getattr(value, "SERVICE_NAME", None) == name
    )
    settings = load_settings(settings_class, SECRET_KEY="k" * 64, DB_HOST="127.0.0.1")
    app: Starlette = importlib.import_module(f"anime_{name}.app").create_app(settings)
    return app


@pytest.fixture(scope="session")
def service_apps() -> dict[str, Starlette]:
    return {name: service_app(name) for name in SERVICES}
