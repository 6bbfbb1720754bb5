"""Rewriting an HLS playlist so that every URI in it comes back through the proxy.

Media segments and variant playlists are the lines that are not tags; keys, init
sections, renditions, I-frame playlists, parts and preload hints are the `URI="..."`
attributes of tags. Each is resolved against the playlist's own (final) URL and
replaced by a signed proxy link; URIs that are not http(s) (`skd://`, `data:`) are
left as they are: the player handles those itself.

A thumbnails track (WebVTT whose cues are image references, `sprite.jpg#xywh=...`)
gets the same treatment for its images, so the sprites load through the proxy too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

HLS_CONTENT_TYPE = "application/vnd.apple.mpegurl"
HLS_CONTENT_TYPES = frozenset(
    {
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "audio/mpegurl",
        "audio/x-mpegurl",
    }
)
SIGNATURE = b"#EXTM3U"
_URI_ATTRIBUTE = re.compile(r'(?<=[:,])URI="([^"]*)"')
_IMAGE_CUE = re.compile(
    r"^(?P<uri>[^\s#]+\.(?:jpe?g|png|webp|gif))(?P<fragment>#xywh=[\d,]+)?$", re.I
)
VTT_CONTENT_TYPE = "text/vtt"

Linker = Callable[[str], str]


def is_playlist(content_type: str | None, first_bytes: bytes) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in HLS_CONTENT_TYPES or first_bytes.lstrip(b"\xef\xbb\xbf").startswith(
        SIGNATURE
    )


def is_vtt(content_type: str | None, url: str) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == VTT_CONTENT_TYPE or urlsplit(url).path.lower().endswith(".vtt")


def looks_like_playlist_url(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".m3u8")


def rewrite(text: str, *, base_url: str, link: Linker) -> str:
    """`text` with each http(s) URI replaced by `link(absolute URI)`."""

    def proxied(uri: str) -> str:
        absolute = urljoin(base_url, uri.strip())
        if urlsplit(absolute).scheme.lower() not in {"http", "https"}:
            return uri
        return link(absolute)

    lines = []
    for line in text.removeprefix("\ufeff").splitlines():
        stripped = line.strip()
        if not stripped:
            lines.append(line)
        elif stripped.startswith("#"):
            lines.append(
                _URI_ATTRIBUTE.sub(lambda match: f'URI="{proxied(match[1])}"', line)
                if stripped.startswith("#EXT")
                else line
            )
        else:
            lines.append(proxied(stripped))
    return "\n".join(lines) + "\n"


def rewrite_thumbnails(text: str, *, base_url: str, link: Linker) -> str | None:
    """A thumbnails track with each image cue proxied, or None when it has none."""
    changed = False
    lines = []
    for line in text.splitlines():
        match = _IMAGE_CUE.fullmatch(line.strip())
        if match is None:
            lines.append(line)
            continue
        absolute = urljoin(base_url, match["uri"])
        if urlsplit(absolute).scheme.lower() not in {"http", "https"}:
            lines.append(line)
            continue
        lines.append(link(absolute) + (match["fragment"] or ""))
        changed = True
    return "\n".join(lines) + "\n" if changed else None
