"""The contract every storage driver keeps; `tests/test_storage_contract.py` holds both drivers to it."""

from __future__ import annotations

import base64
import binascii
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from shoebox_lib.errors import InvalidInput

# S3's multipart limits.
MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * 1024 * 1024

# The object a tier's health check writes and deletes at once (S3). ":" is no key character: no caller can
# name it, and listings (`is_key`) never show it, even when a crash leaves it behind.
HEALTH_PROBE_KEY = ".shoebox:health-probe"

_KEY = re.compile(r"[A-Za-z0-9!_.*'()/-]{1,1024}")  # used with fullmatch: `$` would let a final newline in


def check_key(key: str) -> str:
    """Keys are chosen by the server; still, refuse anything that could escape a directory."""
    if not _KEY.fullmatch(key) or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"invalid object key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing's prefix: empty, or the start of a key, which may end in "/" (S3 prefixes are plain string
    prefixes, not directories: `d/1` also matches `d/10/…`)."""
    if prefix and not _KEY.fullmatch(prefix):
        raise ValueError(f"invalid key prefix: {prefix!r}")
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix


def is_key(key: str) -> bool:
    """Whether a name found in a bucket is a key the drivers can address (listings skip the others)."""
    try:
        check_key(key)
    except ValueError:
        return False
    return True


def normalise_etag(etag: str) -> str:
    """Clients send ETags quoted or not (Uppy sends both in one request); compare them unquoted."""
    return etag.strip().strip('"')


def check_part_number(part_number: int) -> int:
    """Part numbers come from clients (they ask for the URL of part N), so a bad one is their error."""
    if not MIN_PART_NUMBER <= part_number <= MAX_PART_NUMBER:
        raise InvalidInput(f"part number must be between {MIN_PART_NUMBER} and {MAX_PART_NUMBER}, "
                           f"not {part_number}")
    return part_number


def check_completion(parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The part list of a completion: not empty, numbers valid and strictly ascending; ETags unquoted."""
    if not parts:
        raise InvalidInput("a multipart upload is completed with at least one part")
    previous = 0
    for number, _ in parts:
        check_part_number(number)
        if number <= previous:
            raise InvalidInput("parts must be listed in strictly ascending order of part number")
        previous = number
    return [(number, normalise_etag(etag)) for number, etag in parts]


def content_md5(value: str) -> str:
    """An MD5 as `Content-MD5` carries it (base64 of the 16 bytes); base64 or hex accepted, as Ente does."""
    text = value.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
    if len(raw) != 16:
        raise InvalidInput("an MD5 must be 16 bytes, in base64 or hex")
    return base64.b64encode(raw).decode()


_UNSAFE_IN_QUOTED_FILENAME = re.compile(r'[^A-Za-z0-9 !#$&+,.;=@^_`{}~()\[\]-]')


