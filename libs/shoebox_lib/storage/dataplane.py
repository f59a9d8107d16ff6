"""The filesystem driver's data plane: clients PUT and GET presigned URLs here as they would on S3.

Every request carries a URL signed by `FilesystemDriver` for one method on one key (or one part);
bodies stream to disk and are kept only when complete and exactly as long as declared. Besides PUT and
GET it serves what S3 clients POST: the completion of a multipart upload (Ente's `completeURL`, with
S3's XML body) and a browser form upload (S3's POST policy, which Uppy uses for small files).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from xml.sax.saxutils import escape

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shoebox_lib.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, ShoeboxError
from shoebox_lib.settings import Settings
from shoebox_lib.storage.base import MAX_PART_NUMBER, MAX_PART_SIZE, ObjectInfo
from shoebox_lib.storage.filesystem import (
    CHUNK_SIZE,
    URL_PREFIX,
    FilesystemDriver,
    Grant,
    OpenObject,
    verify_grant,
)

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
_EXPOSED = "ETag, Content-Length, Content-Range, Accept-Ranges, Location"
# A completion lists at most 10,000 parts of ~100 bytes each.
_MAX_COMPLETION_BODY = 2 * 1024 * 1024
# What a form adds around the file: its other fields and the boundaries.
_FORM_OVERHEAD = 64 * 1024
_S3_NS = re.compile(r"^\{[^}]*\}")


class _LengthRequired(ShoeboxError):
    status_code = 411
    code = "MissingContentLength"


class RangeNotSatisfiable(ShoeboxError):
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
        if request.method == "POST":
            return await _complete(request, driver(bucket), grant)
        return await _get(request, driver(bucket), grant)

    async def form(request: Request) -> Response:
        bucket, key = request.path_params["bucket"], request.query_params.get("X-Shoebox-Key", "")
        grant = verify_grant(settings, "POST", bucket, key, request.query_params)
        return await _form_upload(request, driver(bucket), grant)

    return Starlette(
        routes=[Route(URL_PREFIX + "/{bucket}", form, methods=["POST"]),
                Route(URL_PREFIX + "/{bucket}/{key:path}", storage, methods=["GET", "HEAD", "PUT", "POST"])],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD", "PUT", "POST"],
                               allow_headers=["*"], expose_headers=_EXPOSED.split(", "), max_age=3600)],
        exception_handlers={ShoeboxError: _error},
    )


async def _error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ShoeboxError):
        raise exc
    headers = {"Content-Range": f"bytes */{exc.size}"} if isinstance(exc, RangeNotSatisfiable) else None
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


def _pinned_headers(request: Request, grant: Grant, length: int) -> str | None:
    """Headers signed into the URL must be sent as signed (as on S3); returns the Content-MD5 to check."""
    if grant.content_length is not None and length != grant.content_length:
        raise Forbidden(f"the URL was signed for Content-Length {grant.content_length}",
                        code="SignatureDoesNotMatch")
    if grant.content_md5 is not None and request.headers.get("content-md5") != grant.content_md5:
        raise Forbidden("the URL was signed for another Content-MD5", code="SignatureDoesNotMatch")
    return grant.content_md5


async def _put(request: Request, driver: FilesystemDriver, grant: Grant) -> Response:
    length = _content_length(request)
    md5 = _pinned_headers(request, grant, length)
    try:
        if grant.upload_id is not None and grant.part_number is not None:
            part = await driver.write_part(grant.key, grant.upload_id, grant.part_number, request.stream(),
                                           expected_size=length, expected_md5=md5)
            etag = part.etag
        else:
            info = await driver.write_object(grant.key, request.stream(), content_type=_put_type(request, grant),
                                             expected_size=length, limit=MAX_PART_SIZE, expected_md5=md5)
            etag = info.etag
    except ClientDisconnect:
        # Nobody is left to answer; the partial body was already thrown away.
        return Response(status_code=400)
    return Response(status_code=200, headers={"ETag": f'"{etag}"', "Access-Control-Expose-Headers": _EXPOSED})


def parse_completion(body: bytes) -> list[tuple[int, str]]:
    """S3's `<CompleteMultipartUpload>` body: (part number, ETag) in the order given."""
    if len(body) > _MAX_COMPLETION_BODY:
        raise InvalidInput("the completion body is too large", code="MalformedXML")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise InvalidInput("document types and entities are not accepted", code="MalformedXML")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise InvalidInput("the completion body is not well-formed XML", code="MalformedXML") from None
    if _S3_NS.sub("", root.tag) != "CompleteMultipartUpload":
        raise InvalidInput("the body must be a <CompleteMultipartUpload>", code="MalformedXML")
    parts = []
    for element in root:
        if _S3_NS.sub("", element.tag) != "Part":
            continue
        fields = {_S3_NS.sub("", child.tag): (child.text or "").strip() for child in element}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag", "")
        if not number.isdigit() or not etag:
            raise InvalidInput("every <Part> needs a <PartNumber> and an <ETag>", code="MalformedXML")
        parts.append((int(number), etag))
    if len(parts) > MAX_PART_NUMBER:
        raise InvalidInput(f"at most {MAX_PART_NUMBER} parts", code="MalformedXML")
    return parts


