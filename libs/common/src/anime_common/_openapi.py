"""OpenAPI from the routes themselves: each endpoint declares its models once, with `document`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute, Route

from anime_common._errors import resolve_error_code

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])

_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_REF_TEMPLATE = "#/components/schemas/{model}"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Operation:
    """What an endpoint accepts and answers, for the generated document."""

    summary: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: Any = None
    status_code: int = 200
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    body_required: bool = True
    body_media_type: str = JSON_MEDIA_TYPE
    also: tuple[int, ...] = ()


def document(
    summary: str,
    *,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: Any = None,
    status_code: int = 200,
    errors: Sequence[int] = (),
    tags: Sequence[str] = (),
    body_required: bool = True,
    body_media_type: str = JSON_MEDIA_TYPE,
    also: Sequence[int] = (),
) -> Callable[[EndpointT], EndpointT]:
    """Attach an `Operation` to an endpoint; `requires` adds the security part by itself.

    A JSON body adds the 400 of a body that is not JSON (parse_json); `body_media_type`
    documents another encoding (a multipart upload) with the same model. `also`: other
    success statuses with the same response (an upsert's 200 beside its 201).
    """
    operation = Operation(
        summary,
        query,
        body,
        response,
        status_code,
        tuple(errors),
        tuple(tags),
        body_required,
        body_media_type,
        tuple(also),
    )

    def decorator(endpoint: EndpointT) -> EndpointT:
        endpoint.__dict__["openapi_operation"] = operation
        return endpoint

    return decorator


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema_for(self, annotation: Any) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=_REF_TEMPLATE)
        self.schemas.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.schemas[annotation.__name__] = schema
            return {"$ref": _REF_TEMPLATE.format(model=annotation.__name__)}
        return schema


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "details": {},
    },
}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": resolve_error_code(status)[0],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _parameters(path: str, query: type[BaseModel] | None, components: _Components) -> list[Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(path)
    ]
    if query is not None:
        schema = query.model_json_schema(ref_template=_REF_TEMPLATE)
        components.schemas.update(schema.pop("$defs", {}))
        required = set(schema.get("required", []))
        parameters.extend(
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        )
    return parameters


def _operation_object(
    route: Route, operation: Operation, components: _Components
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": route.name,
        "parameters": _parameters(route.path, operation.query, components),
    }
    if operation.tags:
        result["tags"] = list(operation.tags)
    if operation.body is not None:
        result["requestBody"] = {
            "required": operation.body_required,
            "content": {
                operation.body_media_type: {"schema": components.schema_for(operation.body)}
            },
        }
    success: dict[str, Any] = {"description": "Success"}
    if operation.response is not None:
        success["content"] = {
            "application/json": {"schema": components.schema_for(operation.response)}
        }
    responses: dict[str, Any] = {
        str(status): success for status in sorted({operation.status_code, *operation.also})
    }
    errors = set(operation.errors)
    permissions = route.endpoint.__dict__.get("required_permissions")
    if permissions is not None:
        result["security"] = [{"bearer": []}]
        result["x-permissions"] = sorted(permissions)
        errors |= {401, 403} if permissions else {401}
    if operation.query is not None or operation.body is not None:
        errors.add(422)
    if operation.body is not None and operation.body_media_type == JSON_MEDIA_TYPE:
        errors.add(400)
    for status in sorted(errors):
        responses[str(status)] = _error_response(status)
    result["responses"] = responses
    return result


def openapi_document(*, title: str, version: str, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route."""
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        operation: Operation | None = route.endpoint.__dict__.get("openapi_operation")
        if operation is None:
            continue
        path = _PATH_PARAM.sub(r"{\1}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation_object(
                route, operation, components
            )
    components.schemas["Error"] = _ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
