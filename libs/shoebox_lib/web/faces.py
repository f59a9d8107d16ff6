"""Which face a request came through, decided by its path, and how each face shapes an error."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any


class Face(Enum):
    V1 = "v1"  # seed 003, errors in the seed-000 envelope
    ENTE = "ente"  # {code, message}
    CL = "cl"  # {detail}
    UPPY = "uppy"  # Companion answers {message}

    def render(self, status: int, code: str, message: str, request_id: str,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if self is Face.CL:
            return {"detail": message, "requestId": request_id}
        if self is Face.ENTE:
            return {"code": code, "message": message, "requestId": request_id}
        if self is Face.UPPY:
            return {"message": message, "code": code, "requestId": request_id}
        return {"error": code, "message": message, "details": details or [], "requestId": request_id}


# Longest prefix wins. Paths not listed answer in the v1 envelope.
_FACE_PREFIXES: list[tuple[str, Face]] = sorted(
    [
        ("/v1/", Face.V1),
        ("/auth/", Face.CL),
        ("/entities", Face.CL),
        ("/entity/", Face.CL),
        ("/compute/", Face.CL),
        ("/admin/", Face.CL),
        ("/users/me", Face.CL),
        ("/users/", Face.ENTE),
        ("/files", Face.ENTE),
        ("/collections", Face.ENTE),
        ("/trash", Face.ENTE),
        ("/public-collection", Face.ENTE),
        ("/public/", Face.ENTE),
        ("/storage/", Face.ENTE),
        ("/s3/", Face.UPPY),
    ],
    key=lambda item: -len(item[0]),
)


# CL's user administration lives among Ente's /users/… routes: /users/ and /users/<number>.
_CL_USERS = re.compile(r"^/users/?(?:[0-9]+/?)?$")


def face_for_path(path: str) -> Face:
    if _CL_USERS.match(path):
        return Face.CL
    for prefix, face in _FACE_PREFIXES:
        if path.startswith(prefix):
            return face
    return Face.V1
