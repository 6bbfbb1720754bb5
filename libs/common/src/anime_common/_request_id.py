"""Request ids: taken from `X-Request-ID` or made up, echoed back, logged, passed on."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

import httpx

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def accept_or_generate(candidate: str | None) -> str:
    """Keep a caller's id when it is short and harmless; log injection is not an option."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


async def forward_request_id(request: httpx.Request) -> None:
    """httpx event hook: outgoing calls carry the id of the request being served."""
    request_id = request_id_var.get()
    if request_id and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id
