"""Request parsing with pydantic: bodies and query strings, with field-level 422s."""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from starlette.requests import Request

from anime_common._errors import BadRequestError, FieldError, NotFoundError, ValidationError

# A HiAnime (aniwatch-api) anime id, e.g. `one-piece-100`: a slug ending in its number,
# the only shape aniwatch-api answers for. API.md accepts one wherever an `anime_id`
# goes, and services match it before any upstream or catalog call, so `0` or `abc` is a
# 404 here rather than a round trip that ends as the upstream's 400.
HIANIME_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,190}-[0-9]{1,9}$")
# Past this, an offset only makes the database count rows nobody will page to (and a
# 64-bit overflow is a 500): API.md documents the bound.
MAX_OFFSET = 10_000_000

ModelT = TypeVar("ModelT", bound=BaseModel)


class PageParams(BaseModel):
    """`limit` (1-100, default 20) and `offset` (>= 0): the paging of every list."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


def _field_name(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


def field_errors(exc: PydanticValidationError) -> list[FieldError]:
    """Turn pydantic's errors into API.md's `[{"field", "message"}]`."""
    return [
        {"field": _field_name(tuple(error["loc"])), "message": error["msg"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _nul_location(data: Any, location: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where a string (or a key) holding a NUL byte is, if anywhere."""
    if isinstance(data, str):
        return location if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and "\x00" in key:
                return (*location, key)
            found = _nul_location(value, (*location, key))
            if found is not None:
                return found
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found = _nul_location(value, (*location, index))
            if found is not None:
                return found
    return None


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate plain data into a model, raising our 422 on failure.

    A NUL byte in any string is refused here, for every body, form and query: no text
    column of PostgreSQL can hold one, so it could only ever end as a 500.
    """
    nul = _nul_location(data)
    if nul is not None:
        raise ValidationError.for_field(_field_name(nul), "must not contain a NUL character")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError("Validation failed", fields=field_errors(exc)) from None


async def parse_json(request: Request) -> Any:
    """The request body as JSON; a body that is not JSON is a 400."""
    raw = await request.body()
    if not raw.strip():
        raise BadRequestError("Request body must be a JSON document")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestError("Malformed JSON body") from None


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Parse and validate a JSON body."""
    return validate(model, await parse_json(request))


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the query string; a key given twice becomes a list only if the model wants one."""
    params = request.query_params
    data: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        annotation = model.model_fields[key].annotation if key in model.model_fields else None
        wants_list = getattr(annotation, "__origin__", None) in (list, tuple, set)
        data[key] = values if wants_list else values[-1]
    return validate(model, data)


def parse_path_id(raw: str, *, what: str) -> uuid.UUID:
    """An id from the path; anything that is not a UUID cannot name a row, so it is a 404."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFoundError(f"{what} not found") from None
