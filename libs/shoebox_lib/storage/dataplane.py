"""The filesystem driver's data plane: clients PUT and GET presigned URLs here as they would on S3.

Every request carries a URL signed by `FilesystemDriver` for one method on one key (or one part);
bodies stream to disk and are kept only when complete and exactly as long as declared.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shoebox_lib.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, ShoeboxError
from shoebox_lib.settings import Settings
from shoebox_lib.storage.base import MAX_PART_SIZE, ObjectInfo
from shoebox_lib.storage.filesystem import URL_PREFIX, FilesystemDriver, Grant, OpenObject, verify_grant

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
_EXPOSED = "ETag, Content-Length, Content-Range, Accept-Ranges"


class _LengthRequired(ShoeboxError):
    status_code = 411
    code = "MissingContentLength"


class _RangeNotSatisfiable(ShoeboxError):
    status_code = 416
    code = "InvalidRange"

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


def dataplane_app(settings: Settings) -> Starlette:
    """The ASGI app serving `/_storage/{bucket}/{key}` for presigned PUT, GET and HEAD."""
    drivers: dict[str, FilesystemDriver] = {}

    def driver(bucket: str) -> FilesystemDriver:
        if bucket not in drivers:
            drivers[bucket] = FilesystemDriver(settings, bucket)
        return drivers[bucket]

    async def storage(request: Request) -> Response:
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        grant = verify_grant(settings, request.method, bucket, key, request.query_params)
        if request.method == "PUT":
            return await _put(request, driver(bucket), grant)
        return await _get(request, driver(bucket), grant)

    return Starlette(
        routes=[Route(URL_PREFIX + "/{bucket}/{key:path}", storage, methods=["GET", "HEAD", "PUT"])],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD", "PUT"],
                               allow_headers=["*"], expose_headers=_EXPOSED.split(", "), max_age=3600)],
        exception_handlers={ShoeboxError: _error},
    )


async def _error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ShoeboxError):
        raise exc
    headers = {"Content-Range": f"bytes */{exc.size}"} if isinstance(exc, _RangeNotSatisfiable) else None
    return JSONResponse({"error": exc.code, "message": exc.message}, exc.status_code, headers=headers)


def _content_length(request: Request) -> int:
    declared = request.headers.get("content-length")
    if declared is None:
        raise _LengthRequired("a PUT must declare its Content-Length")
    if not declared.isdigit():
        raise InvalidInput("Content-Length is not a number", code="InvalidArgument")
    length = int(declared)
    if length > MAX_PART_SIZE:
        raise PayloadTooLarge(f"a single PUT is at most {MAX_PART_SIZE} bytes", code="EntityTooLarge")
    return length


async def _put(request: Request, driver: FilesystemDriver, grant: Grant) -> Response:
    length = _content_length(request)
    try:
        if grant.upload_id is not None and grant.part_number is not None:
            part = await driver.write_part(grant.key, grant.upload_id, grant.part_number, request.stream(),
                                           expected_size=length)
            etag = part.etag
        else:
            info = await driver.write_object(grant.key, request.stream(), content_type=_put_type(request, grant),
                                             expected_size=length, limit=MAX_PART_SIZE)
            etag = info.etag
    except ClientDisconnect:
        # Nobody is left to answer; the partial body was already thrown away.
        return Response(status_code=400)
    return Response(status_code=200, headers={"ETag": f'"{etag}"', "Access-Control-Expose-Headers": _EXPOSED})


def _put_type(request: Request, grant: Grant) -> str | None:
    """The object's content type: the signed one (which the client must then send, as on S3), else the
    client's own."""
    sent = request.headers.get("content-type")
    if grant.content_type is not None and sent != grant.content_type:
        raise Forbidden(f"the URL was signed for Content-Type {grant.content_type!r}",
                        code="SignatureDoesNotMatch")
    return grant.content_type or sent


async def _get(request: Request, driver: FilesystemDriver, grant: Grant) -> Response:
    handle = await driver.open_object(grant.key)
    if handle is None:
        raise NotFound(f"no object {grant.key!r}", code="NoSuchKey")
    try:
        start, end = _range(request.headers.get("range"), handle.info.size)
    except BaseException:
        handle.close()
        raise
    partial = (start, end) != (0, handle.info.size)
    headers = _object_headers(handle.info, grant)
    headers["Content-Length"] = str(end - start)
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{handle.info.size}"
    status = 206 if partial else 200
    if request.method == "HEAD":
        handle.close()
        return Response(status_code=status, headers=headers)
    return _ObjectResponse(handle, start, end, status, headers)


def _object_headers(info: ObjectInfo, grant: Grant) -> dict[str, str]:
    headers = {
        "ETag": f'"{info.etag}"',
        "Content-Type": info.content_type or "application/octet-stream",
        "Accept-Ranges": "bytes",
        "Access-Control-Expose-Headers": _EXPOSED,
    }
    if grant.disposition is not None:
        headers["Content-Disposition"] = grant.disposition
    return headers


def _range(header: str | None, size: int) -> tuple[int, int]:
    """The bytes [start, end) a Range header asks for; the whole object for no, several or malformed
    ranges (which RFC 9110 lets a server ignore)."""
    match = _RANGE.fullmatch(header) if header else None
    if match is None or match[1] == match[2] == "":
        return 0, size
    first, last = match[1], match[2]
    if first == "":
        start, end = max(0, size - int(last)), size
        if int(last) == 0:
            start = end = size  # a zero-length suffix selects nothing
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
        if last != "" and int(last) < start:
            return 0, size
    if start >= end:
        raise _RangeNotSatisfiable(f"the object is {size} bytes; the range {header!r} selects none of them",
                                   size=size)
    return start, end


class _ObjectResponse(StreamingResponse):
    """Streams a byte range of an open object and closes it however the response ends."""

    def __init__(self, handle: OpenObject, start: int, end: int, status: int, headers: dict[str, str]) -> None:
        super().__init__(handle.read(start, end), status_code=status, headers=headers)
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.handle.close()
