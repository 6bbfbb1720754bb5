"""Checks every test package shares: an error answer is the API's JSON envelope."""

from __future__ import annotations

from typing import Any

import httpx

ENVELOPE_FIELDS = {"code", "message", "details"}


def assert_envelope(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """`response` has `status` and the envelope `{"code","message","details"}` (with `code`).

    Returns the body, for the checks of `message` or `details` a test adds.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == ENVELOPE_FIELDS, body
    assert isinstance(body["code"], str), body
    assert isinstance(body["message"], str), body
    if code is not None:
        assert body["code"] == code, body
    return body
