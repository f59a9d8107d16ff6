"""Exception handlers: every error leaves in the shape of the face the request came through."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shoebox_lib.errors import ShoeboxError
from shoebox_lib.web.faces import Face
from shoebox_lib.web.request_id import request_id_var

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR", 429: "TOO_MANY_REQUESTS",
}


def face_of(request: Request) -> Face:
    """The face the matched route was mounted with; for a path no route matched, the app's best guess
    from its routes (see `access.FaceIndex`)."""
    route = request.scope.get("route")
    face = getattr(route, "face", None)
    if isinstance(face, Face):
        return face
    index = getattr(request.app.state, "faces", None)
    return index.face_for(request.url.path) if index is not None else Face.V1


def _respond(request: Request, status: int, code: str, message: str,
             details: list[dict[str, Any]] | None = None, headers: Mapping[str, str] | None = None,
             cl_detail: Any = None) -> JSONResponse:
    face = face_of(request)
    body = face.render(status, code, message, request_id_var.get(), details)
    if face is Face.CL and cl_detail is not None:
        body["detail"] = cl_detail
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShoeboxError)
    async def shoebox_error(request: Request, exc: ShoeboxError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return _respond(request, exc.status_code, exc.code, exc.message, exc.details, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "ERROR")
        return _respond(request, exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        details = [
            {"code": str(e.get("type", "invalid")).upper(), "message": str(e.get("msg", "")),
             "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))}
            for e in errors
        ]
        face = face_of(request)
        # CL clients expect FastAPI's own 422 list; the other faces answer 400 like their servers do.
        status = 422 if face is Face.CL else 400
        cl_detail = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in errors]
        return _respond(request, status, "VALIDATION_ERROR", "Invalid input provided", details,
                        cl_detail=cl_detail)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        if sqlstate.startswith("22"):
            # A data exception: a value the face let through that PostgreSQL cannot hold (an integer past
            # bigint, a NUL in text). Faces bound their input; this is the net under them.
            log.warning("data exception %s on %s %s", sqlstate, request.method, request.url.path)
            return _respond(request, 400, "VALIDATION_ERROR", "A value in the request is out of range or not "
                            "representable")
        if exc.connection_invalidated or sqlstate.startswith(("08", "57P")) or isinstance(exc, InterfaceError):
            return _unavailable(request, "The database is unavailable")
        return await unexpected(request, exc)

    @app.exception_handler(OSError)
    async def connection_error(request: Request, exc: OSError) -> JSONResponse:
        if isinstance(exc, ConnectionError | TimeoutError):
            return _unavailable(request, "A service this request needs is unavailable")
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # The connection may be in any state after a bug: the client must not reuse it.
        return _respond(request, 500, "INTERNAL_ERROR", "Internal server error", headers={"connection": "close"})


def _unavailable(request: Request, message: str) -> JSONResponse:
    log.warning("%s on %s %s", message, request.method, request.url.path)
    return _respond(request, 503, "SERVICE_UNAVAILABLE", f"{message}; try again shortly",
                    headers={"retry-after": "5"})
