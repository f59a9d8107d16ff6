"""The bytes of one uploaded file, streamed to the PRIMARY tier as they arrive and hashed as they pass.

Nothing holds the whole file: the driver sends it on part by part (S3 multipart, or the filesystem
driver's own temporary file), and what stays here is the running digests and the first MiB, which is
all the probe needs. An upload that ends early or runs past its limit leaves no object behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from shoebox_lib.errors import InvalidInput, PayloadTooLarge
from shoebox_lib.storage import Storage

log = logging.getLogger(__name__)

HEAD_BYTES = 1024 * 1024
# Hashing is CPU work: it runs in a worker thread (hashlib lets go of the GIL) a batch at a time, so the
# cost of the hand-off is paid once per MiB rather than once per network chunk.
HASH_BATCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Received:
    object_key: str
    size: int
    md5: str  # hex MD5 of the file's bytes
    sha256: str  # hex SHA-256 of the file's bytes
    head: bytes  # the first HEAD_BYTES bytes (all of them for a smaller file)


class _Tally:
    """Size, digests and head of a stream, kept as it passes."""

    def __init__(self) -> None:
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self.head = bytearray()
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)

    @property
    def batch_ready(self) -> bool:
        return self._pending_bytes >= HASH_BATCH_BYTES

    async def digest_pending(self) -> None:
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        if batch:
            await asyncio.to_thread(self._digest, batch)

    def _digest(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self.md5.update(chunk)
            self.sha256.update(chunk)


async def receive(storage: Storage, key: str, chunks: AsyncIterator[bytes], *, limit: int,
                  content_type: str | None) -> Received:
    """Store `chunks` under `key` in the PRIMARY tier; refuse more than `limit` bytes or none at all.

    Errors from `chunks` (a body cut short) propagate after the partial object is gone.
    """
    tally = _Tally()

    async def passing() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if not chunk:
                continue
            if tally.size + len(chunk) > limit:
                raise PayloadTooLarge(f"The file is larger than the {limit} bytes allowed")
            tally.add(chunk)
            if tally.batch_ready:
                await tally.digest_pending()
            yield chunk
        await tally.digest_pending()

    driver = storage.primary
    try:
        await driver.put_stream(key, passing(), content_type=content_type)
        if tally.size == 0:
            raise InvalidInput("The file is empty")
    except BaseException:
        # The drivers abort a stream that fails (S3 aborts the multipart upload, the filesystem drops its
        # temporary file); this also covers a single PUT that S3 completed just as we were cancelled,
        # and the empty object that was written before it could be refused.
        with anyio.CancelScope(shield=True):
            await _forget(storage, key)
        raise
    return Received(object_key=key, size=tally.size, md5=tally.md5.hexdigest(),
                    sha256=tally.sha256.hexdigest(), head=bytes(tally.head))


async def _forget(storage: Storage, key: str) -> None:
    try:
        await storage.primary.delete(key)
    except Exception:
        # The upload's own error is what the caller needs; an object left behind is found by the audit.
        log.warning("could not delete %s after a failed upload", key, exc_info=True)
