"""Storage outages as clients see them, for tests: an endpoint that refuses connections, a disk that is gone,
a disk that is full."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from shoebox_lib.embedded import free_port

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def splice(one: Stream, other: Stream) -> None:
    """Copy bytes both ways between two connections until either side ends, which ends both."""

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        if not sink.is_closing():
            sink.transport.abort()

    await asyncio.gather(pipe(one[0], other[1]), pipe(other[0], one[1]))


class EndpointOutage:
    """A TCP forwarder in front of a server. `down()` closes the port (new connections are refused) and cuts the
    open ones; `up()` listens again on the same port. Point a client at `url` instead of the server."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = free_port()
        self.url = f"{parts.scheme}://127.0.0.1:{self.port}"
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        if server is not None:
            await server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, upstream_writer))
        await splice((reader, writer), (upstream_reader, upstream_writer))
        self._open.discard(writer)
        self._open.discard(upstream_writer)


class DiskOutage:
    """A filesystem tier's directory gone (moved aside, a file in its place: nothing can be written or read
    there), and put back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.aside = root.with_name(root.name + ".away")

    def down(self) -> None:
        self.root.rename(self.aside)
        self.root.write_bytes(b"")

    def up(self) -> None:
        self.root.unlink()
        self.aside.rename(self.root)
        shutil.rmtree(self.aside, ignore_errors=True)


class FullDisk:
    """A tier on a small disk of its own (a tmpfs mounted on its directory), filled to the last byte and then
    freed: what a full disk does to writes (ENOSPC), not a stand-in. Mounting takes root; `mount()` says why
    it could not, and the caller decides what to do instead."""

    # Under a bucket's internal directory, which no listing shows, so the filler is never taken for an object.
    FILLER = ".shoebox/chaos-filler"

    def __init__(self, root: Path, size_bytes: int) -> None:
        self.root = root
        self.size_bytes = size_bytes
        self.mounted = False

    def mount(self) -> str | None:
        """Mount the disk on the (empty) directory; the reason it could not be, or None."""
        if os.geteuid() != 0:
            return "mounting a tmpfs takes root"
        self.root.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0755", "tmpfs",
                               str(self.root)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}"
        self.mounted = True
        return None

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True, check=False)
            self.mounted = False

    def fill(self) -> int:
        """Write a file until the disk takes no more; the bytes it took. Unbuffered, so a write that fits only
        in part is taken in part, and the disk ends with no byte free."""
        written = 0
        chunk = b"\0" * (1 << 20)
        (self.root / self.FILLER).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / self.FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                written += os.write(fd, chunk)
        except OSError as full:
            if full.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        (self.root / self.FILLER).unlink(missing_ok=True)
