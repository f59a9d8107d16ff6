"""The faces Shoebox speaks, and how each shapes an error. Which face a route speaks is declared where its
router is mounted (`access.Mount`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Face(StrEnum):
    V1 = "v1"  # seed 003, errors in the seed-000 envelope
    ENTE = "ente"  # {code, message}
    CL = "cl"  # {detail}
    UPPY = "uppy"  # Companion answers {message}
    INTERNAL = "internal"  # service to service: {code, message}, read back by `internal.InternalClient`

    def render(self, status: int, code: str, message: str, request_id: str,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if self is Face.CL:
            return {"detail": message, "requestId": request_id}
        if self in (Face.ENTE, Face.INTERNAL):
            return {"code": code, "message": message, "requestId": request_id}
        if self is Face.UPPY:
            return {"message": message, "code": code, "requestId": request_id}
        return {"error": code, "message": message, "details": details or [], "requestId": request_id}
