from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from anime_common import METRICS_PATH

from .conftest import login, register

pytestmark = pytest.mark.anyio


async def _hash_counts(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get(METRICS_PATH)
    assert response.status_code == 200
    return {
        sample.labels["operation"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "auth_password_hash_seconds_count"
    }


async def test_argon2_hash_and_verify_times_are_recorded(client: httpx.AsyncClient) -> None:
    before = await _hash_counts(client)
    await register(client, email="metrics@example.com", password="correct horse battery")
    await login(client, "metrics@example.com", "correct horse battery")
    after = await _hash_counts(client)
    assert after["hash"] >= before.get("hash", 0) + 1
    assert after["verify"] == before.get("verify", 0) + 1
