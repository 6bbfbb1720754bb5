"""The gateway, driven from outside: routes, edge errors, CORS, body limits, health.

Runs against the whole stack (`stack` and `gateway` fixtures of conftest.py).
How a test tells "a service answered" from "the edge answered": every service
sets an `X-Request-ID` response header; the edge's own answers (the catch-all
404, the errors middleware's envelopes, entry-point rejections) carry none, as
long as the request does not send one. So the probes below never send one.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from anime_devstack.assertions import assert_envelope
from anime_e2e.fixtures import RunningStack as Stack

pytestmark = pytest.mark.e2e

SERVICES = ("auth", "catalog", "library", "media", "proxy")

# One GET path per service that the service owns and that exists in any
# phase of the project: a random id is a 404 (or a 401 for protected routes)
# *from the service*, never the edge's catch-all.
_SOME_ID = "00000000-0000-4000-8000-000000000000"
OWNED_PATHS: dict[str, tuple[str, ...]] = {
    "auth": ("/auth/sessions", f"/users/{_SOME_ID}"),
    "catalog": ("/anime", f"/anime/{_SOME_ID}", "/search/anime"),
    "library": (
        "/favorites",
        f"/jobs/{_SOME_ID}",
        "/collections",
        f"/collections/{_SOME_ID}/items",
        "/views",
        "/views/stats",
    ),
    "media": ("/media/avatars/does-not-exist.png",),
    "proxy": ("/api/health",),
}

ONE_MIB = 1024 * 1024

# Bounded waits for things that happen in the background (a pool noticing the
# database is gone, a restarted service binding its port).
DB_DEADLINE_S = 60.0
RESTART_DEADLINE_S = 90.0


def _wait_for(what: str, check: Callable[[], bool], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_s:.0f}s waiting for {what}")
        time.sleep(0.5)


def _from_edge(response: httpx.Response) -> bool:
    return "x-request-id" not in response.headers


def _raw_get(base_url: str, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """GET a path byte for byte (httpx would normalize the path before sending it)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=10
    )
    try:
        connection.putrequest("GET", raw_path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def _allowed_origin(stack: Stack) -> str:
    """An origin the gateway allows: the first of the stack's ALLOWED_ORIGINS.

    The variable may be a comma list or a JSON list, with a trailing slash per
    origin; the gateway strips those, and so does this.
    """
    text = stack.allowed_origins.strip()
    items: list[Any] = json.loads(text) if text.startswith("[") else text.split(",")
    origins = [str(item).strip().rstrip("/") for item in items if str(item).strip()]
    assert origins, "the stack runs with no allowed origin"
    return origins[0]


@pytest.fixture(scope="module")
def probe(stack: Stack) -> Iterator[httpx.Client]:
    """A client with no default headers (no X-Request-ID) that never follows redirects."""
    # trust_env=False: a proxy set in the environment must not see loopback calls.
    with httpx.Client(
        base_url=stack.gateway_url, timeout=15, follow_redirects=False, trust_env=False
    ) as client:
        yield client


# --- health -----------------------------------------------------------------


def test_gateway_health_is_ok(gateway: httpx.Client) -> None:
    response = gateway.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("slash", ["", "/"])
def test_service_health_through_the_gateway(probe: httpx.Client, service: str, slash: str) -> None:
    response = probe.get(f"/health/{service}{slash}")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert not _from_edge(response)


def test_gateway_health_follows_the_database(stack: Stack, probe: httpx.Client) -> None:
    stack.stop_database()
    try:
        # Services keep running: the same processes must notice on their own.
        _wait_for(
            "/health to answer 503", lambda: probe.get("/health").status_code == 503, DB_DEADLINE_S
        )
        down = probe.get("/health")
        # The service's own 503 body passes the edge untouched (503 is not
        # caught by the errors middleware).
        assert down.json()["status"] == "error"
        assert not _from_edge(down)
    finally:
        stack.start_database()
    _wait_for(
        "/health to answer 200 again",
        lambda: probe.get("/health").status_code == 200,
        DB_DEADLINE_S,
    )
    assert probe.get("/health").json()["status"] == "ok"


# --- routing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/nope/deeper"),
        ("DELETE", "/anime/a/b/c"),
        ("GET", "/users/me/extra"),
        ("GET", "/auth/unknown"),
        ("GET", "/api"),
        ("GET", "/health/unknown"),
        ("POST", "/media/avatars/x.png"),
    ],
)
def test_unrouted_path_is_the_edge_404_envelope(
    probe: httpx.Client, method: str, path: str
) -> None:
    response = probe.request(method, path)
    assert_envelope(response, 404, "NOT_FOUND")
    assert _from_edge(response)


