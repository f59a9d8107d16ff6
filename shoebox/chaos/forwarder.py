"""A round-robin TCP forwarder in front of a service's processes, standing in for a load balancer: each new
connection goes to the next backend that accepts it, so one process can die without its callers noticing
more than the connections it had open."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from shoebox.testing.outage import splice
from shoebox_lib.embedded import free_port


class RoundRobin:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._turn = itertools.cycle(range(len(backends)))
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        # A refused backend (dead, restarting) is skipped, as a balancer's passive health check would.
        for _ in range(len(self.backends)):
            port = self.backends[next(self._turn)]
            with contextlib.suppress(OSError):
                return await asyncio.open_connection("127.0.0.1", port)
        return None

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            writer.transport.abort()
            return
        upstream_reader, upstream_writer = upstream
        self._open.update((writer, upstream_writer))
        try:
            await splice((reader, writer), (upstream_reader, upstream_writer))
        finally:
            self._open.discard(writer)
            self._open.discard(upstream_writer)
