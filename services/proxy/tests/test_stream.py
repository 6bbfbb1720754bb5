"""`/m3u8-proxy` against the fake HLS CDN: playlists rewritten, bodies streamed, refusals."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from prometheus_client import REGISTRY

from anime_devstack.assertions import assert_envelope
from anime_fakes import (
    CdnStats,
    FakeState,
    Fault,
    create_aniwatch_app,
    create_hls_app,
    serve_in_thread,
)
from anime_fakes.hls import SEGMENT_SIZE, body

pytestmark = pytest.mark.anyio

ProxyFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
EPISODE = "one-piece-100?ep=1"
_LINK = re.compile(r'(/m3u8-proxy\?[^"\s]+)')


class Cdn:
    def __init__(self, url: str, state: FakeState, stats: CdnStats, mirror: str) -> None:
        self.url = url
        self.state = state
        self.stats = stats
        self.mirror = mirror

    def reset(self) -> None:
        self.state.reset()
        self.state.latency = 0.0
        self.stats.reset()


@pytest.fixture(scope="module")
def _cdn() -> Iterator[tuple[Cdn, str]]:
    state, stats = FakeState(), CdnStats()
    # A second CDN host serving one segment of each variant: reached only by signed links.
    with (
        serve_in_thread(create_hls_app(FakeState())) as mirror,
        serve_in_thread(create_hls_app(state, stats=stats, segment_base=mirror)) as url,
        serve_in_thread(create_aniwatch_app(FakeState(), cdn_url=url)) as api,
    ):
        yield Cdn(url, state, stats, mirror), api


@pytest.fixture
def cdn(_cdn: tuple[Cdn, str]) -> Iterator[Cdn]:
    _cdn[0].reset()
    yield _cdn[0]
    _cdn[0].reset()


@pytest.fixture
def make_stream_proxy(_cdn: tuple[Cdn, str], make_proxy: ProxyFactory) -> ProxyFactory:
    """`make_proxy` on the aniwatch fake whose sources point at the fake CDN."""

    def make(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return make_proxy(
            HIANIME_API_URL=_cdn[1], STREAM_ALLOWED_NETWORKS="127.0.0.0/8", **overrides
        )

    return make


@pytest.fixture
async def stream(make_stream_proxy: ProxyFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_stream_proxy() as client:
        yield client


async def sources(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/episode/sources", params={"animeEpisodeId": EPISODE})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def player_url(data: dict[str, Any]) -> str:
    """Exactly what the frontend's player builds (the referer is not encoded)."""
    url = quote(data["sources"][0]["url"], safe="")
    return f"/m3u8-proxy?url={url}&referer={data['headers']['Referer']}"


def upstream_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["url"][0]


async def arrived(cdn: Cdn, path: str) -> None:
    """Until the CDN (in another thread: no event to await) has seen a request for `path`."""
    deadline = time.monotonic() + 10
    while cdn.state.count(path) == 0:
        assert time.monotonic() < deadline, f"{path} never reached the CDN"
        await asyncio.sleep(0.01)


def relayed_bytes(kind: str) -> float:
    return REGISTRY.get_sample_value("proxy_stream_bytes_total", {"kind": kind}) or 0.0


