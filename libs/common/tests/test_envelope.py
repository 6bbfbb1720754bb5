from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from anime_common import (
    AppError,
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    ValidationError,
)
from anime_common import PermissionError as PermissionDenied
from anime_common._errors import resolve_error_code
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope

from .apps import build_app, make_settings

pytestmark = pytest.mark.anyio

API_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTH_ERROR",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT_ERROR",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with serve_asgi(build_app()) as client:
        yield client


@pytest.mark.parametrize(("status", "code"), sorted(API_CODES.items()))
def test_every_status_of_the_contract_has_its_code(status: int, code: str) -> None:
    assert resolve_error_code(status)[0] == code


@pytest.mark.parametrize("status", [402, 418, 451, 501, 599])
def test_other_statuses_are_unknown_errors(status: int) -> None:
    assert resolve_error_code(status)[0] == "UNKNOWN_ERROR"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationError("bad"), 422),
        (AuthError(), 401),
        (PermissionDenied(), 403),
        (NotFoundError("Anime not found"), 404),
        (ConflictError(), 409),
        (RateLimitedError(retry_after=3), 429),
        (ServiceUnavailableError(), 503),
    ],
)
def test_errors_carry_their_status_and_code(error: AppError, status: int) -> None:
    body = error.to_body()
    assert error.status_code == status
    assert body["code"] == API_CODES[status]
    assert set(body) == {"code", "message", "details"}


def test_rate_limited_carries_retry_after() -> None:
    assert RateLimitedError(retry_after=7).headers["Retry-After"] == "7"


async def test_unknown_path_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "Not Found", "details": None}


async def test_wrong_method_is_a_405_envelope_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/echo")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400, "VALIDATION_ERROR")


async def test_field_errors_are_a_422_with_details(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"name": "x", "nested": {"a": "not a number"}})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    fields = {detail["field"] for detail in body["details"]}
    assert fields == {"name", "nested.a"}
    assert all(detail["message"] for detail in body["details"])


async def test_valid_body_round_trips(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"name": "naruto", "nested": {"a": 1}})
    assert response.status_code == 200
    assert response.json() == {"name": "naruto", "nested": {"a": 1}}


async def test_unexpected_error_is_a_safe_500_logged_with_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/crash", headers={"X-Request-ID": "req-crash-1"})
    assert response.status_code == 500
    assert response.json() == {
        "code": "INTERNAL_ERROR",
        "message": "Internal server error",
        "details": None,
    }
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-crash-1"
    [record] = [r for r in caplog.records if r.name == "anime_common.errors"]
    assert record.exc_info is not None
    assert "boom" in caplog.text


async def test_database_unreachable_during_a_request_is_a_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/database-down")
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert "Retry-After" in response.headers


async def test_trailing_slash_answers_without_redirect(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers/", follow_redirects=False)
    assert response.status_code == 200
    assert response.json() == list(range(20))


async def test_list_headers_total_and_next_link(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", params={"limit": 10, "offset": 40})
    assert response.json() == list(range(40, 50))
    assert response.headers["x-total-count"] == "55"
    assert response.headers["link"] == '</numbers?limit=10&offset=50>; rel="next"'
    last = await client.get("/numbers", params={"limit": 10, "offset": 50})
    assert last.json() == list(range(50, 55))
    assert "link" not in last.headers


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "x"}, "limit"),
        ({"offset": 10_000_001}, "offset"),
        ({"offset": 9223372036854775808}, "offset"),
    ],
)
async def test_bad_paging_is_a_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/numbers", params=params)
    assert response.status_code == 422
    assert [detail["field"] for detail in response.json()["details"]] == [field]


async def test_request_id_is_generated_or_kept(client: httpx.AsyncClient) -> None:
    generated = await client.get("/public")
    assert len(generated.headers["x-request-id"]) == 32
    kept = await client.get("/public", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    injected = await client.get("/public", headers={"X-Request-ID": "bad id\nforged"})
    assert injected.headers["x-request-id"] != "bad id\nforged"


async def test_health_without_database_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_next_link_never_takes_the_host_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", headers={"Host": "evil.example"})
    assert response.headers["link"] == '</numbers?limit=20&offset=20>; rel="next"'
    assert "evil" not in response.headers["link"]


async def test_next_link_is_on_the_configured_public_url() -> None:
    app = build_app(make_settings(PUBLIC_URL="https://anime.example/"))
    async with serve_asgi(app) as client:
        response = await client.get("/numbers", headers={"Host": "evil.example"})
    assert response.headers["link"] == (
        '<https://anime.example/numbers?limit=20&offset=20>; rel="next"'
    )


async def test_offset_at_the_bound_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", params={"offset": 10_000_000})
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\u0000b"}, "name"),
        ({"name": "ok", "nested": {"k\u0000": 1}}, "nested.k\u0000"),
    ],
)
async def test_a_nul_in_a_body_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/echo", json=body)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field


async def test_a_nul_in_a_list_or_query_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", params={"limit": "1\x00"})
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "limit", "message": "must not contain a NUL character"}
    ]


async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put("/numbers")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE, GET, HEAD"


async def test_an_overlong_query_string_is_a_414_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", params={"q": "a" * 9000})
    assert_envelope(response, 414, "UNKNOWN_ERROR")
    assert "x-request-id" in response.headers


async def test_an_overlong_header_block_is_a_431_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/numbers", headers={"X-Big": "a" * 17000})
    assert response.status_code == 431
    assert response.json()["message"] == "Request Header Fields Too Large"