async def _complete(request: Request, driver: FilesystemDriver, grant: Grant) -> Response:
    """POST to a signed completion URL (Ente's completeURL): assemble the parts, answer as S3 does."""
    if grant.upload_id is None:
        raise Forbidden("the URL was not signed to complete an upload", code="AccessDenied")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_COMPLETION_BODY:
            raise InvalidInput("the completion body is too large", code="MalformedXML")
    info = await driver.complete_multipart(grant.key, grant.upload_id, parse_completion(bytes(body)))
    location = str(request.url.replace(query=""))
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           f"<Location>{escape(location)}</Location><Bucket>{escape(driver.bucket)}</Bucket>"
           f"<Key>{escape(info.key)}</Key><ETag>&quot;{info.etag}&quot;</ETag>"
           "</CompleteMultipartUploadResult>")
    return Response(xml, media_type="application/xml", headers={"Access-Control-Expose-Headers": _EXPOSED})


async def _form_upload(request: Request, driver: FilesystemDriver, grant: Grant) -> Response:
    """A browser form upload (S3's POST policy): the signed key, exactly the signed length."""
    if grant.content_length is None or grant.upload_id is not None:
        raise Forbidden("the URL was not signed for a form upload", code="AccessDenied")
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise _LengthRequired("a form upload must declare its Content-Length")
    if int(declared) > grant.content_length + _FORM_OVERHEAD:
        raise InvalidInput("the file is larger than the policy allows", code="EntityTooLarge")
    # Starlette spools the file part to a temporary file (1 MiB in memory at most) while it parses.
    async with request.form(max_files=1, max_fields=32) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the form has no file", code="InvalidArgument")
        if form.get("key") != grant.key:
            raise Forbidden("the form's key is not the one the policy was signed for", code="AccessDenied")
        sent_type = form.get("Content-Type") or form.get("content-type")
        if grant.content_type is not None and sent_type != grant.content_type:
            raise Forbidden(f"the policy was signed for Content-Type {grant.content_type!r}", code="AccessDenied")
        if upload.size is not None and upload.size != grant.content_length:
            raise InvalidInput(f"the policy allows exactly {grant.content_length} bytes", code="EntityTooLarge")
        info = await driver.write_object(grant.key, _read_upload(upload), content_type=grant.content_type,
                                         expected_size=grant.content_length, limit=grant.content_length)
        status = str(form.get("success_action_status") or "204")
    location = f"{str(request.url.replace(query='')).rstrip('/')}/{grant.key}"
    headers = {"ETag": f'"{info.etag}"', "Location": location, "Access-Control-Expose-Headers": _EXPOSED}
    if status == "201":
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>{escape(location)}</Location>'
               f"<Bucket>{escape(driver.bucket)}</Bucket><Key>{escape(grant.key)}</Key>"
               f"<ETag>&quot;{info.etag}&quot;</ETag></PostResponse>")
        return Response(xml, status_code=201, media_type="application/xml", headers=headers)
    return Response(status_code=200 if status == "200" else 204, headers=headers)


async def _read_upload(upload: UploadFile) -> AsyncIterator[bytes]:
    await upload.seek(0)
    while chunk := await anyio.to_thread.run_sync(upload.file.read, CHUNK_SIZE):
        yield chunk


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
        start, end = byte_range(request.headers.get("range"), handle.info.size)
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


def byte_range(header: str | None, size: int) -> tuple[int, int]:
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
        raise RangeNotSatisfiable(f"the object is {size} bytes; the range {header!r} selects none of them",
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
