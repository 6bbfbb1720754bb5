"""`python -m anime_<service>`: load settings, configure logs, run uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from starlette.applications import Starlette

from anime_common._logging import configure_logging
from anime_common._settings import CommonSettings, SettingsError, load_settings

SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def run_service(
    build_app: Callable[[SettingsT], Starlette], settings_class: type[SettingsT]
) -> None:
    """Run one service in the foreground; a bad setting or failed start-up exits non-zero."""
    try:
        settings = load_settings(settings_class)
    except SettingsError as exc:
        sys.stderr.write(f"{settings_class.SERVICE_NAME}: {exc}\n")
        raise SystemExit(2) from None
    configure_logging(service=settings_class.SERVICE_NAME, level=settings.LOG_LEVEL)
    uvicorn.run(
        build_app(settings),
        host=settings.HOST,
        port=settings.PORT,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
        access_log=False,  # RequestContextMiddleware logs each request with its id
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=settings.SHUTDOWN_GRACE_SECONDS,
    )
