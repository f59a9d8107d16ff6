"""What a media task writes, where it writes it, and how it fails or stops."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class Output:
    """One file a task produced; `path` is relative to the job, e.g. "output/thumb.jpg"."""

    path: str
    content_type: str
    size: int


class OutputSink(Protocol):
    """Where a task's files go (the job's object storage, in production)."""

    def put(self, path: str, data: bytes, content_type: str) -> Output:
        """Store a small output whole."""
        ...

    def put_file(self, path: str, file: BinaryIO, content_type: str) -> Output:
        """Store a larger output by streaming `file` from its current position to its end."""
        ...


class MediaError(Exception):
    """The input cannot be processed, and retrying will not help.

    A decompression bomb, a truncated or corrupt file, content that is not what its name says, or a
    format or codec we do not handle. The message says which, for the job's `error_message`.
    """


class Cancelled(Exception):
    """The job was cancelled: raised by a Progress callback, it stops the task."""


Progress = Callable[[int], None]
"""Called with a percent 0..100 as work advances; may raise Cancelled to stop the task."""


class MemorySink:
    """An OutputSink that keeps outputs in a dict (tests, and callers that upload afterwards)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.types: dict[str, str] = {}

    def put(self, path: str, data: bytes, content_type: str) -> Output:
        self.files[path] = bytes(data)
        self.types[path] = content_type
        return Output(path, content_type, len(data))

    def put_file(self, path: str, file: BinaryIO, content_type: str) -> Output:
        buffer = io.BytesIO()
        while chunk := file.read(1 << 20):
            buffer.write(chunk)
        return self.put(path, buffer.getvalue(), content_type)
