from __future__ import annotations

import pytest

from anime_devstack.asgi import serve_asgi

from .apps import build_app

pytestmark = pytest.mark.anyio


async def test_openapi_describes_documented_routes() -> None:
    async with serve_asgi(build_app()) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert set(paths) == {"/health", "/echo", "/numbers", "/me"}

    echo = paths["/echo"]["post"]
    assert echo["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Payload"
    }
    # A JSON body can be malformed (400) or invalid (422).
    assert set(echo["responses"]) == {"200", "400", "422"}
    assert document["components"]["schemas"]["Payload"]["required"] == ["name"]

    numbers = paths["/numbers"]["get"]
    query = {parameter["name"]: parameter for parameter in numbers["parameters"]}
    assert query["limit"]["schema"]["maximum"] == 100
    assert query["offset"]["in"] == "query"
    assert numbers["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"

    me = paths["/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert set(me["responses"]) == {"200", "401"}


async def test_error_schema_is_the_envelope() -> None:
    async with serve_asgi(build_app()) as client:
        document = (await client.get("/openapi.json")).json()
    assert document["components"]["schemas"]["Error"]["required"] == ["code", "message", "details"]
