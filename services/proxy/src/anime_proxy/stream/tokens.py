"""Signed stream links: what a rewritten playlist hands the player instead of CDN URLs.

A link carries the upstream URL, the Referer to fetch it with and an expiry, signed
with an HMAC under a key derived from `SECRET_KEY` (its own purpose string, so a
stream signature is never valid as anything else). Every replica sharing the secret
accepts the links of every other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote

ROUTE = "/m3u8-proxy"
_PURPOSE = b"anime-proxy stream link v1"
_SIGNATURE_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class StreamSigner:
    def __init__(self, *, secret: str, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
        self._ttl = ttl
        self._clock = clock

    def _signature(self, url: str, referer: str, expires: int) -> str:
        message = f"{url}\n{referer}\n{expires}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES])

    def expiry(self) -> int:
        # Rounded up to the minute: one playlist rewrites the same way for a while, so
        # its cached copy and the player's view of it agree.
        return (int(self._clock() + self._ttl) // 60 + 1) * 60

    def link(self, url: str, referer: str | None, *, expires: int) -> str:
        """The root-relative `/m3u8-proxy?...` URL that brings the player back here."""
        referer = referer or ""
        query = f"url={quote(url, safe='')}"
        if referer:
            query += f"&referer={quote(referer, safe='')}"
        signature = self._signature(url, referer, expires)
        return f"{ROUTE}?{query}&exp={expires}&sig={signature}"

    def verify(self, url: str, referer: str | None, *, expires: int, signature: str) -> bool:
        """Whether the link was minted here and has not expired."""
        if expires < self._clock():
            return False
        expected = self._signature(url, referer or "", expires)
        return hmac.compare_digest(expected, signature)