@pytest.mark.parametrize("service", SERVICES)
def test_paths_reach_their_service(stack: Stack, probe: httpx.Client, service: str) -> None:
    # Reached by a service (not the catch-all) while it runs...
    for path in OWNED_PATHS[service]:
        response = probe.get(path)
        assert response.status_code not in (502, 503, 504), (path, response.text)
        assert not _from_edge(response), (path, response.status_code, response.text)
    # ...and the edge's gateway error, in the envelope, once *that* service is
    # down: this is what proves the path is routed to this service.
    stack.stop_service(service)
    try:
        for path in OWNED_PATHS[service]:
            response = probe.get(path)
            assert response.status_code in (502, 503, 504), (path, response.text)
            code = {502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
            assert_envelope(response, response.status_code, code[response.status_code])
        others = [name for name in SERVICES if name != service]
        for other in others:
            assert probe.get(f"/health/{other}").status_code == 200
    finally:
        stack.start_service(service)
    _wait_for(
        f"{service} to answer again",
        lambda: probe.get(f"/health/{service}").status_code == 200,
        RESTART_DEADLINE_S,
    )


@pytest.mark.parametrize(
    "path",
    [
        "/anime",
        f"/anime/{_SOME_ID}",
        "/search/anime",
        "/favorites",
        "/collections",
        "/views/stats",
        "/auth/sessions",
        "/api/health",
        "/health",
    ],
)
def test_trailing_slash_works_without_redirect(probe: httpx.Client, path: str) -> None:
    bare = probe.get(path)
    slashed = probe.get(path + "/")
    for response in (bare, slashed):
        assert not response.is_redirect, response.headers.get("location")
        assert not _from_edge(response)
    assert bare.status_code == slashed.status_code


def test_patch_users_me_goes_to_media_and_get_to_auth(stack: Stack, probe: httpx.Client) -> None:
    # With media down, PATCH /users/me is a gateway error while GET /users/me
    # (auth) is not: the two methods of one path reach two services.
    stack.stop_service("media")
    try:
        patch = probe.patch("/users/me", files={"avatar": ("a.png", b"\x89PNG", "image/png")})
        assert_envelope(patch, 502, "BAD_GATEWAY")
        get = probe.get("/users/me")
        assert get.status_code not in (502, 503, 504)
        assert not _from_edge(get)
    finally:
        stack.start_service("media")
    _wait_for(
        "media to answer again",
        lambda: probe.get("/health/media").status_code == 200,
        RESTART_DEADLINE_S,
    )


# --- /internal is never routed ---------------------------------------------


@pytest.mark.parametrize(
    "raw_path",
    [
        "/internal/x",
        "/internal/users/" + _SOME_ID,
        "/api/../internal/x",
        "/anime/../internal/x",
        "/api/%2e%2e/internal/x",
        "//internal/x",
        "/anime/..%2Finternal",
        "/api/..%2Finternal/x",
        "/api/..%2finternal/x",
        "/api/..%5Cinternal/x",
        "/internal%2Fx",
    ],
)
def test_internal_is_not_reachable(stack: Stack, raw_path: str) -> None:
    status, headers, body = _raw_get(stack.gateway_url, raw_path)
    # Dot segments are resolved before routing (-> the edge's 404 envelope).
    # An encoded slash or backslash is let through (traefik.yml): decoded, it
    # reaches at most the service owning the prefix, which matches no route with
    # it (its routes never resolve dot segments) and answers its own 404 envelope.
    assert status == 404, (status, body)
    assert json.loads(body)["code"] == "NOT_FOUND"
    if "%2f" not in raw_path.lower() and "%5c" not in raw_path.lower():
        assert "x-request-id" not in headers, "a service answered"


# --- CORS -------------------------------------------------------------------


def _preflight(probe: httpx.Client, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return probe.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/auth/login", "POST"),
        ("/users/me", "PATCH"),
        ("/anime", "GET"),
        ("/favorites/" + _SOME_ID, "DELETE"),
        ("/media/avatars/a.png", "GET"),
        ("/api/home", "GET"),
        ("/health", "GET"),
        ("/nope", "GET"),
    ],
)
def test_preflight_for_an_allowed_origin(
    stack: Stack, probe: httpx.Client, path: str, method: str
) -> None:
    origin = _allowed_origin(stack)
    response = _preflight(probe, path, origin, method)
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert method in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


def test_preflight_for_another_origin_gets_no_allow_origin(probe: httpx.Client) -> None:
    for path in ("/auth/login", "/anime", "/nope"):
        response = _preflight(probe, path, "https://evil.invalid")
        assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_edge_errors(stack: Stack, probe: httpx.Client) -> None:
    # The browser can read the edge's envelopes too.
    origin = _allowed_origin(stack)
    response = probe.get("/nope", headers={"Origin": origin})
    assert_envelope(response, 404, "NOT_FOUND")
    assert response.headers["access-control-allow-origin"] == origin
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


# --- body size ----------------------------------------------------------------


def test_over_large_json_body_is_a_413_envelope(probe: httpx.Client) -> None:
    body = b"x" * (ONE_MIB + 1)
    headers = {"Content-Type": "application/json"}
    assert_envelope(
        probe.post("/auth/login", content=body, headers=headers), 413, "PAYLOAD_TOO_LARGE"
    )


def test_over_large_chunked_body_is_a_413_envelope(probe: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        # No Content-Length: Traefik has to count while it reads.
        for _ in range(17):
            yield b"x" * (64 * 1024)

    response = probe.post(
        "/favorites", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_avatar_upload_limit_is_larger_but_bounded(probe: httpx.Client) -> None:
    # Over 1 MiB passes the edge for PATCH /users/me (media itself allows 5 MiB
    # and, without a token here, refuses with its own 401 or similar)...
    medium = probe.patch(
        "/users/me", content=b"x" * (2 * ONE_MIB), headers={"Content-Type": "image/png"}
    )
    assert medium.status_code != 413, medium.text
    # ...but the edge stops anything over 6 MiB.
    large = probe.patch(
        "/users/me", content=b"x" * (6 * ONE_MIB + 1), headers={"Content-Type": "image/png"}
    )
    assert_envelope(large, 413, "PAYLOAD_TOO_LARGE")


def test_request_id_passes_through(probe: httpx.Client) -> None:
    request_id = f"e2e-{uuid.uuid4()}"
    response = probe.get("/health/proxy", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers.get("x-request-id") == request_id
