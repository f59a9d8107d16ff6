"""The system's public API as one OpenAPI document, and its operations read back from it, for the suites
that test every route from the declarations (schemathesis, the authorization matrix)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shoebox.routing import OPS_PATHS, is_internal
from shoebox_lib.web import ServiceApp
from shoebox_lib.web.access import ACCESS_KEY, FACE_KEY

METHODS = ("get", "put", "post", "delete", "patch")
VALIDATION_ERROR_REF = "#/components/schemas/HTTPValidationError"


class Location(StrEnum):
    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"


@dataclass(frozen=True)
class Parameter:
    name: str
    location: Location
    required: bool
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # as the OpenAPI writes it: `/users/{user_id}`, never `{user_id:int}`
    access: str
    face: str
    parameters: tuple[Parameter, ...]
    body: Mapping[str, Any] | None  # the request body's schema
    media_type: str | None
    definition: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def located(self, location: Location) -> list[Parameter]:
        return [p for p in self.parameters if p.location is location]


def openapi_path(route_path: str) -> str:
    """`/users/{user_id:int}` (a Starlette path) as the OpenAPI writes it."""
    return re.sub(r":\w+}", "}", route_path)


def public_document(services: Mapping[str, ServiceApp]) -> dict[str, Any]:
    """Every service's OpenAPI merged into the one document of the public port: no `/internal/` route (the
    port never routes them) and no ops route (they live under `/services/<name>/` there).

    FastAPI's own 422 answer is dropped from every operation: no face answers in its shape (CL answers
    422 with the same field names, the others 400), so it declares nothing a client may rely on."""
    merged: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "Shoebox", "version": "1"}, "paths": {},
                              "components": {"schemas": {}}}
    for name, service in services.items():
        document = _namespaced(name, service.app.openapi(), merged["components"]["schemas"])
        for path, methods in document["paths"].items():
            if path in OPS_PATHS or is_internal(path):
                continue
            target = merged["paths"].setdefault(path, {})
            for method, operation in methods.items():
                if method in target:
                    raise AssertionError(f"{method.upper()} {path} is declared by two services")
                target[method] = _without_validation_error(operation)
        merged["components"]["schemas"].update(document.get("components", {}).get("schemas", {}))
    return merged


def _namespaced(service: str, document: dict[str, Any], taken: Mapping[str, Any]) -> dict[str, Any]:
    """The document with each component schema that another service already defines differently renamed
    `<service>__<name>`, so the merged document keeps both."""
    schemas = document.get("components", {}).get("schemas", {})
    clashes = {name for name, schema in schemas.items() if name in taken and taken[name] != schema}
    if not clashes:
        return document
    refs = {f"#/components/schemas/{n}": f"#/components/schemas/{service}__{n}" for n in clashes}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (refs.get(v, v) if k == "$ref" else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    renamed: dict[str, Any] = rewrite(document)
    components = renamed["components"]["schemas"]
    for name in clashes:
        components[f"{service}__{name}"] = components.pop(name)
    return renamed


def _without_validation_error(operation: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(operation)
    answer = result.get("responses", {}).get("422")
    if answer is not None and VALIDATION_ERROR_REF in repr(answer):
        del result["responses"]["422"]
    return result


def operations(document: Mapping[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, definition in methods.items():
            if method in METHODS:
                found.append(operation_of(document, method, path, definition))
    return found


def operation_of(document: Mapping[str, Any], method: str, path: str, definition: Mapping[str, Any]) -> Operation:
    parameters = tuple(
        Parameter(name=p["name"], location=Location(p["in"]), required=bool(p.get("required", False)),
                  schema=p.get("schema", {}))
        for p in (_resolve(document, raw) for raw in definition.get("parameters", []))
    )
    body: Mapping[str, Any] | None = None
    media_type: str | None = None
    request_body = definition.get("requestBody")
    if request_body is not None:
        content = _resolve(document, request_body).get("content", {})
        media_type = next(iter(content), None)
        if media_type is not None:
            body = content[media_type].get("schema", {})
    return Operation(method=method.upper(), path=path, access=str(definition.get(ACCESS_KEY, "")),
                     face=str(definition.get(FACE_KEY, "")), parameters=parameters, body=body,
                     media_type=media_type, definition=definition)


def _resolve(document: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def success_schemas(operation: Operation) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """The schemas the operation declares for its 2xx answers."""
    for status, answer in operation.definition.get("responses", {}).items():
        if status.startswith("2"):
            for media in answer.get("content", {}).values():
                yield status, media.get("schema", {})


def declares_model(operation: Operation) -> bool:
    """Whether some 2xx answer has a schema that says anything (FastAPI writes `{}` for none)."""
    return any(schema for _, schema in success_schemas(operation))
