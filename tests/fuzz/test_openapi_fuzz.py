"""Schemathesis over every service's own `/openapi.json`: no 5xx, and the answers are
what the document says (status codes, response schemas, the envelope on every error).

Each operation gets `FUZZ_EXAMPLES` generated requests (positive and negative
data), from a fixed seed so a run is repeatable; `pytest tests/fuzz --deep` runs
many more. Protected routes get a fresh user's token per operation (so a logout
the fuzzer sends ends only that operation's session), `/internal` routes a
service token. An operation left out says why in `EXCLUDED`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from anime_common import CommonSettings, TokenVerifier, load_settings
from anime_devstack.stack import Stack

SERVICES = ("auth", "catalog", "library", "media", "proxy")
FUZZ_EXAMPLES = 12
DEEP_EXAMPLES = 300
SEED = 20
PASSWORD = "fuzz password, long enough"
# operationId -> why it is not fuzzed. Empty: every documented operation is.
EXCLUDED: dict[str, str] = {}


def envelope_on_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is API.md's `{"code", "message", "details"}` in JSON."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/json"), (
        f"{response.status_code} without the JSON envelope: {content_type!r}"
    )
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code} body is not an object: {body!r}"
    assert set(body) == {"code", "message", "details"}, f"not the envelope: {body!r}"
    assert isinstance(body["code"], str), body
    assert body["code"], body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    return True


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          envelope_on_errors]  # fmt: skip


@dataclass
class Tally:
    """What one service's run did; the root conftest prints the sum (issue 20's numbers)."""

    operations: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def count(self, key: str) -> None:
        self.operations[key] = self.operations.get(key, 0) + 1


def _verifier(stack: Stack) -> TokenVerifier:
    settings = load_settings(CommonSettings, SECRET_KEY=stack.config.secret_key, DB_HOST="unused")
    return TokenVerifier(settings)


def _user_token(stack: Stack) -> str:
    """A new account's access token, from auth itself."""
    response = httpx.post(
        f"{stack.service_url('auth')}/auth/register",
        json={"email": f"fuzz-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD},
        timeout=30,
        trust_env=False,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def _operations(stack: Stack, service: str) -> list[Any]:
    base_url = stack.service_url(service)
    document = httpx.get(f"{base_url}/openapi.json", timeout=10, trust_env=False).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.base_url = base_url
    # An invalid document raises here (Err.ok()), which fails the test with its reason.
    results: list[Any] = list(schema.get_all_operations())
    operations = [result.ok() for result in results]
    return [op for op in operations if op.definition.raw.get("operationId") not in EXCLUDED]


def _run_operation(
    operation: Any, *, base_url: str, headers: dict[str, str], examples: int, tally: Tally
) -> list[str]:
    """Fuzz one operation; the failures found, one line each."""
    failures: list[str] = []
    label = f"{operation.method.upper()} {operation.path}"

    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        tally.count(label)
        if response.status_code >= 500:
            tally.server_errors.append(f"{label} -> {response.status_code}")
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - any check's failure
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:1500]}")

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode)
        run: Callable[[], None] = settings(
            max_examples=examples,
            derandomize=False,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )(hypothesis.seed(SEED)(given(case=strategy)(check)))
        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # Nothing to make invalid: an operation with no parameters and no body.
            assert mode is GenerationMode.NEGATIVE, label
    return failures


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_the_document_holds(
    fuzz_stack: Stack,
    service: str,
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
) -> None:
    examples = request.config.getoption("fuzz_examples") or (
        DEEP_EXAMPLES if request.config.getoption("deep") else FUZZ_EXAMPLES
    )
    service_token = _verifier(fuzz_stack).issue_service_token("fuzz", expires_in=3600)
    failures: list[str] = []
    tally = Tally()
    for operation in _operations(fuzz_stack, service):
        token = service_token if operation.path.startswith("/internal") else None
        token = token or _user_token(fuzz_stack)
        failures += _run_operation(
            operation,
            base_url=fuzz_stack.service_url(service),
            headers={"Authorization": f"Bearer {token}"},
            examples=examples,
            tally=tally,
        )
    # The root conftest sums these over every service (and xdist worker) into one line.
    record_property("fuzz_operations", len(tally.operations))
    record_property("fuzz_requests", sum(tally.operations.values()))
    record_property("fuzz_server_errors", len(tally.server_errors))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(dict.fromkeys(failures))
