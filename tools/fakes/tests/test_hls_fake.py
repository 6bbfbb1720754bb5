"""The fake HLS CDN: playlists, deterministic media, Range, the Referer check, faults."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from anime_fakes import CdnStats, FakeState, create_hls_app, serve_in_thread
from anime_fakes.hls import REFERER, SEGMENT_SIZE, body

HEADERS = {"Referer": REFERER}


@pytest.fixture(scope="module")
def cdn() -> Iterator[tuple[httpx.Client, FakeState, CdnStats]]:
    state, stats = FakeState(), CdnStats()
    with (
        serve_in_thread(create_hls_app(state, stats=stats)) as url,
        httpx.Client(base_url=url, headers=HEADERS) as client,
    ):
        yield client, state, stats


def test_playlists_tracks_and_the_referer_check(
    cdn: tuple[httpx.Client, FakeState, CdnStats],
) -> None:
    client, _, _ = cdn
    assert (
        client.get("/a/master.m3u8", headers={"Referer": "https://else.test/"}).status_code == 403
    )
    master = client.get("/hd-1/x/1/sub/master.m3u8")
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "720/index.m3u8" in master.text
    variant = client.get("/hd-1/x/1/sub/720/index.m3u8").text
    assert '#EXT-X-KEY:METHOD=AES-128,URI="/keys/hd-1-x-1-sub-720.key"' in variant
    assert (
        client.get("/hd-1/x/1/sub/720/index.txt").headers["content-type"].startswith("text/plain")
    )
    thumbs = client.get("/subs/x/1/thumbs.vtt")
    assert thumbs.headers["content-type"] == "text/vtt; charset=utf-8"
    assert "thumbs.jpg#xywh" in thumbs.text
    assert client.get("/subs/x/1/thumbs.jpg").headers["content-type"] == "image/jpeg"
    assert client.get("/nothing/here").status_code == 404
    assert client.get("/x.bin").status_code == 404
    moved = client.get("/redirect", params={"to": "/elsewhere"})
    assert (moved.status_code, moved.headers["location"]) == (302, "/elsewhere")


@pytest.mark.parametrize(
    ("header", "status", "start", "end"),
    [
        (None, 200, 0, SEGMENT_SIZE),
        ("bytes=0-0", 206, 0, 1),
        ("bytes=100-", 206, 100, SEGMENT_SIZE),
        ("bytes=-10", 206, SEGMENT_SIZE - 10, SEGMENT_SIZE),
        ("bytes=65530-65545", 206, 65530, 65546),
        ("items=1-2", 200, 0, SEGMENT_SIZE),
    ],
)
def test_media_bodies_and_ranges(
    cdn: tuple[httpx.Client, FakeState, CdnStats],
    header: str | None,
    status: int,
    start: int,
    end: int,
) -> None:
    client, _, _ = cdn
    headers = {"Range": header} if header else {}
    response = client.get("/hd-1/x/1/sub/720/seg-0.ts", headers=headers)
    assert response.status_code == status
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == body("/hd-1/x/1/sub/720/seg-0.ts", SEGMENT_SIZE, start, end)
    if status == 206:
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{SEGMENT_SIZE}"


@pytest.mark.parametrize("header", ["bytes=-", f"bytes={SEGMENT_SIZE}-", "bytes=9-3"])
def test_unsatisfiable_ranges(cdn: tuple[httpx.Client, FakeState, CdnStats], header: str) -> None:
    client, _, _ = cdn
    response = client.get("/a/seg-0.ts", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SEGMENT_SIZE}"


def test_big_bodies_head_stats_and_faults(cdn: tuple[httpx.Client, FakeState, CdnStats]) -> None:
    client, _, _ = cdn
    assert client.post("/_fake/reset").status_code == 204
    head = client.head("/big/1000000.ts")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "1000000", b"")
    big = client.get("/big/1000000.ts")
    assert big.content == body("/big/1000000.ts", 1_000_000)
    assert client.get("/keys/k.key").content == body("/keys/k.key", 16)
    assert client.get("/_fake/cdn-stats").json() == {
        "bytes_sent": 1_000_016,
        "bodies_finished": 2,
        "bodies_aborted": 0,
    }
    client.post("/_fake/faults", json={"mode": "500", "path": "/a", "times": 1})
    assert client.get("/a/seg-0.ts").status_code == 500
    client.post("/_fake/faults", json={"mode": "slow", "path": "/a", "delay": 0.001, "times": 1})
    assert len(client.get("/a/seg-0.ts").content) == SEGMENT_SIZE
    client.post("/_fake/faults", json={"mode": "timeout", "path": "/a", "delay": 0.01, "times": 1})
    assert client.get("/a/master.m3u8").status_code == 200


def test_the_command_line_knows_the_hls_fake() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anime_fakes", "--help"], capture_output=True, text=True, check=True
    )
    assert "hls" in result.stdout
    assert "--cdn-url" in result.stdout
