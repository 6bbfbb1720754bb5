"""The contract check the gateway clients carry (anime_e2e.contract) sees real operations
and refuses a body off its schema, with a message that says where."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from anime_e2e.contract import ResponseContract


def test_bodies_through_the_gateway_are_checked(
    api: httpx.Client, contract: ResponseContract
) -> None:
    before = contract.checked
    page = api.get("/anime", params={"limit": 3})
    assert page.status_code == 200
    one = api.get(f"/anime/{page.json()[0]['id']}")
    assert one.status_code == 200
    assert contract.checked == before + 2


def test_a_body_off_its_schema_is_refused_readably(
    api: httpx.Client, contract: ResponseContract
) -> None:
    anime: dict[str, Any] = api.get("/anime", params={"limit": 1}).json()[0]
    path = f"/anime/{anime['id']}"
    assert contract.problem("GET", path, 200, anime) is None

    broken = copy.deepcopy(anime)
    broken["year"] = "nineteen ninety-eight"
    del broken["slug"]
    problem = contract.problem("GET", path, 200, broken)
    assert problem is not None
    assert "catalog: GET /anime/{id}" in problem
    assert "at year" in problem
    assert "slug" in problem

    assert "documented: ['200']" in (contract.problem("GET", path, 201, anime) or "")


def test_routes_without_a_documented_body_pass(contract: ResponseContract) -> None:
    assert contract.operation("GET", "/no/such/route") is None
    assert contract.problem("GET", "/no/such/route", 200, {"anything": 1}) is None
