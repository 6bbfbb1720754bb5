"""The player's HLS stream through the gateway's `/m3u8-proxy`, against the fake HLS CDN.

This module runs a stack of its own: the aniwatch-api fake (`ANIME_FAKE_HIANIME=1`)
hands out stream URLs on the fake CDN served here (`FAKE_CDN_URL`), and the proxy
may reach that CDN on 127.0.0.1 (`STREAM_ALLOWED_NETWORKS`) but only because a
sources answer named it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from anime_devstack.config import StackConfig
from anime_devstack.stack import Stack
from anime_fakes import CdnStats, FakeState, Fault, create_hls_app, serve_in_thread
from anime_fakes.hls import SEGMENT_SIZE, body

pytestmark = pytest.mark.e2e

EPISODE = "one-piece-100?ep=2"
ORIGIN = "http://localhost:3000"
_LINK = re.compile(r'(/m3u8-proxy\?[^"\s]+)')
MIB = 1024 * 1024


class StreamStack:
    def __init__(self, stack: Stack, cdn: str, state: FakeState, stats: CdnStats) -> None:
        self.stack = stack
        self.cdn = cdn
        self.state = state
        self.stats = stats
        self.gateway = httpx.Client(base_url=stack.gateway_url, timeout=15, trust_env=False)

    def sources(self) -> dict[str, Any]:
        response = self.gateway.get("/api/episode/sources", params={"animeEpisodeId": EPISODE})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def proxy_rss(self) -> int:
        pid = self.stack.pid("proxy")
        assert pid is not None
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def stream_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamStack]:
    state, stats = FakeState(), CdnStats()
    with serve_in_thread(create_hls_app(state, stats=stats)) as cdn:
        environ = {
            **os.environ,
            "ANIME_FAKE_HIANIME": "1",
            "FAKE_CDN_URL": cdn,
            "STREAM_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        config = StackConfig.for_tests(
            Path(tmp_path_factory.mktemp("stream-stack")), environ=environ
        )
        with Stack(config) as stack:
            running = StreamStack(stack, cdn, state, stats)
            yield running
            running.gateway.close()


@pytest.fixture
def streams(stream_stack: StreamStack) -> Iterator[StreamStack]:
    stream_stack.state.reset()
    stream_stack.stats.reset()
    yield stream_stack
    stream_stack.state.reset()


def player_url(data: dict[str, Any]) -> str:
    """What the frontend's player builds from a sources answer (the referer unencoded)."""
    return (
        f"/m3u8-proxy?url={quote(data['sources'][0]['url'], safe='')}"
        f"&referer={data['headers']['Referer']}"
    )


def upstream_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["url"][0]


def _tcp_buffer_max(name: str) -> int:
    return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])


def _assert_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"code", "message", "details"}


def test_an_episode_plays_through_the_gateway(streams: StreamStack) -> None:
    gateway = streams.gateway
    master = gateway.get(player_url(streams.sources()), headers={"Origin": ORIGIN})
    assert master.status_code == 200, master.text
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["access-control-allow-origin"] == ORIGIN
    pending, seen, media = _LINK.findall(master.text), set(), {}
    while pending:
        link = pending.pop(0)
        if link in seen:
            continue
        seen.add(link)
        response = gateway.get(link)
        assert response.status_code == 200, (link, response.text)
        if response.headers["content-type"] == "application/vnd.apple.mpegurl":
            assert streams.cdn not in response.text
            pending += _LINK.findall(response.text)
        else:
            media[upstream_of(link)] = response
    segments = sorted(url for url in media if url.endswith(".ts"))
    assert len(segments) == 9
    assert any(url.endswith("/360/seg-2.ts") for url in segments)  # the last of the last
    for url, response in media.items():
        path = urlsplit(url).path
        size = 16 if path.endswith(".key") else SEGMENT_SIZE
        assert response.content == body(path, size), url
        assert response.headers["content-length"] == str(size)


