"""The topology under test: one PostgreSQL, one NATS and the filesystem storage (three tiers, served by a
data plane process of its own), and `replicas` processes of every service behind a round-robin forwarder.

Every process has its own data directory (its JWKS cache, as a container has its own disk) and a fixed port,
so a process killed with SIGKILL comes back where its forwarder expects it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from shoebox.chaos.forwarder import RoundRobin
from shoebox.dev import ensure_database
from shoebox.routing import DATAPLANE
from shoebox.services import SERVICES, migrate_all
from shoebox.testing import clean_environment, shoebox_command
from shoebox.testing.outage import FullDisk
from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shoebox_lib.settings import Settings

log = logging.getLogger("shoebox.chaos.topology")

ADMIN_PASSWORD = "chaos-admin-password"
DATABASE = "shoebox_chaos"
# SECONDARY's own disk: room for everything a full run stores there, and the free space under which its health
# check calls it failing (the default, 256 MiB, is for a real disk).
TIER_DISK_BYTES = 128 * 2**20
TIER_MIN_FREE = 2**20


class ProcessDied(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    """One process of a service, on its own port; started again after a kill on the same port."""

    service: str
    slot: int
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.slot}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        args = shoebox_command("serve", self.service, "--host", "127.0.0.1", "--port", str(self.port))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, open transactions and unacked messages left as they are."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    async def wait_up(self, path: str = "/healthz", within: float = 120) -> None:
        """Until `path` answers 200 (`/ping` when a dependency is meant to be down; the data plane, which has
        neither, answers anything at all); fails if the process exits meanwhile."""
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(within):
            while True:
                if not self.alive:
                    tail = (await asyncio.to_thread(self.log.read_text, errors="replace"))[-3000:]
                    raise ProcessDied(f"{self.name} exited\n{tail}")
                try:
                    status = (await client.get(f"{self.url}{path}")).status_code
                    if status == 200 or self.service == DATAPLANE:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)


@dataclass
class Timings:
    """Short enough that what a killed process held comes round again within seconds."""

    ack_wait_seconds: float = 5.0
    copy_lease_seconds: float = 5.0


@dataclass
class Topology:
    replicas: int = 2
    timings: Timings = field(default_factory=Timings)
    keep: bool = False  # leave the data and logs behind, to look at after a failure
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shoebox-chaos-")))

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(self.root / "postgres")
        self.nats = EmbeddedNats(self.root / "nats")
        self.processes: dict[str, list[ServiceProcess]] = {}
        self.forwarders: dict[str, RoundRobin] = {}
        self.settings: Settings | None = None
        self.full_disk: FullDisk | None = None
        self.no_full_disk = ""  # why SECONDARY is not a disk of its own, when it is not

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> Topology:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        server_url = await asyncio.to_thread(self.postgres.start)
        await asyncio.to_thread(self.nats.start)
        database_url = await ensure_database(server_url, DATABASE)
        names = (*SERVICES, DATAPLANE)
        ports = {name: [free_port() for _ in range(self.replicas if name != DATAPLANE else 1)] for name in names}
        self.forwarders = {name: RoundRobin(ports[name]) for name in names}
        self.settings = Settings(
            database_url=database_url, nats_url=self.nats.url, mqtt_url=self.nats.mqtt_url, bus_prefix="chaos",
            data_dir=self.root / "data", storage_root=self.root / "storage", secret_key=secrets.token_urlsafe(32),
            admin_password=ADMIN_PASSWORD, bucket_primary="chaos-primary", bucket_secondary="chaos-secondary",
            bucket_cold="chaos-cold", bus_ack_wait_seconds=self.timings.ack_wait_seconds,
            # Presigned URLs point at the data plane's forwarder: clients PUT parts whichever service is down.
            public_url=self.forwarders[DATAPLANE].url, auth_url=self.forwarders["auth"].url,
            metadata_url=self.forwarders["metadata"].url, storage_probe_interval_seconds=1.0,
            secondary_storage_min_free_bytes=TIER_MIN_FREE)
        # SECONDARY on a small disk of its own, so that a fault can fill it for real.
        disk = FullDisk(self.tier_root(self.settings.bucket_secondary), TIER_DISK_BYTES)
        reason = await asyncio.to_thread(disk.mount)
        if reason is None:
            self.full_disk = disk
        else:
            self.no_full_disk = reason
            log.warning("SECONDARY shares the machine's disk (%s): the full-tier fault makes it unwritable instead",
                        reason)
        began = time.monotonic()
        await migrate_all(self.settings)
        log.info("migrated in %.1f s", time.monotonic() - began)
        for forwarder in self.forwarders.values():
            await forwarder.start()
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        for name in names:
            self.processes[name] = [
                ServiceProcess(name, slot, port, self._environment(name, slot), logs / f"{name}-{slot}.log")
                for slot, port in enumerate(ports[name])]
        # Auth first: it makes the signing keys and the admin the others need.
        for process in self.processes["auth"]:
            process.start()
        await asyncio.gather(*(p.wait_up() for p in self.processes["auth"]))
        rest = [p for name in names if name != "auth" for p in self.processes[name]]
        for process in rest:
            process.start()
        await asyncio.gather(*(p.wait_up() for p in rest))
        log.info("every process up in %.1f s", time.monotonic() - began)

    async def close(self) -> None:
        for processes in self.processes.values():
            for process in processes:
                await asyncio.to_thread(process.stop)
        for forwarder in self.forwarders.values():
            await forwarder.close()
        await asyncio.to_thread(self.nats.stop)
        await asyncio.to_thread(self.postgres.stop)
        if self.full_disk is not None:
            await asyncio.to_thread(self.full_disk.unmount)  # its files go with it, kept or not
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def _environment(self, service: str, slot: int) -> dict[str, str]:
        assert self.settings is not None
        env = clean_environment(
            SHOEBOX_REPLICATOR_COPY_LEASE_SECONDS=str(self.timings.copy_lease_seconds),
            SHOEBOX_DATABASE_POOL_SIZE="4",
            # A session left unconfirmed by an outage expires within a minute; swept soon after, within the checks.
            SHOEBOX_UPLOADS_SWEEP_INTERVAL_SECONDS="5",
        )
        for name, value in self.settings.model_dump(exclude_defaults=True).items():
            if value is not None:
                env[f"SHOEBOX_{name.upper()}"] = str(value)
        own = self.root / "procs" / f"{service}-{slot}"
        own.mkdir(parents=True, exist_ok=True)
        env["SHOEBOX_DATA_DIR"] = str(own)  # its own JWKS cache; the storage root is shared
        return env

    # --- what the faults and checks use -------------------------------------------------------------------

    @property
    def config(self) -> Settings:
        if self.settings is None:
            raise RuntimeError("the topology is not started")
        return self.settings

    def url(self, service: str) -> str:
        return self.forwarders[service].url

    def service_processes(self) -> list[ServiceProcess]:
        """Every process of every service (the data plane is no service: it is not killed)."""
        return [p for name in SERVICES for p in self.processes[name]]

    def tier_root(self, bucket: str) -> Path:
        return self.config.storage_path / bucket

    def logs(self) -> Path:
        return self.root / "logs"