async def test_every_uri_of_the_master_playlist_plays_through_the_proxy(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    before = {kind: relayed_bytes(kind) for kind in ("playlist", "segment", "key")}
    master = await stream.get(player_url(await sources(stream)))
    assert master.status_code == 200, master.text
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["cache-control"] == "public, max-age=5"
    pending, seen, media = list(_LINK.findall(master.text)), set(), {}
    assert not [line for line in master.text.splitlines() if "127.0.0.1" in line.split("url=")[0]]
    while pending:
        link = pending.pop()
        if link in seen:
            continue
        seen.add(link)
        response = await stream.get(link)
        assert response.status_code == 200, (link, response.text)
        if response.headers["content-type"] == "application/vnd.apple.mpegurl":
            for line in response.text.splitlines():
                # Every URI line and URI attribute is ours: nothing points at a CDN.
                assert line.startswith(("#", "/m3u8-proxy?")), line
            pending += _LINK.findall(response.text)
        else:
            media[upstream_of(link)] = response.content
    keys = [url for url in media if url.endswith(".key")]
    segments = [url for url in media if url.endswith(".ts")]
    assert len(keys) == 3
    assert len(segments) == 9
    assert any(url.startswith(cdn.mirror) for url in segments)
    for url, content in media.items():
        path = urlsplit(url).path
        assert content == body(path, 16 if path.endswith(".key") else SEGMENT_SIZE), url
    # The metrics saw every byte relayed, by kind, and no stream is left open.
    streamed = sum(len(content) for url, content in media.items() if url not in keys)
    assert relayed_bytes("segment") - before["segment"] == streamed
    assert relayed_bytes("key") - before["key"] == 3 * 16
    assert relayed_bytes("playlist") - before["playlist"] >= len(master.content)
    assert REGISTRY.get_sample_value("proxy_streams_active") == 0


async def test_range_is_passed_through(stream: httpx.AsyncClient, cdn: Cdn) -> None:
    master = await stream.get(player_url(await sources(stream)))
    variant = await stream.get(_LINK.findall(master.text)[1])
    segment = next(link for link in _LINK.findall(variant.text) if "seg-0" in link)
    partial = await stream.get(segment, headers={"Range": "bytes=1000-70999"})
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes 1000-70999/{SEGMENT_SIZE}"
    assert partial.headers["accept-ranges"] == "bytes"
    assert partial.headers["content-type"] == "video/mp2t"
    path = urlsplit(upstream_of(segment)).path
    assert partial.content == body(path, SEGMENT_SIZE, 1000, 71000)
    beyond = await stream.get(segment, headers={"Range": f"bytes={SEGMENT_SIZE}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{SEGMENT_SIZE}"
    head = await stream.head(segment)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(SEGMENT_SIZE)
    playlist_head = await stream.head(_LINK.findall(master.text)[1])
    assert playlist_head.status_code == 200
    assert playlist_head.headers["content-type"] == "application/vnd.apple.mpegurl"


async def test_tracks_play_without_a_referer_and_double_wrapped(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    data = await sources(stream)
    track = data["subtitles"][0]["url"]
    # The player's track URL carries no referer: the one learned with the origin is used.
    direct = await stream.get(f"/m3u8-proxy?url={quote(track, safe='')}")
    assert direct.status_code == 200, direct.text
    assert direct.headers["content-type"].startswith("text/vtt")
    assert direct.text.startswith("WEBVTT")
    # On a track switch the player wraps its proxy URL in another one.
    inner = f"http://gateway.test/m3u8-proxy?url={quote(track, safe='')}"
    wrapped = await stream.get(f"/m3u8-proxy?url={inner}")
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.content == direct.content


async def test_a_playlist_under_another_name_is_rewritten(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    data = await sources(stream)
    disguised = data["sources"][0]["url"].replace("master.m3u8", "720/index.txt")
    response = await stream.get(
        f"/m3u8-proxy?url={quote(disguised, safe='')}&referer={data['headers']['Referer']}"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert len(_LINK.findall(response.text)) == 5


async def test_a_crowd_on_one_playlist_costs_one_upstream_request(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    url = player_url(await sources(stream))
    # The fetch takes a while, so that the whole crowd arrives while it is in flight.
    cdn.state.latency = 0.3
    answers = await asyncio.gather(*(stream.get(url) for _ in range(30)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert cdn.state.count("/hd-1/one-piece-100/1/sub/master.m3u8") == 1


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("file:///etc/passwd", 422, "VALIDATION_ERROR"),
        ("gopher://127.0.0.1:70/", 422, "VALIDATION_ERROR"),
        ("not a url", 422, "VALIDATION_ERROR"),
        ("http://user:pw@127.0.0.1/x.ts", 422, "VALIDATION_ERROR"),
        ("http://169.254.169.254/latest/meta-data/", 404, "NOT_FOUND"),
        ("http://127.0.0.1:8001/internal/users", 404, "NOT_FOUND"),
        ("https://never-seen.example.test/master.m3u8", 404, "NOT_FOUND"),
    ],
)
async def test_refused_urls_fetch_nothing(
    stream: httpx.AsyncClient, cdn: Cdn, url: str, status: int, code: str
) -> None:
    await sources(stream)
    response = await stream.get("/m3u8-proxy", params={"url": url, "referer": "https://a.test/"})
    assert_envelope(response, status, code)
    assert cdn.state.stats()["requests"] == {}


async def test_learned_origin_still_refuses_internal_paths_and_bad_links(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    data = await sources(stream)
    referer = data["headers"]["Referer"]
    internal = f"{cdn.url}/internal/anything"
    assert_envelope(await stream.get("/m3u8-proxy", params={"url": internal}), 404, "NOT_FOUND")
    master = await stream.get(player_url(data))
    link = _LINK.findall(master.text)[0]
    tampered = link.replace("sig=", "sig=x")
    assert_envelope(await stream.get(tampered), 404, "NOT_FOUND")
    unsigned_mirror = f"{cdn.mirror}/hd-1/one-piece-100/1/sub/720/seg-1.ts"
    assert_envelope(
        await stream.get("/m3u8-proxy", params={"url": unsigned_mirror, "referer": referer}),
        404,
        "NOT_FOUND",
    )
    only_exp = f"/m3u8-proxy?url={quote(unsigned_mirror, safe='')}&exp=99999999999"
    assert_envelope(await stream.get(only_exp), 404, "NOT_FOUND")
    bad_referer = await stream.get("/m3u8-proxy", params={"url": internal, "referer": "ftp://x"})
    assert_envelope(bad_referer, 422, "VALIDATION_ERROR")
    assert_envelope(await stream.get("/m3u8-proxy"), 422, "VALIDATION_ERROR")
    assert [entry["path"] for entry in cdn.state.log] == ["/hd-1/one-piece-100/1/sub/master.m3u8"]


async def test_redirects_are_followed_within_limits(stream: httpx.AsyncClient, cdn: Cdn) -> None:
    data = await sources(stream)
    referer = data["headers"]["Referer"]
    segment = f"{cdn.url}/hd-1/one-piece-100/1/sub/720/seg-0.ts"
    hop = f"{cdn.url}/redirect?to={quote(segment, safe='')}"
    followed = await stream.get("/m3u8-proxy", params={"url": hop, "referer": referer})
    assert followed.status_code == 200
    assert followed.content == body("/hd-1/one-piece-100/1/sub/720/seg-0.ts", SEGMENT_SIZE)
    # To an origin no sources answer named (the second CDN host): refused.
    away = f"{cdn.url}/redirect?to={quote(cdn.mirror + '/x.ts', safe='')}"
    assert_envelope(
        await stream.get("/m3u8-proxy", params={"url": away, "referer": referer}), 404, "NOT_FOUND"
    )
    loop = f"{cdn.url}/redirect?to={quote('/redirect?to=/redirect', safe='')}"
    for _ in range(2):
        loop = f"{cdn.url}/redirect?to={quote(loop, safe='')}"
    assert_envelope(
        await stream.get("/m3u8-proxy", params={"url": loop, "referer": referer}),
        502,
        "BAD_GATEWAY",
    )


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [("404", 404, "NOT_FOUND"), ("403", 502, "BAD_GATEWAY"), ("500", 502, "BAD_GATEWAY"),
     ("429", 429, "RATE_LIMITED")],
)  # fmt: skip
async def test_upstream_failures_map_to_the_envelope(
    stream: httpx.AsyncClient, cdn: Cdn, mode: str, status: int, code: str
) -> None:
    data = await sources(stream)
    cdn.state.add_fault(Fault(mode=mode, path="/hd-1"))
    response = await stream.get(player_url(data))
    assert_envelope(response, status, code)
    if status == 429:
        assert response.headers["retry-after"] == "60"


async def test_a_wrong_referer_is_refused_by_the_cdn_and_never_answered_403(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    data = await sources(stream)
    url = data["sources"][0]["url"]
    response = await stream.get("/m3u8-proxy", params={"url": url, "referer": "https://x.test/"})
    assert_envelope(response, 502, "BAD_GATEWAY")


async def test_a_slow_upstream_is_a_504(make_stream_proxy: ProxyFactory, cdn: Cdn) -> None:
    async with make_stream_proxy(STREAM_READ_TIMEOUT=0.3) as client:
        data = await sources(client)
        cdn.state.add_fault(Fault(mode="timeout", path="/hd-1", delay=2))
        assert_envelope(await client.get(player_url(data)), 504, "GATEWAY_TIMEOUT")


@pytest.mark.parametrize(
    ("cap", "status", "code"),
    [("STREAM_MAX_PER_CLIENT", 429, "RATE_LIMITED"), ("STREAM_MAX_TOTAL", 503,
     "SERVICE_UNAVAILABLE")],
)  # fmt: skip
async def test_streams_past_the_caps_are_refused_with_retry_after(
    make_stream_proxy: ProxyFactory, cdn: Cdn, cap: str, status: int, code: str
) -> None:
    async with make_stream_proxy(**{cap: 1}) as client:
        data = await sources(client)
        track_url = data["subtitles"][0]["url"]
        track = f"/m3u8-proxy?url={quote(track_url, safe='')}"
        cdn.state.add_fault(Fault(mode="timeout", path="/subs", delay=0.5, times=1))
        first = asyncio.ensure_future(client.get(track))
        await arrived(cdn, urlsplit(track_url).path)
        refused = await client.get(track)
        assert_envelope(refused, status, code)
        assert refused.headers["retry-after"] == "2"
        assert (await first).status_code == 200
        # The slot is given back once the first answer is done.
        assert (await client.get(track)).status_code == 200


async def test_a_body_that_does_not_start_in_time_is_a_504(
    make_stream_proxy: ProxyFactory, cdn: Cdn
) -> None:
    async with make_stream_proxy(STREAM_READ_TIMEOUT=0.3) as client:
        data = await sources(client)
        cdn.state.add_fault(Fault(mode="slow", path="/big", delay=2))
        url = f"{cdn.url}/big/1000.ts"
        response = await client.get(
            "/m3u8-proxy", params={"url": url, "referer": data["headers"]["Referer"]}
        )
        assert_envelope(response, 504, "GATEWAY_TIMEOUT")


async def test_a_thumbnails_track_gets_its_images_proxied(
    stream: httpx.AsyncClient, cdn: Cdn
) -> None:
    data = await sources(stream)
    thumbs = data["subtitles"][0]["url"].replace("en.vtt", "thumbs.vtt")
    track = await stream.get("/m3u8-proxy", params={"url": thumbs})
    assert track.status_code == 200, track.text
    assert track.headers["content-type"].startswith("text/vtt")
    cue = track.text.splitlines()[-1]
    assert cue.startswith("/m3u8-proxy?url=")
    assert cue.endswith("#xywh=0,0,160,90")
    image = await stream.get(cue.split("#", 1)[0])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content == body(urlsplit(upstream_of(cue)).path, SEGMENT_SIZE)
    # A subtitle track has no image cues: passed on byte for byte.
    subtitle = await stream.get("/m3u8-proxy", params={"url": data["subtitles"][0]["url"]})
    async with httpx.AsyncClient() as direct:
        original = await direct.get(
            data["subtitles"][0]["url"], headers={"Referer": data["headers"]["Referer"]}
        )
    assert subtitle.content == original.content
    assert subtitle.headers["content-length"] == str(len(original.content))
