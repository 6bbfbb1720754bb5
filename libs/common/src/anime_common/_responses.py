"""Fast JSON responses and the list conventions of API.md (bare arrays, paging headers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from anime_common._errors import ErrorBody
from anime_common._parsing import PageParams
from anime_common._state import app_context


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(content: Any) -> bytes:
    """Serialize to JSON bytes; UUIDs and aware datetimes come out as API.md wants."""
    return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z)


class JSONResponse(Response):
    """A JSON response encoded with orjson (several times faster than the stdlib)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, self.media_type, background)

    def render(self, content: Any) -> bytes:
        return dumps(content)


def error_response(
    body: ErrorBody, status_code: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=headers)


def list_response(
    request: Request,
    items: Sequence[Any],
    *,
    total: int,
    page: PageParams,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A bare JSON array with `X-Total-Count` and, when there is more, `Link: rel="next"`.

    The link is relative (or on `PUBLIC_URL`): built from `Host`, it would let any client
    write its own origin into a response a shared cache keeps.
    """
    response_headers = {"X-Total-Count": str(total), **(headers or {})}
    next_offset = page.offset + page.limit
    if next_offset < total:
        query = request.url.include_query_params(limit=page.limit, offset=next_offset).query
        public_url: str | None = getattr(app_context(request).settings, "PUBLIC_URL", None)
        response_headers["Link"] = f'<{public_url or ""}{request.url.path}?{query}>; rel="next"'
    return JSONResponse(list(items), headers=response_headers)
