"""The S3 driver: any S3-compatible service (AWS, MinIO, moto), one long-lived client per bucket."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.settings import S3Endpoint, Settings
from shoebox_lib.storage.base import (
    HEALTH_PROBE_KEY,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    CorsRule,
    MultipartUploadInfo,
    ObjectInfo,
    PartInfo,
    PresignedPost,
    StorageDriver,
    StoredObject,
    check_completion,
    check_key,
    check_part_number,
    check_prefix,
    content_disposition,
    is_key,
    normalise_etag,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# put_stream sends streams up to this size in one PUT and larger ones as parts of at least this size.
STREAM_PART_SIZE = 8 * 1024 * 1024
# Parts grow every thousand parts so 10,000 of them reach ~500 GiB while holding at most this much.
STREAM_PART_SIZE_MAX = 64 * 1024 * 1024

# The health check answers within this, with its own word for why (/healthz gives a check 3 s, then says only
# "TimeoutError"). Its client tries once, with short timeouts: the retries and the 60 s connect timeout of
# the client for real work would outlast any health check on an endpoint that is down or black-holed.
PING_SECONDS = 2.5
_PING_TIMEOUTS: dict[str, Any] = {"connect_timeout": 1, "read_timeout": 2, "retries": {"total_max_attempts": 1}}

_MISSING = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_COMPLETION_ERRORS = {
    "InvalidPart": "a part was never uploaded or its ETag does not match",
    "InvalidPartOrder": "parts must be listed in ascending order of part number",
    "NoSuchUpload": "the multipart upload was completed, aborted, or never started",
    "EntityTooSmall": "every part but the last must be at least 5 MiB",
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _stream_part_size(part_number: int) -> int:
    doublings: int = (part_number - 1) // 1000
    return min(STREAM_PART_SIZE_MAX, STREAM_PART_SIZE << doublings)


class S3Driver(StorageDriver):
    """One bucket on one S3 endpoint: `endpoint` (a tier's, from `Settings.s3_endpoint`), or the shared one."""

    # copy_from copies an object this large in one CopyObject (S3's limit), a larger one part by part.
    copy_single_max_size: int = MAX_PART_SIZE
    # Server-side parts cost no bandwidth of ours, so few large ones: a 5 TiB object still fits in 10,000.
    copy_part_size: int = 512 * 1024 * 1024

    def __init__(self, settings: Settings, bucket: str, *, endpoint: S3Endpoint | None = None) -> None:
        self.settings = settings
        self.bucket = bucket
        self.endpoint = endpoint or settings.s3_endpoint("primary")
        self._stack: AsyncExitStack | None = None
        self._s3: S3Client | None = None
        self._ping_s3: S3Client | None = None
        self._probed_at: float | None = None  # when the health check's write probe last succeeded

    @property
    def _client(self) -> S3Client:
        if self._s3 is None:
            raise RuntimeError(f"the S3 driver of bucket {self.bucket!r} is not started")
        return self._s3

    # Lifecycle

    async def start(self) -> None:
        if self._s3 is not None:
            return
        options: dict[str, Any] = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path"},
            # Checksums only where S3 demands them: presigned URLs then carry no checksum parameters a
            # browser would have to satisfy, and S3-compatible servers without the newer checksums work.
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        session = aioboto3.Session()  # one for both clients: the second reuses the first's service model
        stack = AsyncExitStack()
        self._stack = stack
        try:
            self._s3 = await stack.enter_async_context(self._new_client(session, AioConfig(**options)))
            self._ping_s3 = await stack.enter_async_context(
                self._new_client(session, AioConfig(**options, **_PING_TIMEOUTS)))
            await self._ensure_bucket()
        except BaseException:
            await self.close()
            raise

    def _new_client(self, session: aioboto3.Session, config: AioConfig) -> Any:
        return session.client(
            "s3",
            endpoint_url=self.endpoint.url,
            region_name=self.endpoint.region,
            aws_access_key_id=self.endpoint.access_key_id,
            aws_secret_access_key=self.endpoint.secret_access_key,
            config=config,
        )

    async def _ensure_bucket(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _NO_BUCKET:
                raise
        region = self.endpoint.region
        # us-east-1 is the one region that refuses to be named as a location constraint.
        extra: dict[str, Any] = (
            {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        try:
            await self._client.create_bucket(Bucket=self.bucket, **extra)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    async def close(self) -> None:
        stack, self._stack, self._s3, self._ping_s3 = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    async def ping(self) -> None:
        """Raise unless the bucket answers and takes a write (a tiny probe, put then deleted, at most every
        `storage_probe_interval_seconds` after a success), all within `PING_SECONDS`."""
        if self._ping_s3 is None:
            raise RuntimeError(f"the S3 driver of bucket {self.bucket!r} is not started")
        client = self._ping_s3
        try:
            with anyio.fail_after(PING_SECONDS):
                await client.head_bucket(Bucket=self.bucket)
                interval = self.settings.storage_probe_interval_seconds
                if self._probed_at is not None and time.monotonic() - self._probed_at < interval:
                    return
                await client.put_object(Bucket=self.bucket, Key=HEALTH_PROBE_KEY, Body=b"shoebox health probe\n")
                await client.delete_object(Bucket=self.bucket, Key=HEALTH_PROBE_KEY)
                self._probed_at = time.monotonic()
        except TimeoutError:
            where = self.endpoint.url or f"AWS S3 in {self.endpoint.region}"
            raise TimeoutError(f"{where} did not answer within {PING_SECONDS} s") from None

    # Presigned URLs

    async def _presign(self, operation: str, params: dict[str, Any], expires: int) -> str:
        if expires <= 0:
            raise ValueError("a presigned URL must live for at least one second")
        return await self._client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=expires
        )

    async def presign_put(self, key: str, *, expires: int, content_type: str | None = None,
                          content_md5: str | None = None, content_length: int | None = None) -> str:
        params: dict[str, Any] = {"Key": check_key(key)}
        if content_type is not None:
            params["ContentType"] = content_type
        return await self._presign("put_object", _pinned(params, content_md5, content_length), expires)

    async def presign_post(self, key: str, *, expires: int, content_length: int,
                           content_type: str | None = None) -> PresignedPost:
        if expires <= 0:
            raise ValueError("a presigned URL must live for at least one second")
        fields: dict[str, Any] = {}
        conditions: list[Any] = [["content-length-range", content_length, content_length]]
        if content_type is not None:
            fields["Content-Type"] = content_type
            conditions.append({"Content-Type": content_type})
        # S3 answers a form upload with 204 and no body unless asked; 201 carries the ETag and Location.
        fields["success_action_status"] = "201"
        conditions.append({"success_action_status": "201"})
        signed = await self._client.generate_presigned_post(
            self.bucket, check_key(key), Fields=fields, Conditions=conditions, ExpiresIn=expires
        )
        return PresignedPost(url=signed["url"], fields={k: str(v) for k, v in signed["fields"].items()})

    async def presign_get(self, key: str, *, expires: int, filename: str | None = None,
                          attachment: bool = False) -> str:
        params: dict[str, Any] = {"Key": check_key(key)}
        disposition = content_disposition(filename, attachment)
        if disposition is not None:
            params["ResponseContentDisposition"] = disposition
        return await self._presign("get_object", params, expires)

    async def presign_part(self, key: str, upload_id: str, part_number: int, *, expires: int,
                           content_md5: str | None = None, content_length: int | None = None) -> str:
        params = {"Key": check_key(key), "UploadId": upload_id, "PartNumber": check_part_number(part_number)}
        return await self._presign("upload_part", _pinned(params, content_md5, content_length), expires)

    async def presign_complete(self, key: str, upload_id: str, *, expires: int) -> str:
        return await self._presign("complete_multipart_upload", {"Key": check_key(key), "UploadId": upload_id},
                                   expires)

    # Objects

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            found = await self._client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        etag = normalise_etag(found["ETag"])
        return ObjectInfo(key, found["ContentLength"], etag, found.get("ContentType"))

    async def stored_sha256(self, key: str) -> str | None:
        try:
            found = await self._client.head_object(Bucket=self.bucket, Key=check_key(key), ChecksumMode="ENABLED")
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        # Only a full-object checksum is the object's SHA-256; a multipart upload's is a checksum of checksums.
        checksum = found.get("ChecksumSHA256")
        if not checksum or found.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT" or "-" in checksum:
            return None
        return base64.b64decode(checksum).hex()

    async def set_cors(self, rules: list[CorsRule]) -> None:
        await self._client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": r.allowed_origins, "AllowedMethods": r.allowed_methods,
             "AllowedHeaders": r.allowed_headers, "ExposeHeaders": r.expose_headers,
             "MaxAgeSeconds": r.max_age_seconds}
            for r in rules
        ]})

    async def get_cors(self) -> list[CorsRule]:
        try:
            found = await self._client.get_bucket_cors(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) == "NoSuchCORSConfiguration":
                return []
            raise
        return [CorsRule(allowed_origins=list(r.get("AllowedOrigins", [])),
                         allowed_methods=list(r.get("AllowedMethods", [])),
                         allowed_headers=list(r.get("AllowedHeaders", [])),
                         expose_headers=list(r.get("ExposeHeaders", [])),
                         max_age_seconds=int(r.get("MaxAgeSeconds", 0)))
                for r in found.get("CORSRules", [])]

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.bucket, Key=check_key(key))

    async def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=check_prefix(prefix)):
            for found in page.get("Contents", []):
                if is_key(found["Key"]):
                    yield StoredObject(found["Key"], found["Size"], found["LastModified"].astimezone(UTC))

    async def get_stream(self, key: str, *, chunk_size: int = 1024 * 1024, start: int = 0, end: int | None = None
                         ) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        ranged: dict[str, Any] = {} if (start, end) == (0, None) else {
            "Range": f"bytes={start}-{'' if end is None else end - 1}"}
        try:
            found = await self._client.get_object(Bucket=self.bucket, Key=check_key(key), **ranged)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"no object {key!r} in bucket {self.bucket!r}") from None
            raise
        body = found["Body"]
        async with body:  # entering yields the raw HTTP response; the body is what reads in chunks
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None
                         ) -> ObjectInfo:
        """One PUT for a stream shorter than a part; a multipart upload, a part at a time, otherwise."""
        check_key(key)
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
            if len(buffer) >= STREAM_PART_SIZE:
                return await self._put_multipart(key, buffer, chunks, content_type)
        extra: dict[str, Any] = {} if content_type is None else {"ContentType": content_type}
        sent = await self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer), **extra)
        return ObjectInfo(key, len(buffer), normalise_etag(sent["ETag"]), content_type)

    async def _put_multipart(self, key: str, buffer: bytearray, rest: AsyncIterator[bytes],
                             content_type: str | None) -> ObjectInfo:
        upload_id = await self.create_multipart(key, content_type=content_type)
        try:
            parts: list[tuple[int, str]] = []
            async for number, data in _parts(buffer, rest):
                sent = await self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
                )
                parts.append((number, sent["ETag"]))
            return await self.complete_multipart(key, upload_id, parts)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.abort_multipart(key, upload_id)
            raise

    # Server-side copy

    async def copy_from(self, source: StorageDriver, key: str) -> ObjectInfo | None:
        """A server-side copy when `source` is a bucket on this same endpoint, signed as the same account;
        None otherwise (another endpoint cannot be asked to read from this one's buckets)."""
        if not isinstance(source, S3Driver) or source.endpoint != self.endpoint:
            return None
        check_key(key)
        if source.bucket == self.bucket:
            raise ValueError(f"cannot copy {key!r} onto itself in bucket {self.bucket!r}")
        found = await source.head(key)
        if found is None:
            raise NotFound(f"no object {key!r} in bucket {source.bucket!r}")
        if found.size <= self.copy_single_max_size:
            await self._copy_single(source.bucket, found)
            info = await self.head(key)
            if info is None:
                raise NotFound(f"object {key!r} vanished right after it was copied")
            return info
        return await self._copy_multipart(source.bucket, found)

    async def _copy_single(self, source_bucket: str, found: ObjectInfo) -> None:
        try:
            await self._client.copy_object(
                Bucket=self.bucket, Key=found.key, CopySource={"Bucket": source_bucket, "Key": found.key},
                MetadataDirective="COPY",  # the content type (and any metadata) as the source has them
            )
        except ClientError as exc:
            if _code(exc) in _MISSING:  # deleted since we looked
                raise NotFound(f"no object {found.key!r} in bucket {source_bucket!r}") from None
            raise

    async def _copy_multipart(self, source_bucket: str, found: ObjectInfo) -> ObjectInfo:
        """UploadPartCopy of byte ranges; every part pinned to the ETag we saw, so an object overwritten
        meanwhile fails the copy (412) instead of mixing two versions' bytes."""
        part_size = min(MAX_PART_SIZE, max(self.copy_part_size, -(-found.size // MAX_PART_NUMBER)))
        upload_id = await self.create_multipart(found.key, content_type=found.content_type)
        try:
            parts: list[tuple[int, str]] = []
            for number, start in enumerate(range(0, found.size, part_size), start=1):
                end = min(start + part_size, found.size) - 1
                try:
                    copied = await self._client.upload_part_copy(
                        Bucket=self.bucket, Key=found.key, UploadId=upload_id, PartNumber=number,
                        CopySource={"Bucket": source_bucket, "Key": found.key},
                        CopySourceRange=f"bytes={start}-{end}", CopySourceIfMatch=f'"{found.etag}"',
                    )
                except ClientError as exc:
                    if _code(exc) in _MISSING:  # deleted since we looked
                        raise NotFound(f"no object {found.key!r} in bucket {source_bucket!r}") from None
                    raise
                parts.append((number, copied["CopyPartResult"]["ETag"]))
            return await self.complete_multipart(found.key, upload_id, parts)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.abort_multipart(found.key, upload_id)
            raise

    # Multipart uploads

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        extra: dict[str, Any] = {} if content_type is None else {"ContentType": content_type}
        created = await self._client.create_multipart_upload(Bucket=self.bucket, Key=check_key(key), **extra)
        return created["UploadId"]

    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        paginator = self._client.get_paginator("list_parts")
        parts: list[PartInfo] = []
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Key=check_key(key), UploadId=upload_id):
                parts.extend(PartInfo(p["PartNumber"], normalise_etag(p["ETag"]), p["Size"])
                             for p in page.get("Parts", []))
        except ClientError as exc:
            if _code(exc) == "NoSuchUpload":
                raise NotFound(f"no multipart upload {upload_id!r} for key {key!r}",
                               code="NoSuchUpload") from None
            raise
        return parts

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        wanted = check_completion(parts)
        try:
            await self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=check_key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in wanted]},
            )
        except ClientError as exc:
            code = _code(exc)
            if code in _COMPLETION_ERRORS:
                raise InvalidInput(f"cannot complete the upload of {key!r}: {_COMPLETION_ERRORS[code]}",
                                   code=code) from None
            raise
        info = await self.head(key)
        if info is None:
            raise NotFound(f"object {key!r} vanished right after its upload was completed")
        return info

    async def list_multipart_uploads(self, *, initiated_before: datetime) -> list[MultipartUploadInfo]:
        paginator = self._client.get_paginator("list_multipart_uploads")
        found: list[MultipartUploadInfo] = []
        async for page in paginator.paginate(Bucket=self.bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < initiated_before:
                    found.append(MultipartUploadInfo(upload["Key"], upload["UploadId"], upload["Initiated"]))
        return found

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=check_key(key), UploadId=upload_id
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise


def _pinned(params: dict[str, Any], content_md5: str | None, content_length: int | None) -> dict[str, Any]:
    """Headers signed into a URL: S3 then refuses a body whose MD5 or length differs (BadDigest)."""
    if content_md5 is not None:
        params["ContentMD5"] = content_md5
    if content_length is not None:
        params["ContentLength"] = content_length
    return params


async def _parts(buffer: bytearray, rest: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Cut a stream into numbered parts of `_stream_part_size`; only the last is shorter."""
    number = 1
    exhausted = False
    while True:
        size = _stream_part_size(number)
        while len(buffer) <= size and not exhausted:
            try:
                buffer += await anext(rest)
            except StopAsyncIteration:
                exhausted = True
        if len(buffer) <= size:
            yield number, bytes(buffer)
            return
        if number == MAX_PART_NUMBER:
            raise InvalidInput("the stream is too large for one object")
        yield number, bytes(buffer[:size])
        del buffer[:size]
        number += 1