def test_ranges_and_cors_for_the_player(streams: StreamStack) -> None:
    gateway = streams.gateway
    data = streams.sources()
    master = gateway.get(player_url(data))
    variant = gateway.get(_LINK.findall(master.text)[1])
    segment = next(link for link in _LINK.findall(variant.text) if "seg-0" in link)
    partial = gateway.get(segment, headers={"Range": "bytes=5000-9999", "Origin": ORIGIN})
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes 5000-9999/{SEGMENT_SIZE}"
    assert partial.content == body(urlsplit(upstream_of(segment)).path, SEGMENT_SIZE, 5000, 10000)
    exposed = partial.headers["access-control-expose-headers"].lower()
    assert {"content-range", "content-length", "accept-ranges"} <= set(exposed.split(","))
    preflight = gateway.options(
        "/m3u8-proxy",
        params={"url": data["sources"][0]["url"]},
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "range" in preflight.headers["access-control-allow-headers"].lower()
    track = data["subtitles"][0]["url"]
    subtitle = gateway.get(f"/m3u8-proxy?url={quote(track, safe='')}", headers={"Origin": ORIGIN})
    assert subtitle.status_code == 200
    assert subtitle.text.startswith("WEBVTT")
    thumbs = gateway.get("/m3u8-proxy", params={"url": track.replace("en.vtt", "thumbs.vtt")})
    sprite = gateway.get(thumbs.text.splitlines()[-1].split("#", 1)[0], headers={"Origin": ORIGIN})
    assert (sprite.status_code, sprite.headers["content-type"]) == (200, "image/jpeg")


def test_it_is_not_an_open_proxy(streams: StreamStack) -> None:
    gateway = streams.gateway
    data = streams.sources()
    referer = data["headers"]["Referer"]
    proxy_port = urlsplit(streams.stack.service_url("proxy")).port
    auth_port = urlsplit(streams.stack.service_url("auth")).port
    refused = {
        "https://never-in-a-sources-answer.example.test/master.m3u8": 404,
        f"http://127.0.0.1:{proxy_port}/internal/hianime/anime/one-piece-100": 404,
        f"http://127.0.0.1:{auth_port}/internal/revocations": 404,
        "http://169.254.169.254/latest/meta-data/": 404,
        "file:///etc/passwd": 422,
        "not even a url": 422,
    }
    for url, status in refused.items():
        _assert_refused(gateway.get("/m3u8-proxy", params={"url": url, "referer": referer}), status)
    assert streams.state.log == []
    # The CDN (a learned origin) redirecting to a private address or to our services.
    for target in ("http://10.20.30.40/seg.ts", f"http://127.0.0.1:{proxy_port}/api/home"):
        hop = f"{streams.cdn}/redirect?to={quote(target, safe='')}"
        _assert_refused(gateway.get("/m3u8-proxy", params={"url": hop, "referer": referer}), 404)
    assert [entry["path"] for entry in streams.state.log] == ["/redirect", "/redirect"]
    # A link of a rewritten playlist, tampered with.
    link = _LINK.findall(gateway.get(player_url(data)).text)[0]
    _assert_refused(gateway.get(link.replace("sig=", "sig=A")), 404)


def test_a_slow_client_holds_no_segment_in_memory(streams: StreamStack) -> None:
    size = 256 * MIB
    data = streams.sources()
    big = f"{streams.cdn}/big/{size}.ts"
    params = {"url": big, "referer": data["headers"]["Referer"]}
    before = streams.proxy_rss()
    with streams.gateway.stream("GET", "/m3u8-proxy", params=params) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        received = 0
        while received < 4 * MIB:
            received += len(next(chunks))
        # The client stops reading: the CDN is read only as far as the buffers on the way.
        stalled, last = 0, -1
        deadline = time.monotonic() + 30
        while stalled < 10:
            sent = streams.stats.as_dict()["bytes_sent"]
            stalled = stalled + 1 if sent == last else 0
            last = sent
            assert time.monotonic() < deadline, "the CDN kept sending to a stalled client"
            time.sleep(0.05)
        # What the kernel may hold in the three connections' socket buffers, and no more.
        in_flight = 3 * (_tcp_buffer_max("tcp_rmem") + _tcp_buffer_max("tcp_wmem"))
        assert last < received + in_flight + 8 * MIB < size
        growth = streams.proxy_rss() - before
        print(f"stalled: CDN sent {last / MIB:.0f} MiB, proxy RSS +{growth / MIB:.1f} MiB")
        assert growth < 50 * MIB
        # Reading again resumes the same stream to its end.
        for chunk in chunks:
            received += len(chunk)
    assert received == size
    assert streams.stats.as_dict()["bodies_finished"] == 1


def test_a_client_going_away_stops_the_cdn_fetch(streams: StreamStack) -> None:
    size = 512 * MIB
    data = streams.sources()
    params = {"url": f"{streams.cdn}/big/{size}.ts", "referer": data["headers"]["Referer"]}
    streams.state.add_fault(Fault(mode="slow", path="/big", delay=0.002))
    with streams.gateway.stream("GET", "/m3u8-proxy", params=params) as response:
        assert response.status_code == 200
        next(response.iter_raw())
    deadline = time.monotonic() + 20
    while streams.stats.as_dict()["bodies_aborted"] == 0:
        assert time.monotonic() < deadline, "the CDN fetch went on after the client left"
        time.sleep(0.05)
    assert streams.stats.as_dict()["bytes_sent"] < size // 8
