"""A seekable, read-only file over ranged reads, holding only a bounded read-ahead."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable

from .outputs import MediaError

ReadRange = Callable[[int, int], bytes]
"""read_range(offset, length) -> up to length bytes starting at offset (fewer only at the end)."""


class RangeReader(io.RawIOBase):
    """A file object over `read_range`, for pyvips' custom source and PyAV's file input.

    Reads are served from whole blocks of `block` bytes fetched with one ranged read each; at most
    `max_blocks` blocks are kept (least recently used goes first), so what it holds never exceeds
    `block * max_blocks` bytes however big the object is. A read larger than the cache is served
    straight through without being kept.

    Counters, for tests and metrics: `bytes_fetched` (bytes asked of read_range), `fetches` (calls),
    `held` (bytes cached now) and `max_held` (the most it ever held).
    """

    def __init__(
        self, read_range: ReadRange, size: int, *, block: int = 1 << 20, max_blocks: int = 8
    ) -> None:
        super().__init__()
        if size < 0:
            raise ValueError("size must not be negative")
        if block <= 0 or max_blocks <= 0:
            raise ValueError("block and max_blocks must be positive")
        self._read_range = read_range
        self._size = size
        self._block = block
        self._max_blocks = max_blocks
        self._pos = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes_fetched = 0
        self.fetches = 0
        self.held = 0
        self.max_held = 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise OSError("seek before the start of the file")
        self._pos = target
        return target

    def _fetch(self, offset: int, length: int) -> bytes:
        data = self._read_range(offset, length)
        self.fetches += 1
        self.bytes_fetched += len(data)
        expected = min(length, self._size - offset)
        if len(data) < expected:
            raise MediaError(f"the object ended early: {len(data)} of {expected} bytes at offset {offset}")
        return data[:expected]

    def _block_at(self, index: int) -> bytes:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        start = index * self._block
        data = self._fetch(start, min(self._block, self._size - start))
        self._cache[index] = data
        self.held += len(data)
        while len(self._cache) > self._max_blocks:
            _, dropped = self._cache.popitem(last=False)
            self.held -= len(dropped)
        self.max_held = max(self.max_held, self.held)
        return data

    def read(self, size: int | None = -1) -> bytes:
        with self._lock:
            if self.closed:
                raise ValueError("read from a closed RangeReader")
            remaining = self._size - self._pos
            if remaining <= 0:
                return b""
            want = remaining if size is None or size < 0 else min(size, remaining)
            if want == 0:
                return b""
            if want > self._block * self._max_blocks:
                # Larger than the whole cache: pass it through rather than churn the cache.
                data = self._fetch(self._pos, want)
                self._pos += len(data)
                return data
            parts: list[bytes] = []
            pos, end = self._pos, self._pos + want
            while pos < end:
                index, within = divmod(pos, self._block)
                chunk = self._block_at(index)[within : within + (end - pos)]
                if not chunk:
                    break
                parts.append(chunk)
                pos += len(chunk)
            self._pos = pos
            return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self.held = 0
        super().close()


def bytes_reader(data: bytes, *, block: int = 1 << 20, max_blocks: int = 8) -> RangeReader:
    """A RangeReader over bytes already in memory (tests, small inline inputs)."""
    view = memoryview(data)

    def read_range(offset: int, length: int) -> bytes:
        return bytes(view[offset : offset + length])

    return RangeReader(read_range, len(data), block=block, max_blocks=max_blocks)


def file_reader(path: str, *, block: int = 1 << 20, max_blocks: int = 8) -> RangeReader:
    """A RangeReader over a local file, opened for each ranged read (no descriptor kept)."""
    import os

    def read_range(offset: int, length: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    return RangeReader(read_range, os.path.getsize(path), block=block, max_blocks=max_blocks)
