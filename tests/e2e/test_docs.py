"""The API's documentation at the gateway: the merged OpenAPI document and Swagger UI,
opened in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from anime_e2e.fixtures import RunningStack

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_openapi_json_merges_every_service_and_no_internal_path(gateway: httpx.Client) -> None:
    response = gateway.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    assert "description" not in document["info"], document["info"]  # every service answered
    paths = set(document["paths"])
    assert {"/auth/login", "/anime", "/favorites", "/users/me", "/api/home"} <= paths
    assert {"get", "patch"} <= set(document["paths"]["/users/me"])  # auth's and media's
    assert not [path for path in paths if path.startswith("/internal")]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on this machine (scripts/test installs Debian's as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dependency of anime-e2e
        pytest.skip("playwright is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def test_docs_page_lists_the_operations(
    stack: RunningStack, gateway: httpx.Client, chromium: Any
) -> None:
    paths = set(gateway.get("/openapi.json").json()["paths"])
    page = chromium.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{stack.gateway_url}/docs", wait_until="load")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    shown = {
        text.replace("\u200b", "").strip()
        for text in page.locator(".opblock-summary-path").all_inner_texts()
    }
    assert {"/auth/login", "/anime", "/favorites", "/api/home"} <= shown
    assert shown == paths
    # Everything the page loaded came from the gateway itself: no CDN.
    assert requested
    assert all(url.startswith(stack.gateway_url) for url in requested), requested
    page.close()
