"""anime_devstack.stack.wait_for_ok: waits for a 200, gives up with the URL named."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from anime_devstack.errors import ServiceError
from anime_devstack.ports import free_port
from anime_devstack.stack import wait_for_ok
from anime_fakes import serve_in_thread


async def _ok(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_returns_once_the_url_answers_200() -> None:
    app = Starlette(routes=[Route("/ready", _ok)])
    with serve_in_thread(app) as url:
        wait_for_ok(f"{url}/ready", seconds=10)
        with pytest.raises(ServiceError, match="/missing"):
            wait_for_ok(f"{url}/missing", seconds=0.3)  # a 404 is not ready


def test_gives_up_on_a_port_nobody_listens_on() -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    with pytest.raises(ServiceError, match=url):
        wait_for_ok(url, seconds=0.3)
