"""Fast JSON responses and the list conventions of API.md (bare arrays, paging headers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import orjson
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from anime_common._errors import ErrorBody
from anime_common._parsing import PageParams
from anime_common._state import app_context


class RowOut(BaseModel):
    """A response model over a row read from our own database, for the hot list paths.

    `from_row` wraps the row without validating it again (its columns are the
    schema's types), and `dumps` writes the fields as they are, without pydantic's
    serializer: several times cheaper per row than `model_validate` plus
    `model_dump`, which a page of 100 anime would pay 100 times. So every field
    must be a type orjson writes as API.md wants (str, int, float, bool, None,
    lists of those, UUID, datetime, date, another RowOut); the e2e suite checks
    every body against the OpenAPI document.
    """

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        # What `model_construct` does, minus its per-field pass over defaults.
        out = cls.__new__(cls)
        object.__setattr__(out, "__dict__", row)
        object.__setattr__(out, "__pydantic_fields_set__", set(row))
        object.__setattr__(out, "__pydantic_extra__", None)
        object.__setattr__(out, "__pydantic_private__", None)
        return out


def _default(value: Any) -> Any:
    if isinstance(value, RowOut):
        return value.__dict__
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