def content_disposition(filename: str | None, attachment: bool) -> str | None:
    """The Content-Disposition a presigned GET answers with, or None to leave it out.

    The quoted `filename` is an ASCII fallback; `filename*` carries the real name for every browser
    that reads RFC 6266.
    """
    if filename is None and not attachment:
        return None
    kind = "attachment" if attachment else "inline"
    if not filename:
        return kind
    fallback = _UNSAFE_IN_QUOTED_FILENAME.sub("_", filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class StorageFull(OSError):
    """A tier has less free space than it must keep (`storage_min_free_bytes`): writes are about to fail."""


class StorageUnwritable(OSError):
    """A tier's health probe could not write: a read-only mount, a permission, a full or broken disk."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str | None = None


@dataclass(frozen=True)
class StoredObject:
    """One object as a bucket listing sees it."""

    key: str
    size: int
    last_modified: datetime  # aware, UTC


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    etag: str
    size: int


@dataclass(frozen=True)
class MultipartUploadInfo:
    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class PresignedPost:
    """A browser form upload (S3's POST policy): POST `fields` then the file, as multipart/form-data, to `url`."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class CorsRule:
    allowed_origins: list[str]
    allowed_methods: list[str]
    allowed_headers: list[str] = field(default_factory=lambda: ["*"])
    expose_headers: list[str] = field(default_factory=lambda: ["ETag", "Location"])
    max_age_seconds: int = 3000


def browser_upload_cors(origins: list[str]) -> list[CorsRule]:
    """What a bucket needs for browser uploads: PUT parts, POST forms, and the ETag readable (Uppy and the
    Ente web client read it from the part PUT's answer; without ExposeHeaders the browser hides it)."""
    return [CorsRule(allowed_origins=origins, allowed_methods=["GET", "HEAD", "PUT", "POST"])]


class StorageDriver(ABC):
    """One bucket of one tier. URLs are presigned for one method on one key and expire."""

    bucket: str

    @abstractmethod
    async def start(self) -> None:
        """Open clients and create the bucket if it does not exist."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the bucket cannot be reached."""

    @abstractmethod
    async def presign_put(self, key: str, *, expires: int, content_type: str | None = None,
                          content_md5: str | None = None, content_length: int | None = None) -> str:
        """A PUT of one object. `content_md5` (base64) and `content_length` are pinned into the signature:
        the client must send exactly those headers, and storage refuses a body that does not match them."""

    @abstractmethod
    async def presign_post(self, key: str, *, expires: int, content_length: int,
                           content_type: str | None = None) -> PresignedPost:
        """A browser form upload of exactly `content_length` bytes to `key`."""

    @abstractmethod
    async def presign_get(self, key: str, *, expires: int, filename: str | None = None,
                          attachment: bool = False) -> str: ...

    @abstractmethod
    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload; returns its upload id."""

    @abstractmethod
    async def presign_part(self, key: str, upload_id: str, part_number: int, *, expires: int,
                           content_md5: str | None = None, content_length: int | None = None) -> str: ...

    @abstractmethod
    async def presign_complete(self, key: str, upload_id: str, *, expires: int) -> str:
        """A POST that completes the upload with S3's `<CompleteMultipartUpload>` XML body (Ente's completeURL)."""

    @abstractmethod
    async def list_multipart_uploads(self, *, initiated_before: datetime) -> list[MultipartUploadInfo]:
        """Multipart uploads neither completed nor aborted, started before the given time."""

    @abstractmethod
    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo]: ...

    @abstractmethod
    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        """Assemble the parts (number, etag) in order; raise `InvalidInput` if one is missing or wrong."""

    @abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...

    @abstractmethod
    async def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    async def stored_sha256(self, key: str) -> str | None:
        """The object's SHA-256 (hex) as storage itself computed it while receiving the bytes, or None when
        storage cannot vouch for one (then only reading the object can tell)."""

    @abstractmethod
    async def set_cors(self, rules: list[CorsRule]) -> None: ...

    @abstractmethod
    async def get_cors(self) -> list[CorsRule]: ...

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""

    @abstractmethod
    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None
                         ) -> ObjectInfo:
        """Write an object from a stream (workers and the replicator, never the control plane)."""

    @abstractmethod
    def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        """Every object whose key starts with `prefix`, read page by page as the caller goes (a bucket is
        never held whole), in no promised order. Only names that are keys (`check_key`) are listed: the
        others cannot be read or deleted through a driver anyway."""

    @abstractmethod
    def get_stream(self, key: str, *, chunk_size: int = 1024 * 1024, start: int = 0, end: int | None = None
                   ) -> AsyncIterator[bytes]:
        """Read an object, or its bytes [start, end), as a stream; raises `NotFound` if it is missing."""

    async def copy_from(self, source: StorageDriver, key: str) -> ObjectInfo | None:
        """Copy `key` from `source` into this bucket without its bytes passing through this process, and
        return the copy's info; None when storage cannot do that here (the caller then streams it). Raises
        `NotFound` if `source` has no such object. The copy is as good as storage made it: check it."""
        return None

    async def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> ObjectInfo:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one(), content_type=content_type)

    async def get_bytes(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.get_stream(key)])
