"""The OpenAPI documents say what the services do (what schemathesis tripped on, issue 20)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from starlette.routing import BaseRoute

from anime_common import openapi_document

SERVICES = ("auth", "catalog", "library", "media", "proxy")


def document_of(service: str) -> dict[str, Any]:
    routes: list[BaseRoute] = list(importlib.import_module(f"anime_{service}.routes").routes)
    return openapi_document(title=service, version="test", routes=routes)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_every_json_body_can_be_a_400(service: str) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(document_of(service))
        if "application/json" in operation.get("requestBody", {}).get("content", {})
        and "400" not in operation["responses"]
    ]
    assert not missing, f"a malformed JSON body answers 400, undocumented on: {missing}"


def test_the_edge_429_is_documented_on_register_and_refresh() -> None:
    paths = document_of("auth")["paths"]
    assert "429" in paths["/auth/register"]["post"]["responses"]
    assert "429" in paths["/auth/refresh"]["post"]["responses"]


def test_logout_works_without_a_body() -> None:
    logout = document_of("auth")["paths"]["/auth/logout"]["post"]
    assert logout["requestBody"]["required"] is False


def test_the_avatar_upload_documents_its_multipart_body() -> None:
    upload = document_of("media")["paths"]["/users/me"]["patch"]
    content = upload["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]


def test_constraints_the_code_enforces_are_documented() -> None:
    catalog = document_of("catalog")["paths"]
    search = {p["name"]: p for p in catalog["/search/anime"]["get"]["parameters"]}
    assert search["q"]["schema"]["minLength"] == 2
    offset = {p["name"]: p for p in catalog["/anime"]["get"]["parameters"]}["offset"]
    assert offset["schema"]["maximum"] == 10_000_000
    library = document_of("library")["components"]["schemas"]
    assert "anyOf" in library["ProgressIn"]
    assert library["CollectionPatch"]["properties"]["name"]["type"] == "string"
    proxy = document_of("proxy")
    assert "oneOf" in proxy["components"]["schemas"]["ImportIn"]
    servers = proxy["paths"]["/api/episode/servers"]["get"]["parameters"]
    episode = {p["name"]: p for p in servers}["animeEpisodeId"]["schema"]
    assert {"format": "uuid", "type": "string"} in episode["anyOf"]
