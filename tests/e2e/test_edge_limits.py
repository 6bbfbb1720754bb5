"""What the edge refuses, and how: every answer in the envelope, nothing reaching a route.

Hand-made requests, as a fuzzer sends them: overlong paths, query strings and
headers, a chunk size that overflows, encoded characters in an id, a Host that
tries to get into the `Link` header. Sent byte for byte over a socket, since
httpx would normalize or refuse them.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from anime_e2e.fixtures import RunningStack as Stack

pytestmark = pytest.mark.e2e


def _send(stack: Stack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(stack.gateway_url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _get(stack: Stack, target: bytes, extra: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    return _send(
        stack, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"Connection: close\r\n\r\n"
    )


def _envelope(body: bytes) -> dict[str, object]:
    found: dict[str, object] = json.loads(body)
    assert set(found) == {"code", "message", "details"}, found
    return found


def test_an_overlong_path_is_the_edge_414(stack: Stack) -> None:
    status, headers, body = _get(stack, b"/anime/" + b"a" * 3000)
    assert status == 414
    assert headers["content-type"].startswith("application/json")
    assert "x-request-id" not in headers, "a service answered"
    _envelope(body)


def test_an_overlong_query_string_is_a_414_envelope(stack: Stack) -> None:
    status, _, body = _get(stack, b"/anime?genre=" + b"a" * 10_000)
    assert status == 414
    assert _envelope(body)["code"] == "UNKNOWN_ERROR"


def test_an_overlong_header_is_a_431_envelope(stack: Stack) -> None:
    status, _, body = _get(stack, b"/anime", b"X-Big: " + b"a" * 20_000 + b"\r\n")
    assert status == 431
    _envelope(body)


def test_a_request_head_past_the_entry_point_limit_never_reaches_a_service(stack: Stack) -> None:
    # Go answers this one itself, before Traefik: 431 in plain text (traefik.yml).
    status, headers, _ = _get(stack, b"/anime?genre=" + b"a" * 200_000)
    assert status == 431
    assert "x-request-id" not in headers


@pytest.mark.parametrize("path", [b"/auth/login", b"/auth/register", b"/favorites"])
def test_an_overflowing_chunk_size_is_an_envelope(stack: Stack, path: bytes) -> None:
    status, headers, body = _send(
        stack,
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
        b"FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n",
    )
    assert headers["content-type"].startswith("application/json")
    assert "x-request-id" not in headers, "the body reached a service"
    assert _envelope(body)["code"] == "INTERNAL_ERROR"
    assert status == 500


@pytest.mark.parametrize(
    "target",
    [b"/anime/a%3Bb", b"/anime/a%20b", b"/anime/a%2Fb", b"/favorites/a%2F..%2Fx",
     b"/collections/a%3B1/items"],
)  # fmt: skip
def test_encoded_characters_in_an_id_are_a_404_envelope(stack: Stack, target: bytes) -> None:
    status, headers, body = _get(stack, target)
    assert status in (401, 404), body
    assert headers["content-type"].startswith("application/json")
    _envelope(body)


def test_an_avatar_path_leaving_its_folder_serves_nothing(stack: Stack) -> None:
    status, headers, body = _get(stack, b"/media/avatars/..%2f..%2fetc%2fpasswd")
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert _envelope(body)["code"] == "NOT_FOUND"
    assert b"root:" not in body


def test_the_host_header_never_reaches_the_link(seeded: Stack) -> None:
    status, headers, _ = _send(
        seeded, b"GET /anime?limit=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert status == 200
    assert headers["link"].startswith("</anime?"), headers["link"]
    assert "evil" not in headers["link"]


def test_a_405_names_every_method_of_the_path(stack: Stack) -> None:
    status, headers, body = _send(
        stack,
        b"PUT /favorites HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    assert status == 405
    assert headers["allow"] == "GET, HEAD, POST"
    assert _envelope(body)["code"] == "METHOD_NOT_ALLOWED"
