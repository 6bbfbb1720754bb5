"""The origins the stream proxy may fetch from: learned from the sources answers it relays.

A CDN origin (scheme, host, port) becomes fetchable when a `/api/episode/sources`
answer names it (`sources[].url`, `subtitles[].url`, `tracks[].url`), together with
the answer's `headers.Referer`, so a subtitle URL the player asks for without a
referer still gets the one its CDN expects. Entries expire `ttl` seconds after they
were last seen and the oldest go first past `max_entries`: the list never grows
without bound. Each replica learns from the answers it relays itself.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import orjson

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(parts: SplitResult) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, or None when it has none or another scheme."""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port


@dataclass(frozen=True, slots=True)
class LearnedOrigin:
    referer: str | None
    expires_at: float


def _track_urls(data: dict[str, Any]) -> Iterator[Any]:
    for key in ("sources", "subtitles", "tracks"):
        items = data.get(key)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    yield item.get("url")


class LearnedOrigins:
    def __init__(
        self, *, max_entries: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[Origin, LearnedOrigin] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def learn(self, url: str, referer: str | None) -> None:
        origin = origin_of(urlsplit(url))
        if origin is None:
            return
        self._entries.pop(origin, None)
        self._entries[origin] = LearnedOrigin(referer, self._clock() + self._ttl)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def learn_from_sources(self, body: bytes) -> None:
        """Every stream and track origin of a sources answer (the upstream's JSON bytes)."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict):
            return
        headers = data.get("headers")
        referer = headers.get("Referer") if isinstance(headers, dict) else None
        for url in _track_urls(data):
            if isinstance(url, str):
                self.learn(url, referer if isinstance(referer, str) else None)

    def lookup(self, origin: Origin) -> LearnedOrigin | None:
        entry = self._entries.get(origin)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            del self._entries[origin]
            return None
        return entry
