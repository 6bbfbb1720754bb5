"""The stream proxy's rules on their own: addresses, origins, links, rewriting, caps; and a
client that goes away, over real HTTP."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpcore
import httpx
import pytest
import uvloop

from anime_common import RateLimitedError, ServiceUnavailableError
from anime_devstack.assertions import assert_envelope
from anime_fakes import (
    CdnStats,
    FakeState,
    Fault,
    create_aniwatch_app,
    create_hls_app,
    serve_in_thread,
)
from anime_fakes.hls import body
from anime_proxy.app import create_app
from anime_proxy.stream.addresses import AddressGuard, RefusedAddress
from anime_proxy.stream.fetcher import StreamFetcher, Target
from anime_proxy.stream.limits import StreamLimits
from anime_proxy.stream.network import GuardedBackend, GuardedTransport
from anime_proxy.stream.origins import LearnedOrigins
from anime_proxy.stream.playlist import is_playlist, rewrite, rewrite_thumbnails
from anime_proxy.stream.tokens import StreamSigner

from .conftest import proxy_settings

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1",
     "100.64.0.1", "0.0.0.0",  # noqa: S104
     "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1",
     "fd00:ec2::254"],
)  # fmt: skip
async def test_internal_addresses_are_refused(address: str) -> None:
    guard = AddressGuard(allowed_networks=[])
    with pytest.raises(RefusedAddress) as refused:
        await guard.checked_address(address, 80)
    assert refused.value.status_code == 400


@pytest.mark.anyio
async def test_allowed_networks_exempt_all_but_the_metadata_address() -> None:
    guard = AddressGuard(allowed_networks=[ipaddress.ip_network("169.254.0.0/16"), *LOOPBACK])
    assert await guard.checked_address("127.0.0.1", 80) == "127.0.0.1"
    assert await guard.checked_address("169.254.1.1", 80) == "169.254.1.1"
    with pytest.raises(RefusedAddress):
        await guard.checked_address("169.254.169.254", 80)


@pytest.mark.anyio
async def test_every_resolved_address_must_be_public() -> None:
    answers = {"cdn.test": ["93.184.216.34"], "mixed.test": ["93.184.216.34", "10.0.0.1"]}

    async def resolver(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    guard = AddressGuard(allowed_networks=[], resolver=resolver)
    assert await guard.checked_address("cdn.test", 443) == "93.184.216.34"
    for host in ("mixed.test", "nowhere.test"):
        with pytest.raises(RefusedAddress):
            await guard.checked_address(host, 443)
    # The system's resolver: `localhost` is loopback, refused unless loopback is allowed.
    with pytest.raises(RefusedAddress):
        await AddressGuard(allowed_networks=[]).checked_address("localhost", 80)


@pytest.mark.anyio
async def test_a_redirect_to_a_private_address_is_refused_before_it_is_fetched() -> None:
    state = FakeState()
    with serve_in_thread(create_hls_app(state)) as cdn:
        port = int(cdn.rsplit(":", 1)[1])
        # `cdn.test` is the fake CDN; `evil.test` a learned origin that resolves inside.
        answers = {"cdn.test": ["127.0.0.1"], "evil.test": ["10.0.0.7"]}

        async def resolver(host: str, port: int) -> list[str]:
            return answers[host]

        origins = LearnedOrigins(max_entries=10, ttl=60)
        origins.learn(f"http://cdn.test:{port}/a.m3u8", None)
        origins.learn(f"http://evil.test:{port}/a.m3u8", None)
        guard = AddressGuard(allowed_networks=LOOPBACK, resolver=resolver)
        transport = GuardedTransport(backend=GuardedBackend(guard=guard), limits=httpx.Limits())
        async with httpx.AsyncClient(transport=transport) as http:
            fetcher = StreamFetcher(http=http, origins=origins, max_redirects=3)
            target = f"http://evil.test:{port}/hd-1/seg-0.ts"
            hop = f"http://cdn.test:{port}/redirect?to={quote(target, safe='')}"
            with pytest.raises(RefusedAddress):
                await fetcher.open(
                    Target(url=hop, referer="https://megacloud.example.test/",
                           origin=("http", "cdn.test", port))
                )  # fmt: skip
    assert [entry["path"] for entry in state.log] == ["/redirect"]


def test_learned_origins_are_bounded_expire_and_keep_the_referer() -> None:
    now = [0.0]
    origins = LearnedOrigins(max_entries=2, ttl=10, clock=lambda: now[0])
    body = (
        b'{"status":200,"data":{"headers":{"Referer":"https://r.test/"},'
        b'"sources":[{"url":"https://A.test/x.m3u8"}],"tracks":[{"url":"https://b.test:8443/t"}],'
        b'"subtitles":[{"url":"ftp://c.test/"},{"url":null},"junk"]}}'
    )
    origins.learn_from_sources(body)
    for junk in (b"not json", b"[]", b'{"data": []}'):
        origins.learn_from_sources(junk)
    assert len(origins) == 2
    entry = origins.lookup(("https", "a.test", 443))
    assert entry is not None
    assert entry.referer == "https://r.test/"
    assert origins.lookup(("https", "b.test", 8443)) is not None
    origins.learn("http://c.test/", None)
    assert origins.lookup(("https", "a.test", 443)) is None
    now[0] = 11
    assert origins.lookup(("https", "b.test", 8443)) is None
    assert len(origins) == 1


def test_links_are_signed_and_expire() -> None:
    now = [1_000_000.0]
    signer = StreamSigner(secret="s" * 48, ttl=120, clock=lambda: now[0])
    expires = signer.expiry()
    assert expires % 60 == 0
    assert expires >= now[0] + 120
    link = signer.link("https://cdn.test/a b.ts", None, expires=expires)
    assert link.startswith("/m3u8-proxy?url=https%3A%2F%2Fcdn.test%2Fa%20b.ts&exp=")
    signature = link.rsplit("sig=", 1)[1]
    assert signer.verify("https://cdn.test/a b.ts", None, expires=expires, signature=signature)
    assert not signer.verify("https://cdn.test/other.ts", None, expires=expires,
                             signature=signature)  # fmt: skip
    assert not signer.verify("https://cdn.test/a b.ts", "https://r.test/", expires=expires,
                             signature=signature)  # fmt: skip
    other = StreamSigner(secret="t" * 48, ttl=120, clock=lambda: now[0])
    assert not other.verify("https://cdn.test/a b.ts", None, expires=expires, signature=signature)
    now[0] = expires + 1
    assert not signer.verify("https://cdn.test/a b.ts", None, expires=expires, signature=signature)


def test_rewrite_keeps_tags_and_foreign_schemes() -> None:
    text = (
        '\ufeff#EXTM3U\n\n# a comment with URI="x"\n'
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-id",KEYFORMAT="com.apple.streamingkeydelivery"\n'
        '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="data:text/plain;base64,AAAA"\n'
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part.mp4"\n'
        "#EXTINF:4,\n  ../up/seg.ts  \n"
    )
    out = rewrite(text, base_url="https://cdn.test/a/b/index.m3u8", link=lambda url: f"<{url}>")
    assert out.splitlines() == [
        "#EXTM3U",
        "",
        '# a comment with URI="x"',
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-id",KEYFORMAT="com.apple.streamingkeydelivery"',
        '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="data:text/plain;base64,AAAA"',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="<https://cdn.test/a/b/part.mp4>"',
        "#EXTINF:4,",
        "<https://cdn.test/a/up/seg.ts>",
    ]
    track = "WEBVTT\n\n00:00.000 --> 00:05.000\nsprite.jpg#xywh=0,0,1,1\n\n1\nftp://x/a.png\n"
    assert rewrite_thumbnails(track, base_url="https://cdn.test/t/thumbs.vtt",
                              link=lambda url: f"<{url}>") == (
        "WEBVTT\n\n00:00.000 --> 00:05.000\n<https://cdn.test/t/sprite.jpg>#xywh=0,0,1,1\n\n1\n"
        "ftp://x/a.png\n"
    )  # fmt: skip
    assert rewrite_thumbnails("WEBVTT\n\nhello\n", base_url="https://a.test/", link=str) is None
    assert is_playlist("audio/x-mpegURL; charset=utf-8", b"")
    assert is_playlist("text/plain", b"\xef\xbb\xbf#EXTM3U\n")
    assert not is_playlist(None, b"\x47\x40")


def test_caps_per_client_and_in_total() -> None:
    limits = StreamLimits(per_client=2, total=3)
    slots = [limits.acquire("a"), limits.acquire("a")]
    with pytest.raises(RateLimitedError):
        limits.acquire("a")
    slots.append(limits.acquire("b"))
    with pytest.raises(ServiceUnavailableError):
        limits.acquire("c")
    slots[0].release()
    slots[0].release()
    assert limits.active == 2
    slots.append(limits.acquire("a"))
    for slot in slots:
        slot.release()
    assert limits.active == 0


@pytest.fixture
def cdn_and_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, CdnStats, FakeState]]:
    for name in ("DATABASE_URL", "DB_HOST", "CATALOG_SERVICE_URL", "HIANIME_API_URL"):
        monkeypatch.delenv(name, raising=False)
    state, stats = FakeState(), CdnStats()
    with (
        serve_in_thread(create_hls_app(state, stats=stats)) as cdn,
        serve_in_thread(create_aniwatch_app(FakeState(), cdn_url=cdn)) as api,
    ):
        settings = proxy_settings(HIANIME_API_URL=api, STREAM_ALLOWED_NETWORKS="127.0.0.0/8")
        with serve_in_thread(create_app(settings), lifespan="on") as proxy:
            yield proxy, stats, state


def test_a_client_going_away_stops_the_upstream_fetch(
    cdn_and_proxy: tuple[str, CdnStats, FakeState],
) -> None:
    proxy, stats, state = cdn_and_proxy
    size = 64 * 1024 * 1024
    with httpx.Client(base_url=proxy, timeout=10) as client:
        data = client.get(
            "/api/episode/sources", params={"animeEpisodeId": "one-piece-100?ep=1"}
        ).json()["data"]
        big = data["sources"][0]["url"].split("/hd-1/")[0] + f"/big/{size}.ts"
        referer = data["headers"]["Referer"]
        state.add_fault(Fault(mode="slow", path="/big", delay=0.005))
        with client.stream(
            "GET", "/m3u8-proxy", params={"url": big, "referer": referer}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(size)
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 256 * 1024:
                    break
    deadline = time.monotonic() + 10
    while stats.as_dict()["bodies_aborted"] == 0:
        assert time.monotonic() < deadline, "the upstream body was never abandoned"
        time.sleep(0.02)
    assert stats.as_dict()["bytes_sent"] < size // 4
    assert stats.as_dict()["bodies_finished"] == 0


def test_nothing_is_fetched_for_an_unknown_origin_over_http(
    cdn_and_proxy: tuple[str, CdnStats, FakeState],
) -> None:
    proxy, _, state = cdn_and_proxy
    response = httpx.get(f"{proxy}/m3u8-proxy", params={"url": "http://127.0.0.1:1/x.ts"})
    assert_envelope(response, 404, "NOT_FOUND")
    assert state.log == []


@pytest.fixture(scope="module")
def tls_cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ssl.SSLContext]]:
    """The fake CDN over https with a throwaway certificate for `localhost`."""
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    with serve_in_thread(create_hls_app(FakeState()), tls=(str(cert), str(key))) as url:
        yield url.replace("127.0.0.1", "localhost"), context


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_streams_over_tls_on_both_event_loops(
    tls_cdn: tuple[str, ssl.SSLContext], loop: str
) -> None:
    url, context = tls_cdn
    size = 3 * 1024 * 1024 + 17

    async def fetch() -> tuple[int, bytes, bool]:
        guard = AddressGuard(allowed_networks=[*LOOPBACK, ipaddress.ip_network("::1/128")])
        transport = GuardedTransport(
            backend=GuardedBackend(guard=guard), limits=httpx.Limits(), ssl_context=context
        )
        headers = {"Referer": "https://megacloud.example.test/"}
        async with httpx.AsyncClient(transport=transport, timeout=10) as http:
            async with http.stream("GET", f"{url}/big/{size}.ts", headers=headers) as response:
                content = b"".join([chunk async for chunk in response.aiter_raw()])
            # The kept-alive connection serves the next request, and it is TLS.
            again = await http.get(f"{url}/keys/k.key", headers=headers)
            return response.status_code, content + again.content, again.status_code == 200

    runner = uvloop.run if loop == "uvloop" else asyncio.run
    status, content, reused = runner(fetch())
    assert (status, reused) == (200, True)
    assert content == body(f"/big/{size}.ts", size) + body("/keys/k.key", 16)


def test_a_certificate_for_another_name_is_refused(tls_cdn: tuple[str, ssl.SSLContext]) -> None:
    url, context = tls_cdn

    async def fetch() -> None:
        transport = GuardedTransport(
            backend=GuardedBackend(guard=AddressGuard(allowed_networks=LOOPBACK)),
            limits=httpx.Limits(),
            ssl_context=context,
        )
        async with httpx.AsyncClient(transport=transport, timeout=5) as http:
            await http.get(url.replace("localhost", "127.0.0.1") + "/keys/k.key")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(fetch())


def test_network_failures_are_httpx_errors() -> None:
    state = FakeState()
    with serve_in_thread(create_hls_app(state)) as cdn:

        async def run() -> None:
            backend = GuardedBackend(guard=AddressGuard(allowed_networks=LOOPBACK))
            transport = GuardedTransport(backend=backend, limits=httpx.Limits())
            headers = {"Referer": "https://megacloud.example.test/"}
            async with httpx.AsyncClient(transport=transport, timeout=0.3) as http:
                with pytest.raises(httpx.ConnectError):
                    await http.get("http://127.0.0.1:1/")
                state.add_fault(Fault(mode="timeout", path="/slow", delay=2, times=1))
                with pytest.raises(httpx.ReadTimeout):
                    await http.get(f"{cdn}/slow/seg-0.ts", headers=headers)
                response = await http.get(f"{cdn}/keys/k.key", headers=headers)
                stream = response.extensions["network_stream"]
                assert stream.get_extra_info("server_addr")[1] == int(cdn.rsplit(":", 1)[1])
                assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
                assert stream.get_extra_info("ssl_object") is None
                assert stream.get_extra_info("socket") is not None
                assert stream.get_extra_info("is_readable") is False
            with pytest.raises(httpcore.ConnectError):
                await backend.connect_unix_socket("/tmp/x.sock")
            await backend.sleep(0)

        asyncio.run(run())


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["close", "reset"])
async def test_an_upstream_that_breaks_off_mid_body_is_an_error(ending: str) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        if ending == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = GuardedBackend(guard=AddressGuard(allowed_networks=LOOPBACK))
    transport = GuardedTransport(backend=backend, limits=httpx.Limits())
    async with server, httpx.AsyncClient(transport=transport, timeout=5) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get(f"http://127.0.0.1:{port}/x.ts")
