"""The filesystem driver: a bucket is a directory, an object a file; presigned URLs go to the data plane.

Layout of a bucket (`<storage_path>/<bucket>/`):

    <key>                                the object's bytes, a plain file
    .shoebox/meta/ab/<sha256(key)>.json  its sidecar: ETag, content type, and the inode it describes
    .shoebox/multipart/<upload_id>/      upload.json, then 00001.part + 00001.json per part
    .shoebox/tmp/held-<random>.tmp       files being written, each locked (`flock`) by its writer while it is
                                         open; renamed into place once complete
    .shoebox/cors.json                   the bucket's CORS rules (kept for `get_cors`; see the data plane)

A listing walks the bucket's directory and leaves `.shoebox/` out.

Keys under `.shoebox/` are refused, so internal state can never be read or written as an object.
A sidecar names the inode of the file it describes: a sidecar left stale by a crash (or read while a
concurrent overwrite is half done) is recognised and the ETag recomputed instead of trusted.

Several processes may share a bucket. A driver starting removes the temporary files whose lock it can take
(their writer is gone: killed mid-write, say), and the others (see `_HELD`) once `STALE_TEMP_SECONDS` old;
a live writer's file is never touched.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread

from shoebox_lib.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from shoebox_lib.settings import Settings
from shoebox_lib.storage.base import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    CorsRule,
    MultipartUploadInfo,
    ObjectInfo,
    PartInfo,
    PresignedPost,
    StorageDriver,
    StorageFull,
    StorageUnwritable,
    StoredObject,
    check_completion,
    check_key,
    check_part_number,
    check_prefix,
    content_disposition,
    is_key,
)

CHUNK_SIZE = 1024 * 1024
LIST_BATCH = 1000  # objects found per trip to the worker thread while listing
URL_PREFIX = "/_storage"
INTERNAL_DIR = ".shoebox"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_SIGNING_CONTEXT = b"shoebox/storage/presigned-url/v1"

# A temporary file is made as `_NASCENT…`, locked, and renamed `_HELD…`; its writer keeps it open, so locked,
# until it is renamed into place or deleted. A sweep removes a held file whose lock it can take (its writer is
# gone) at once, and any other (a nascent one, or one of a version before the locks, whose writer may be alive
# without one) once it is `STALE_TEMP_SECONDS` old: a live write touches its file far more often than that.
_NASCENT = "new-"
_HELD = "held-"
STALE_TEMP_SECONDS = 15 * 60

log = logging.getLogger(__name__)

T = TypeVar("T")


async def _run(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)


# --- Presigned URLs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """What a presigned URL allows: one method on one key (or one part) until `expires_at`.

    PUT writes an object or a part; POST with an upload id completes that upload (S3's XML body); POST
    without one is a browser form upload of exactly `content_length` bytes. `content_md5` and
    `content_length`, when signed, must be sent as headers and must match the body.
    """

    method: str
    bucket: str
    key: str
    expires_at: int
    upload_id: str | None = None
    part_number: int | None = None
    content_type: str | None = None
    disposition: str | None = None
    content_md5: str | None = None
    content_length: int | None = None

    def message(self) -> bytes:
        # JSON keeps the fields apart whatever characters a content type or file name holds.
        fields = [self.method, self.bucket, self.key, self.expires_at, self.upload_id, self.part_number,
                  self.content_type, self.disposition, self.content_md5, self.content_length]
        return json.dumps(fields, separators=(",", ":")).encode()


def _signing_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()


def sign(secret_key: str, grant: Grant) -> str:
    return hmac.new(_signing_key(secret_key), grant.message(), hashlib.sha256).hexdigest()


def grant_params(settings: Settings, grant: Grant) -> dict[str, str]:
    params: dict[str, str] = {"X-Shoebox-Method": grant.method, "X-Shoebox-Expires": str(grant.expires_at)}
    if grant.upload_id is not None:
        params["uploadId"] = grant.upload_id
    if grant.part_number is not None:
        params["partNumber"] = str(grant.part_number)
    if grant.content_type is not None:
        params["X-Shoebox-Content-Type"] = grant.content_type
    if grant.disposition is not None:
        params["X-Shoebox-Disposition"] = grant.disposition
    if grant.content_md5 is not None:
        params["X-Shoebox-Content-MD5"] = grant.content_md5
    if grant.content_length is not None:
        params["X-Shoebox-Content-Length"] = str(grant.content_length)
    params["X-Shoebox-Signature"] = sign(settings.secret_key, grant)
    return params


def grant_url(settings: Settings, grant: Grant) -> str:
    path = f"{URL_PREFIX}/{grant.bucket}/{quote(grant.key, safe='/')}"
    query = urlencode(grant_params(settings, grant), quote_via=quote)
    return f"{settings.public_url.rstrip('/')}{path}?{query}"


def form_url(settings: Settings, grant: Grant) -> str:
    """A form upload posts to the bucket, as on S3; the key it may write is signed into the query."""
    params = {"X-Shoebox-Key": grant.key, **grant_params(settings, grant)}
    return f"{settings.public_url.rstrip('/')}{URL_PREFIX}/{grant.bucket}?{urlencode(params, quote_via=quote)}"


def verify_grant(settings: Settings, method: str, bucket: str, key: str, query: Mapping[str, str]) -> Grant:
    """The grant of a request's URL; `Forbidden` unless it is signed, unexpired and for this method."""
    try:
        part = query.get("partNumber")
        length = query.get("X-Shoebox-Content-Length")
        grant = Grant(
            method=query["X-Shoebox-Method"],
            bucket=bucket,
            key=key,
            expires_at=int(query["X-Shoebox-Expires"]),
            upload_id=query.get("uploadId"),
            part_number=None if part is None else int(part),
            content_type=query.get("X-Shoebox-Content-Type"),
            disposition=query.get("X-Shoebox-Disposition"),
            content_md5=query.get("X-Shoebox-Content-MD5"),
            content_length=None if length is None else int(length),
        )
        signature = query["X-Shoebox-Signature"]
    except (KeyError, ValueError):
        raise Forbidden("the URL is not a presigned storage URL", code="AccessDenied") from None
    if not hmac.compare_digest(sign(settings.secret_key, grant), signature):
        raise Forbidden("the URL's signature does not match", code="SignatureDoesNotMatch")
    if grant.expires_at < time.time():
        raise Forbidden("the URL has expired", code="AccessDenied")
    if grant.method != method and not (grant.method == "GET" and method == "HEAD"):
        raise Forbidden(f"the URL was signed for {grant.method}, not {method}", code="SignatureDoesNotMatch")
    return grant


# --- Files ----------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describes(meta: dict[str, Any] | None, st: os.stat_result) -> bool:
    return meta is not None and meta.get("ino") == st.st_ino and meta.get("size") == st.st_size


# This process's held files. On NFS, flock is a POSIX lock, which never shuts out its own process (and is
# lost when any descriptor of the file closes): a sweep must not even open them.
_ours: set[str] = set()
_ours_guard = threading.Lock()


def _make_temp(tmp_dir: Path, suffix: str) -> tuple[int, str]:
    """A new temporary file, open and locked while it stays open: locked under a name sweeps pass over, then
    renamed, so no sweep ever finds it unlocked while its writer lives. Close it with `_released`."""
    fd, nascent = tempfile.mkstemp(dir=tmp_dir, prefix=_NASCENT, suffix=suffix)
    path = os.path.join(tmp_dir, _HELD + os.path.basename(nascent).removeprefix(_NASCENT))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with _ours_guard:
            _ours.add(path)
        os.rename(nascent, path)
    except BaseException:
        _released(path)
        os.close(fd)
        _unlink(Path(nascent))
        raise
    return fd, path


def _released(path: str) -> None:
    """The temporary file's descriptor is closed: it is no longer this process's to keep from sweeps."""
    with _ours_guard:
        _ours.discard(path)


def _write_json(path: Path, data: dict[str, Any], tmp_dir: Path) -> None:
    fd, tmp = _make_temp(tmp_dir, ".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # still open, so locked: no sweep takes it before it is in place
    except BaseException:
        _unlink(Path(tmp))
        raise
    finally:
        _released(tmp)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
        path.unlink()


def _md5_of(f: BinaryIO) -> str:
    f.seek(0)
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := f.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest()


def _md5_of_fd(fd: int, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    pos = 0
    while pos < size:
        chunk = os.pread(fd, min(CHUNK_SIZE, size - pos), pos)
        if not chunk:
            break
        digest.update(chunk)
        pos += len(chunk)
    return digest.hexdigest()


@dataclass
class _Spooled:
    """A complete temporary file, ready to be renamed into place; open (so locked) until it is closed."""

    spool: _SpoolFile
    size: int
    etag: str
    sha256: str | None = None

    @property
    def path(self) -> Path:
        return self.spool.path


class _SpoolFile:
    """A temporary file filled from a thread, hashing as it goes: MD5 for the ETag, and SHA-256 so that
    storage itself can vouch for an object's checksum without anyone reading it again."""

    def __init__(self, tmp_dir: Path) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = _make_temp(tmp_dir, ".tmp")
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes | bytearray) -> None:
        self.file.write(data)
        self.md5.update(data)
        self.sha256.update(data)

    def finish(self) -> None:
        """On disk; it stays open, so locked, until closed once renamed into place."""
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()
        _released(str(self.path))

    def discard(self) -> None:
        _unlink(self.path)
        self.close()


async def _spool(chunks: AsyncIterator[bytes], tmp_dir: Path, *, limit: int, expected_size: int | None,
                 expected_md5: str | None = None) -> _Spooled:
    """Write a stream to a temporary file in ~1 MiB writes; refuse it past `limit` or `expected_size`, or
    when its MD5 is not `expected_md5` (base64, as `Content-MD5` carries it)."""
    spool = await _run(_SpoolFile, tmp_dir)
    done = False
    try:
        size = 0
        buffer = bytearray()
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is larger than {limit} bytes", code="EntityTooLarge")
            if expected_size is not None and size > expected_size:
                raise InvalidInput("the body is longer than its Content-Length", code="IncompleteBody")
            buffer += chunk
            if len(buffer) >= CHUNK_SIZE:
                data, buffer = buffer, bytearray()
                await _run(spool.write, data)
        if expected_size is not None and size != expected_size:
            raise InvalidInput("the body is shorter than its Content-Length", code="IncompleteBody")
        if buffer:
            await _run(spool.write, buffer)
        if expected_md5 is not None and base64.b64encode(spool.md5.digest()).decode() != expected_md5:
            raise InvalidInput("the body's MD5 is not the Content-MD5 the URL was signed for", code="BadDigest")
        await _run(spool.finish)
        done = True
        return _Spooled(spool, size, spool.md5.hexdigest(), spool.sha256.hexdigest())
    finally:
        if not done:
            with anyio.CancelScope(shield=True):
                await _run(spool.discard)


@dataclass(frozen=True)
class _StoredPart:
    info: PartInfo
    ino: int


class OpenObject:
    """An object opened for reading: it keeps its bytes even if the key is overwritten meanwhile."""

    def __init__(self, fd: int, info: ObjectInfo) -> None:
        self.fd = fd
        self.info = info

    async def read(self, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE
                   ) -> AsyncIterator[bytes]:
        """The bytes from `start` up to `end` (exclusive; the end of the object by default)."""
        stop = self.info.size if end is None else end
        pos = start
        while pos < stop:
            chunk = await _run(os.pread, self.fd, min(chunk_size, stop - pos), pos)
            if not chunk:
                raise OSError(f"object {self.info.key!r} is shorter than its size")
            pos += len(chunk)
            yield chunk

    def close(self) -> None:
        # Closing a descriptor does not wait on the disk, and must not be skipped when a reader is
        # finalised outside any task, so it happens right here.
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# --- What crashes leave --------------------------------------------------------------------------


def _sweep(tmp_dir: Path) -> tuple[int, int]:
    """Remove the temporary files of writers that are gone (see `_HELD`): how many, and their bytes."""
    count = size = 0
    now = time.time()
    with _ours_guard:
        ours = set(_ours)
    for entry in _entries(tmp_dir):
        if entry.path in ours or not entry.is_file(follow_symlinks=False):
            continue
        if entry.name.startswith(_HELD):
            removed = _remove_if_unlocked(entry.path)
        else:
            removed = _remove(entry.path) if _stale(entry, now) else None
        if removed is not None:
            count += 1
            size += removed
    return count, size


def _remove_if_unlocked(path: str) -> int | None:
    """Remove a held file whose lock can be taken (its writer is gone); its size, or None if it stays."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)  # NFS's flock needs a descriptor open for writing
    except OSError:
        return None  # gone meanwhile, or nothing we may touch
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st = os.fstat(fd)
        # Its writer may have renamed it into place and let go of it since we looked: the name must still be
        # this file's.
        if os.lstat(path).st_ino != st.st_ino:
            return None
        os.unlink(path)
        return st.st_size
    except (BlockingIOError, FileNotFoundError):
        return None  # alive, or gone meanwhile
    finally:
        os.close(fd)


def _remove(path: str) -> int | None:
    try:
        size = os.lstat(path).st_size
        os.unlink(path)
    except FileNotFoundError:
        return None
    return size


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as found:
            return list(found)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _stale(entry: os.DirEntry[str], now: float) -> bool:
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_SECONDS
    except FileNotFoundError:
        return False


def _size(count: int) -> str:
    value, unit = float(count), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


# --- The driver -----------------------------------------------------------------------------------


class FilesystemDriver(StorageDriver):
    """One bucket as a directory under `settings.storage_path`."""

    def __init__(self, settings: Settings, bucket: str) -> None:
        if not _BUCKET.match(bucket):
            raise ValueError(f"invalid bucket name: {bucket!r}")
        self.settings = settings
        self.bucket = bucket
        self.root = settings.storage_path / bucket
        internal = self.root / INTERNAL_DIR
        self._tmp = internal / "tmp"
        self._meta = internal / "meta"
        self._uploads = internal / "multipart"
        self._probed_at: float | None = None  # when the health check's write probe last succeeded

    # Paths

    def _object_path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == INTERNAL_DIR:
            raise ValueError(f"invalid object key: {key!r} (reserved by the filesystem driver)")
        return self.root / key

    def _meta_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._meta / digest[:2] / f"{digest}.json"

    def _upload_dir(self, upload_id: str) -> Path | None:
        return self._uploads / upload_id if _UPLOAD_ID.match(upload_id) else None

    @staticmethod
    def _part_paths(upload_dir: Path, part_number: int) -> tuple[Path, Path]:
        return upload_dir / f"{part_number:05d}.part", upload_dir / f"{part_number:05d}.json"

    # Lifecycle

    async def start(self) -> None:
        await _run(self._start)

    def _start(self) -> None:
        for directory in (self._tmp, self._meta, self._uploads):
            directory.mkdir(parents=True, exist_ok=True)
        count, size = _sweep(self._tmp)
        if count:
            log.info("storage %s: removed %d temporary files (%s) left by writers that are gone",
                     self.root, count, _size(size))

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        await _run(self._ping)

    def _ping(self) -> None:
        """Raise unless the tier can take writes: its directory there, free space left, a probe written.

        `os.access` alone says yes to root on a read-only or broken mount, and nothing of a full disk.
        """
        if not os.access(self._tmp, os.W_OK):
            raise OSError(f"storage directory {self.root} is missing or not writable")
        self._check_free_space()
        interval = self.settings.storage_probe_interval_seconds
        if self._probed_at is not None and time.monotonic() - self._probed_at < interval:
            return  # a frequent /healthz does not write every time; a failure is never reused, so shows at once
        self._probe()
        self._probed_at = time.monotonic()

    def _check_free_space(self) -> None:
        minimum = self.settings.min_free_bytes(self.bucket)
        if minimum <= 0:
            return
        st = os.statvfs(self.root)
        free = st.f_bavail * st.f_frsize  # what an unprivileged writer may still use, reserved blocks aside
        if free < minimum:
            raise StorageFull(f"storage {self.root} is full: {_size(free)} free, below the minimum of "
                              f"{_size(minimum)} (storage_min_free_bytes)")
        if st.f_files and not st.f_favail:  # filesystems without an inode count report 0 files in all
            raise StorageFull(f"storage {self.root} is full: no inodes left")

    def _probe(self) -> None:
        """Write, fsync and delete a tiny file where spooled objects are written."""
        try:
            fd, name = _make_temp(self._tmp, ".probe")
            try:
                os.write(fd, b"shoebox health probe\n")
                os.fsync(fd)
            finally:
                try:
                    os.unlink(name)
                finally:
                    os.close(fd)
                    _released(name)
        except OSError as exc:
            raise StorageUnwritable(f"storage {self.root} is not writable: {exc.strerror or exc}") from exc

    # Presigned URLs

    async def presign_put(self, key: str, *, expires: int, content_type: str | None = None,
                          content_md5: str | None = None, content_length: int | None = None) -> str:
        self._object_path(key)
        return grant_url(self.settings, Grant("PUT", self.bucket, key, _expiry(expires), content_type=content_type,
                                              content_md5=content_md5, content_length=content_length))

    async def presign_post(self, key: str, *, expires: int, content_length: int,
                           content_type: str | None = None) -> PresignedPost:
        self._object_path(key)
        grant = Grant("POST", self.bucket, key, _expiry(expires), content_type=content_type,
                      content_length=content_length)
        fields = {"key": key, "success_action_status": "201"}
        if content_type is not None:
            fields["Content-Type"] = content_type
        return PresignedPost(url=form_url(self.settings, grant), fields=fields)

    async def presign_complete(self, key: str, upload_id: str, *, expires: int) -> str:
        self._object_path(key)
        return grant_url(self.settings, Grant("POST", self.bucket, key, _expiry(expires), upload_id=upload_id))

    async def presign_get(self, key: str, *, expires: int, filename: str | None = None,
                          attachment: bool = False) -> str:
        self._object_path(key)
        disposition = content_disposition(filename, attachment)
        return grant_url(self.settings, Grant("GET", self.bucket, key, _expiry(expires),
                                              disposition=disposition))

    async def presign_part(self, key: str, upload_id: str, part_number: int, *, expires: int,
                           content_md5: str | None = None, content_length: int | None = None) -> str:
        self._object_path(key)
        check_part_number(part_number)
        return grant_url(self.settings, Grant("PUT", self.bucket, key, _expiry(expires), upload_id=upload_id,
                                              part_number=part_number, content_md5=content_md5,
                                              content_length=content_length))

    # Objects

    async def head(self, key: str) -> ObjectInfo | None:
        handle = await self.open_object(key)
        if handle is None:
            return None
        handle.close()
        return handle.info

    async def open_object(self, key: str) -> OpenObject | None:
        """Open an object for reading (the data plane serves ranges from it); None if it is missing."""
        return await _run(self._open, key)

    def _open(self, key: str) -> OpenObject | None:
        try:
            fd = os.open(self._object_path(key), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                return None
            meta = _read_json(self._meta_path(key))
            if meta is not None and _describes(meta, st):
                info = ObjectInfo(key, st.st_size, str(meta["etag"]), meta.get("content_type"))
            else:
                info = ObjectInfo(key, st.st_size, _md5_of_fd(fd, st.st_size))
        except BaseException:
            os.close(fd)
            raise
        return OpenObject(fd, info)

    async def get_stream(self, key: str, *, chunk_size: int = CHUNK_SIZE, start: int = 0, end: int | None = None
                         ) -> AsyncIterator[bytes]:
        handle = await self.open_object(key)
        if handle is None:
            raise NotFound(f"no object {key!r} in bucket {self.bucket!r}")
        try:
            stop = handle.info.size if end is None else min(end, handle.info.size)
            async for chunk in handle.read(min(start, stop), stop, chunk_size=chunk_size):
                yield chunk
        finally:
            handle.close()

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None
                         ) -> ObjectInfo:
        return await self.write_object(key, chunks, content_type=content_type)

    async def write_object(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None,
                           expected_size: int | None = None, limit: int = MAX_OBJECT_SIZE,
                           expected_md5: str | None = None) -> ObjectInfo:
        """Write an object from a stream; it replaces any object of that key only once complete."""
        self._object_path(key)
        spooled = await _spool(chunks, self._tmp, limit=limit, expected_size=expected_size,
                               expected_md5=expected_md5)
        return await self._install(key, spooled, content_type)

    async def _install(self, key: str, spooled: _Spooled, content_type: str | None) -> ObjectInfo:
        try:
            await _run(self._commit_object, key, spooled.path, spooled.etag, content_type, spooled.sha256)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _run(spooled.spool.discard)
            raise
        await _run(spooled.spool.close)
        return ObjectInfo(key, spooled.size, spooled.etag, content_type)

    def _commit_object(self, key: str, tmp: Path, etag: str, content_type: str | None, sha256: str | None
                       ) -> None:
        st = os.stat(tmp)
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        # The sidecar goes first: until the rename the object is absent (or the old one, whose inode
        # no longer matches this sidecar), never present without its ETag and content type.
        _write_json(meta_path, {"etag": etag, "content_type": content_type, "ino": st.st_ino,
                                "size": st.st_size, "sha256": sha256}, self._tmp)
        dest = self._object_path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise Conflict(f"key {key!r} clashes with another object's path") from None

    async def stored_sha256(self, key: str) -> str | None:
        return await _run(self._stored_sha256, key)

    def _stored_sha256(self, key: str) -> str | None:
        try:
            st = os.stat(self._object_path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        meta = _read_json(self._meta_path(key))
        if meta is None or not _describes(meta, st) or not meta.get("sha256"):
            return None  # a sidecar lost in a crash: the checksum is unknown, not wrong
        return str(meta["sha256"])

    async def copy_from(self, source: StorageDriver, key: str) -> ObjectInfo | None:
        # A streamed copy is already local here. A hard link would be cheaper but is not a copy: one bit
        # rotted would be rotted on both tiers, so the caller always streams.
        return None

    async def list_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        check_prefix(prefix)
        found = self._walk(prefix)
        try:
            while batch := await _run(_next_batch, found):
                for stored in batch:
                    yield stored
        finally:
            found.close()

    def _walk(self, prefix: str) -> Generator[StoredObject]:
        """The objects under `prefix`, found by a walk that runs in a worker thread, one batch at a time."""
        # A prefix is not a directory ("a/b" matches "a/bc/d"): start at the deepest directory it names
        # whole and go only into directories that can hold a match.
        start, _, _ = prefix.rpartition("/")
        if start.split("/", 1)[0] == INTERNAL_DIR:
            return
        for dirpath, dirnames, filenames in os.walk(self.root / start):
            directory = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if directory == "." else f"{directory}/"
            dirnames[:] = sorted(d for d in dirnames if f"{base}{d}" != INTERNAL_DIR
                                 and _may_match(f"{base}{d}/", prefix))
            for name in sorted(filenames):
                key = f"{base}{name}"
                if not key.startswith(prefix) or not is_key(key):
                    continue
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue  # deleted while the walk went by
                if stat.S_ISREG(st.st_mode):
                    yield StoredObject(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    async def set_cors(self, rules: list[CorsRule]) -> None:
        # The data plane answers every origin (a presigned URL is the access control, not the origin);
        # the rules are kept so an operator can read back what was set, as on S3.
        await _run(_write_json, self.root / INTERNAL_DIR / "cors.json", {"rules": [asdict(r) for r in rules]},
                   self._tmp)

    async def get_cors(self) -> list[CorsRule]:
        found = await _run(_read_json, self.root / INTERNAL_DIR / "cors.json")
        return [CorsRule(**r) for r in (found or {}).get("rules", [])]

    async def delete(self, key: str) -> None:
        await _run(self._delete, key)

    def _delete(self, key: str) -> None:
        path = self._object_path(key)
        if path.is_file():
            _unlink(path)
        _unlink(self._meta_path(key))

    # Multipart uploads

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        self._object_path(key)
        upload_id = secrets.token_hex(16)
        await _run(self._create_upload, upload_id, key, content_type)
        return upload_id

    def _create_upload(self, upload_id: str, key: str, content_type: str | None) -> None:
        upload_dir = self._uploads / upload_id
        upload_dir.mkdir(parents=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        _write_json(upload_dir / "upload.json",
                    {"key": key, "content_type": content_type, "created": time.time()}, self._tmp)

    def _find_upload(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]] | None:
        upload_dir = self._upload_dir(upload_id)
        if upload_dir is None:
            return None
        manifest = _read_json(upload_dir / "upload.json")
        if manifest is None or manifest.get("key") != key:
            return None
        return upload_dir, manifest

    async def _require_upload(self, key: str, upload_id: str) -> Path:
        self._object_path(key)
        found = await _run(self._find_upload, key, upload_id)
        if found is None:
            raise NotFound(f"no multipart upload {upload_id!r} for key {key!r}", code="NoSuchUpload")
        return found[0]

    async def write_part(self, key: str, upload_id: str, part_number: int, chunks: AsyncIterator[bytes], *,
                         expected_size: int | None = None, expected_md5: str | None = None) -> PartInfo:
        """Store one part of an upload (the data plane's PUT of a part URL); a part may be re-sent."""
        check_part_number(part_number)
        upload_dir = await self._require_upload(key, upload_id)
        spooled = await _spool(chunks, self._tmp, limit=MAX_PART_SIZE, expected_size=expected_size,
                               expected_md5=expected_md5)
        try:
            await _run(self._commit_part, upload_dir, part_number, spooled)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _run(spooled.spool.discard)
            raise
        await _run(spooled.spool.close)
        return PartInfo(part_number, spooled.etag, spooled.size)

    def _commit_part(self, upload_dir: Path, part_number: int, spooled: _Spooled) -> None:
        part_path, meta_path = self._part_paths(upload_dir, part_number)
        st = os.stat(spooled.path)
        try:
            _write_json(meta_path, {"etag": spooled.etag, "ino": st.st_ino, "size": st.st_size}, self._tmp)
            os.replace(spooled.path, part_path)
        except FileNotFoundError:
            raise NotFound("the multipart upload was completed or aborted meanwhile",
                           code="NoSuchUpload") from None

    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        upload_dir = await self._require_upload(key, upload_id)
        return await _run(self._list_parts, upload_dir)

    def _list_parts(self, upload_dir: Path) -> list[PartInfo]:
        parts = []
        for path in sorted(upload_dir.glob("*.part")):
            found = self._stored_part(upload_dir, int(path.stem))
            if found is not None:
                parts.append(found.info)
        return parts

    def _stored_part(self, upload_dir: Path, part_number: int) -> _StoredPart | None:
        part_path, meta_path = self._part_paths(upload_dir, part_number)
        try:
            with open(part_path, "rb") as f:
                st = os.fstat(f.fileno())
                meta = _read_json(meta_path)
                etag = str(meta["etag"]) if meta is not None and _describes(meta, st) else _md5_of(f)
        except FileNotFoundError:
            return None
        return _StoredPart(PartInfo(part_number, etag, st.st_size), st.st_ino)

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        wanted = check_completion(parts)
        self._object_path(key)
        found = await _run(self._find_upload, key, upload_id)
        if found is None:
            raise InvalidInput(f"no multipart upload {upload_id!r} for key {key!r}: it was completed, "
                               "aborted, or never started", code="NoSuchUpload")
        upload_dir, manifest = found
        spooled = await _run(self._assemble, upload_dir, wanted)
        info = await self._install(key, spooled, manifest.get("content_type"))
        await _run(shutil.rmtree, upload_dir, True)
        return info

    def _assemble(self, upload_dir: Path, wanted: list[tuple[int, str]]) -> _Spooled:
        """Check every part first (cheap), then concatenate them; the ETag is S3's multipart ETag."""
        stored = [self._check_part(upload_dir, number, etag, last=i == len(wanted) - 1)
                  for i, (number, etag) in enumerate(wanted)]
        size = sum(p.info.size for p in stored)
        if size > MAX_OBJECT_SIZE:
            raise InvalidInput("the parts add up to more than the largest object allowed",
                               code="EntityTooLarge")
        spool = _SpoolFile(self._tmp)
        try:
            for part in stored:
                self._append_part(spool, upload_dir, part)
            spool.finish()
        except BaseException:
            spool.discard()
            raise
        digests = b"".join(bytes.fromhex(p.info.etag) for p in stored)
        etag = f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(stored)}"
        return _Spooled(spool, size, etag, spool.sha256.hexdigest())

    def _check_part(self, upload_dir: Path, number: int, etag: str, *, last: bool) -> _StoredPart:
        part = self._stored_part(upload_dir, number)
        if part is None:
            raise InvalidInput(f"part {number} was never uploaded", code="InvalidPart")
        if part.info.etag != etag:
            raise InvalidInput(f"the ETag given for part {number} does not match the uploaded part",
                               code="InvalidPart")
        if not last and part.info.size < MIN_PART_SIZE:
            raise InvalidInput(f"part {number} is {part.info.size} bytes; every part but the last must "
                               f"be at least {MIN_PART_SIZE} bytes", code="EntityTooSmall")
        return part

    def _append_part(self, spool: _SpoolFile, upload_dir: Path, part: _StoredPart) -> None:
        part_path, _ = self._part_paths(upload_dir, part.info.part_number)
        try:
            with open(part_path, "rb") as f:
                if os.fstat(f.fileno()).st_ino != part.ino:
                    raise FileNotFoundError(part_path)
                # The object's SHA-256 is computed here, while the bytes pass anyway; the MD5 of the
                # whole is not needed (a multipart ETag is made of the parts' MD5s).
                while chunk := f.read(CHUNK_SIZE):
                    spool.file.write(chunk)
                    spool.sha256.update(chunk)
        except FileNotFoundError:
            raise InvalidInput(f"part {part.info.part_number} was re-sent or removed while the upload was "
                               "completed", code="InvalidPart") from None

    async def list_multipart_uploads(self, *, initiated_before: datetime) -> list[MultipartUploadInfo]:
        return await _run(self._list_uploads, initiated_before.timestamp())

    def _list_uploads(self, before: float) -> list[MultipartUploadInfo]:
        found = []
        for upload_dir in self._uploads.iterdir() if self._uploads.is_dir() else []:
            manifest = _read_json(upload_dir / "upload.json")
            if manifest is None or not _UPLOAD_ID.match(upload_dir.name):
                continue
            created = float(manifest.get("created", 0))
            if created < before:
                found.append(MultipartUploadInfo(str(manifest["key"]), upload_dir.name,
                                                 datetime.fromtimestamp(created, UTC)))
        return found

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self._object_path(key)
        found = await _run(self._find_upload, key, upload_id)
        if found is not None:
            await _run(shutil.rmtree, found[0], True)


def _may_match(directory: str, prefix: str) -> bool:
    """Whether keys under `directory` (ending in "/") can start with `prefix`."""
    return directory.startswith(prefix) or prefix.startswith(directory)


def _next_batch(found: Iterator[StoredObject]) -> list[StoredObject]:
    return list(itertools.islice(found, LIST_BATCH))


def _expiry(expires: int) -> int:
    if expires <= 0:
        raise ValueError("a presigned URL must live for at least one second")
    return int(time.time()) + expires
