"""What metadata's routes declare, read from the app without running it: every route documents its answer
in the OpenAPI (a model, an empty body, or a redirect), and each is mounted with the face its path speaks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shoebox_lib.settings import Settings
from shoebox_lib.web import Face, ServiceApp
from shoebox_metadata.app import create_service


@pytest.fixture(scope="module")
def service() -> ServiceApp:
    return create_service(Settings(environment="development"))


def _untyped(schema: Mapping[str, Any]) -> bool:
    """`{}`, or an object that names no field (what a `dict[str, Any]` return declares)."""
    return not schema or (schema.get("type") == "object" and "properties" not in schema and "$ref" not in schema)


def test_every_route_documents_its_answer(service: ServiceApp) -> None:
    document = service.app.openapi()
    wrong = []
    for route in service.routes():
        path = route.path.replace(":int}", "}")
        answers: dict[str, Any] = document["paths"][path][route.method.lower()]["responses"]
        successes = {status: answer for status, answer in answers.items() if status.startswith("2")}
        if "307" in answers:
            if "Location" not in answers["307"].get("headers", {}) or successes:
                wrong.append(f"{route.method} {path}: a redirect declares its Location and nothing else")
            continue
        if not successes:
            wrong.append(f"{route.method} {path}: no 2xx answer declared")
        for status, answer in successes.items():
            content = answer.get("content", {})
            if status == "204" or not content:
                continue  # declared without a body
            if "application/json" not in content:  # bytes (CL's media and previews): declared as such
                if not all(c.get("schema", {}).get("format") == "binary" for c in content.values()):
                    wrong.append(f"{route.method} {path}: its {status} bytes are not declared binary ({content})")
                continue
            schema = content["application/json"].get("schema", {})
            if _untyped(schema):
                wrong.append(f"{route.method} {path}: its {status} answer has no model ({schema})")
    assert not wrong, "\n".join(wrong)


CL_PREFIXES = ("/entities", "/entity/", "/admin/pref", "/admin/config", "/system/", "/m_insight/")


def test_each_route_is_mounted_with_the_face_of_its_path(service: ServiceApp) -> None:
    def expected(path: str) -> Face:
        if path.startswith("/internal/"):
            return Face.INTERNAL
        if path.startswith(CL_PREFIXES) or path == "/":
            return Face.CL
        # `/s/<token>` is where seed 003's share links open.
        return Face.V1 if path.startswith(("/v1/", "/s/")) else Face.ENTE

    wrong = [f"{r.method} {r.path}: {r.face}" for r in service.routes() if r.face is not expected(r.path)]
    assert not wrong, "\n".join(wrong)
