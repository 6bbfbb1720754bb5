"""Every documented 2xx JSON body the e2e suite receives matches its service's /openapi.json.

The gateway clients of the fixtures carry `ResponseContract.check` as an httpx response
hook: a body that does not validate against the operation's response schema fails the
request that received it, naming the operation and what is wrong. Bodies of routes the
documents do not describe (`/health`, the docs themselves, the stream's bytes) pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs

# Services whose documents describe what the gateway routes to them.
SERVICES = ("auth", "catalog", "library", "media", "proxy")


class ContractError(AssertionError):
    """A 2xx body that its operation's documented schema refuses."""


@dataclass(frozen=True, slots=True)
class Operation:
    service: str
    method: str
    template: str
    pattern: re.Pattern[str]
    # Status code (as the document writes it) -> a validator of that response's JSON body.
    bodies: Mapping[str, jsonschema_rs.Validator]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + "$"
    )


def operations(service: str, document: Mapping[str, Any]) -> list[Operation]:
    """The operations of one service's document, with a validator per JSON response."""
    components = document.get("components", {})
    found: list[Operation] = []
    for template, item in document.get("paths", {}).items():
        for method, operation in item.items():
            bodies = {}
            for status, response in operation.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None and str(status).startswith("2"):
                    # `#/components/...` references resolve against this root.
                    bodies[str(status)] = jsonschema_rs.Draft202012Validator(
                        {**schema, "components": components}, validate_formats=True
                    )
            found.append(Operation(service, method.upper(), template, _pattern(template), bodies))
    # Literal segments before parameters: `/anime/batch` is not `/anime/{id}`.
    found.sort(key=lambda operation: operation.template.count("{"))
    return found


class ResponseContract:
    """The operations of every service, and the check of one response against them."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self.operations = [
            operation
            for service, document in documents.items()
            for operation in operations(service, document)
        ]
        self.checked = 0

    @classmethod
    def fetch(cls, service_urls: Iterable[tuple[str, str]]) -> ResponseContract:
        documents = {}
        with httpx.Client(timeout=15, trust_env=False) as client:
            for service, url in service_urls:
                response = client.get(f"{url}/openapi.json")
                response.raise_for_status()
                documents[service] = response.json()
        return cls(documents)

    def operation(self, method: str, path: str) -> Operation | None:
        method = "GET" if method == "HEAD" else method
        return next(
            (
                operation
                for operation in self.operations
                if operation.method == method and operation.pattern.match(path)
            ),
            None,
        )

    def problem(self, method: str, path: str, status: int, body: Any) -> str | None:
        """Why `body` breaks the documented contract, or None when it keeps it."""
        operation = self.operation(method, path)
        if operation is None or not operation.bodies:
            return None
        validator = operation.bodies.get(str(status))
        where = f"{method} {path} ({operation.service}: {operation.method} {operation.template})"
        if validator is None:
            return f"{where} answered {status}; documented: {sorted(operation.bodies)}"
        self.checked += 1
        errors = [
            f"  at {'/'.join(map(str, error.instance_path)) or '(body)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]
        if not errors:
            return None
        shown = "\n".join(errors[:10]) + ("\n  ..." if len(errors) > 10 else "")
        return f"{where} answered {status} with a body its schema refuses:\n{shown}"

    def check(self, response: httpx.Response) -> None:
        """httpx response hook: raise ContractError on a 2xx JSON body off its schema."""
        content_type = response.headers.get("content-type", "")
        if not 200 <= response.status_code < 300 or "json" not in content_type:
            return
        if response.request.method == "HEAD":
            return
        response.read()
        problem = self.problem(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.json(),
        )
        if problem is not None:
            raise ContractError(problem)
