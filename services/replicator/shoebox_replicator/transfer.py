"""Moving one object from one tier to another and proving the copy: the piece the copy worker and the
scrubber's repairs share. No database transaction is open while it runs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from shoebox_lib.storage.base import StorageDriver
from shoebox_replicator.throttle import Throttle


class ReplicationFailed(Exception):
    """A copy that does not match its source, or a source not there (yet); tried again later."""


class SourceMismatch(ReplicationFailed):
    """The source's own bytes do not hash as the object should: it is not a copy to make others from."""


async def _hashed(chunks: AsyncIterator[bytes], digest: hashlib._Hash, sizes: list[int]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        digest.update(chunk)
        sizes[0] += len(chunk)
        yield chunk


async def content_hash(chunks: AsyncIterator[bytes]) -> tuple[str, int]:
    """The SHA-256 and size of a stream, read to its end."""
    digest, sizes = hashlib.sha256(), [0]
    async for _ in _hashed(chunks, digest, sizes):
        pass
    return digest.hexdigest(), sizes[0]


async def transfer(source: StorageDriver, target: StorageDriver, key: str, *, expected: str | None,
                   throttle: Throttle | None = None) -> tuple[str, int]:
    """Copy `key` from `source` to `target`, then read the copy back and hash it: the SHA-256 and size of a
    copy that matches `expected` (or, when no hash is known yet, the source's bytes as they streamed).

    Server-side when both tiers are on one endpoint (the bytes never pass through here; the source is hashed
    instead when nothing is known of it), streamed otherwise. Raises `ReplicationFailed`.
    """
    original = await source.head(key)
    if original is None:
        raise ReplicationFailed(f"{key} is not in {source.bucket} (yet)")
    if await target.copy_from(source, key) is None:
        digest, sizes = hashlib.sha256(), [0]
        chunks = source.get_stream(key)
        await target.put_stream(key, _hashed(chunks if throttle is None else throttle.through(chunks), digest, sizes),
                                content_type=original.content_type)
        sent = digest.hexdigest()
        if expected is not None and sent != expected:
            raise SourceMismatch(f"{key} in {source.bucket} hashes to {sent}, not {expected}")
        expected = sent
    else:
        if throttle is not None:  # copied at once by the endpoint: the next copies wait for it instead
            await throttle.spend(original.size)
        if expected is None:
            expected, _ = await content_hash(source.get_stream(key))
    got, size = await content_hash(target.get_stream(key))
    if got != expected or size != original.size:
        raise ReplicationFailed(f"the copy of {key} in {target.bucket} does not match its source "
                                f"({size} bytes, sha256 {got}; wanted {original.size}, {expected})")
    return got, size
