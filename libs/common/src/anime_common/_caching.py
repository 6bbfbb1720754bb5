"""HTTP validation caching: `ETag` on every cacheable answer, `If-None-Match` → 304."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

# Browsers and the edge may keep a copy but must ask again each time; the ETag
# makes that question cheap (a 304 without a body).
DEFAULT_CACHE_CONTROL = "public, no-cache"

# Headers RFC 9110 §15.4.5 wants repeated on a 304.
_KEPT_ON_304 = ("cache-control", "etag", "vary", "content-location", "expires")


def etag_for(body: bytes | memoryview, *extra: str) -> str:
    """A strong ETag from the representation's bytes (and headers that are part of it)."""
    digest = hashlib.blake2b(body, digest_size=16)
    for part in extra:
        digest.update(b"\0" + part.encode())
    return '"' + digest.hexdigest() + '"'


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything."""
    if not if_none_match:
        return False
    wanted = _opaque(etag)
    return any(
        candidate.strip() == "*" or _opaque(candidate) == wanted
        for candidate in if_none_match.split(",")
    )


def conditional_response(
    request: Request, response: Response, *, cache_control: str = DEFAULT_CACHE_CONTROL
) -> Response:
    """Add `ETag` and `Cache-Control` to a 200; answer 304 when the client's copy is current."""
    if response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    # A list's total is part of what the client caches, not only the page.
    etag = etag_for(response.body, response.headers.get("x-total-count", ""))
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control
    if not etag_matches(request.headers.get("if-none-match"), etag):
        return response
    kept = {name: value for name, value in response.headers.items() if name in _KEPT_ON_304}
    return Response(status_code=304, headers=kept)
