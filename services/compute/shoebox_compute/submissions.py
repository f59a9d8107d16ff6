"""A job's uploaded inputs, streamed into object storage as they arrive (never to a local disk, never held
whole), under the job's own prefix (`keys.job_file(job, "input/<name>")`).

A submission that stops half way (a body cut short, a file past the limit, a refused field, a failed
submit) erases every input it staged: `Staging.discard`, shielded from cancellation.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import AsyncIterator

import anyio

from shoebox_compute.broker import StagedInput
from shoebox_lib import keys
from shoebox_lib.errors import InvalidInput, PayloadTooLarge
from shoebox_lib.storage import Storage

log = logging.getLogger(__name__)

INPUT_FOLDER = "input"
NAME_MAX = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FALLBACK_NAME = "file"


def safe_name(filename: str | None) -> str:
    """A file name a job's path and an object key can hold: the last path segment of what the client
    sent (never a directory of its choosing), its letters folded to ASCII, anything else an `_`, no
    leading dot, at most `NAME_MAX` characters."""
    base = re.split(r"[/\\]", filename or "")[-1]
    folded = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", folded).lstrip("._")
    if len(cleaned) > NAME_MAX:
        stem, dot, extension = cleaned.rpartition(".")
        extension = extension[:16] if dot else ""
        cleaned = (stem if dot else cleaned)[: NAME_MAX - len(extension) - 1].rstrip("._") + \
            ("." + extension if extension else "")
    return cleaned or FALLBACK_NAME


class Staging:
    """The inputs of one job being submitted, each streamed to the PRIMARY tier; `limit` bounds their bytes
    together, `max_files` their number."""

    def __init__(self, storage: Storage, job_id: str, *, limit: int, max_files: int) -> None:
        self.storage = storage
        self.job_id = job_id
        self.limit = limit
        self.max_files = max_files
        self.staged: list[StagedInput] = []
        self._received = 0
        self._writing: str | None = None

    def _path_for(self, filename: str | None) -> str:
        name = safe_name(filename)
        taken = {staged.path for staged in self.staged}
        path, n = f"{INPUT_FOLDER}/{name}", 1
        while path in taken:  # two files of one name both stay: the second is `1_<name>`
            path, n = f"{INPUT_FOLDER}/{n}_{name}", n + 1
        return path

    async def add(self, filename: str | None, content_type: str | None, chunks: AsyncIterator[bytes]
                  ) -> StagedInput:
        if len(self.staged) >= self.max_files:
            raise InvalidInput(f"A job takes at most {self.max_files} files")
        path = self._path_for(filename)
        key = keys.job_file(self.job_id, path)
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if self._received + size > self.limit:
                    raise PayloadTooLarge(f"A job's files may hold at most {self.limit} bytes")
                yield chunk

        self._writing = key
        try:
            await self.storage.primary.put_stream(key, counted(), content_type=content_type)
            if size == 0:
                raise InvalidInput(f"The file {filename or path} is empty")
        except BaseException:
            # The drivers abort a stream that fails; this also covers an object completed just as we were
            # cancelled, and the empty one written before it could be refused.
            with anyio.CancelScope(shield=True):
                await self._forget(key)
            raise
        finally:
            self._writing = None
        self._received += size
        staged = StagedInput(path=path, object_key=key, size=size, content_type=content_type)
        self.staged.append(staged)
        return staged

    async def discard(self) -> None:
        """Erase what was staged (the submission did not become a job)."""
        with anyio.CancelScope(shield=True):
            for staged in self.staged:
                await self._forget(staged.object_key)
        self.staged.clear()

    async def _forget(self, key: str) -> None:
        try:
            await self.storage.primary.delete(key)
        except Exception:
            # The submission's own error is what the caller needs; an object left behind is under the job's
            # prefix, which no job row names, and is found by a listing of `j/`.
            log.warning("could not delete %s after a failed job submission", key, exc_info=True)
