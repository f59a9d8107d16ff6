"""`shoebox dev`: the whole system on one machine, on embedded parts unless real ones are configured."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from starlette.types import ASGIApp

from shoebox.allinone import AllInOne
from shoebox.services import build_all, migrate_all
from shoebox.serving import serve, serve_workers, settled
from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres
from shoebox_lib.embedded.nats import DEFAULT_MQTT_PORT, port_if_free, stop_stale_server
from shoebox_lib.logs import configure_logging
from shoebox_lib.settings import Settings, get_settings

log = logging.getLogger("shoebox.dev")

DATABASE = "shoebox"


def _configured(name: str) -> bool:
    return bool(os.environ.get(f"SHOEBOX_{name.upper()}"))


def _installation_secret(data_dir: Path) -> str:
    """A random secret per data directory, so even a development install signs URLs with its own key."""
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


async def ensure_database(server_url: str, name: str) -> str:
    """The URL of database `name` on the server, created if it is not there yet."""
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


# `make run`'s third tier on the filesystem driver (the shared settings leave COLD unset: a deployment names it).
DEV_COLD_BUCKET = "shoebox-cold"


class DevStack:
    """Starts what is not configured (PostgreSQL, NATS), stops it again in reverse order."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.overrides: dict[str, Any] = {}

    def settings(self) -> Settings:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        overrides: dict[str, Any] = {"data_dir": self.data_dir}
        if not _configured("secret_key"):
            overrides["secret_key"] = _installation_secret(self.data_dir)
        url = f"http://127.0.0.1:{self.port}"
        for name in ("public_url", "auth_url", "metadata_url"):
            if not _configured(name):
                overrides[name] = url
        if not _configured("bucket_cold") and os.environ.get("SHOEBOX_STORAGE_DRIVER", "filesystem") == "filesystem":
            overrides["bucket_cold"] = DEV_COLD_BUCKET  # three tiers, each a directory of its own
        if not _configured("database_url"):
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            server = self.postgres.start()
            overrides["database_url"] = asyncio.run(ensure_database(server, DATABASE))
        if not _configured("nats_url"):
            # MQTT on the configured port, else on the one CL's clients assume when it is free.
            mqtt_port = urlsplit(os.environ["SHOEBOX_MQTT_URL"]).port if _configured("mqtt_url") else None
            store = self.data_dir / "nats"
            stop_stale_server(store)  # first: one a killed `shoebox dev` left would still hold 1883
            self.nats = EmbeddedNats(store, mqtt_port=mqtt_port or port_if_free(DEFAULT_MQTT_PORT),
                                     mqtt_port_fallback=mqtt_port is None)
            overrides["nats_url"] = self.nats.start()
            if not _configured("mqtt_url"):
                overrides["mqtt_url"] = self.nats.mqtt_url
        self.overrides = overrides
        return Settings(**overrides)

    def environment(self) -> dict[str, str]:
        """The settings this stack chose, as the variables a worker process reads them from."""
        return {f"SHOEBOX_{name.upper()}": str(value) for name, value in self.overrides.items()}

    def stop(self) -> None:
        if self.nats:
            self.nats.stop()
        if self.postgres:
            self.postgres.stop()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def default_workers() -> int:
    """One worker per core beyond the first (PostgreSQL, NATS and the clients need one), at most 4."""
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def run_dev(data_dir: Path, port: int, host: str = "127.0.0.1", workers: int | None = None) -> None:
    # uvicorn handles Ctrl-C and SIGTERM while it serves, then restores these handlers and re-raises the
    # signal; ours turn it into a normal exit, so the embedded PostgreSQL and NATS below are stopped too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)
    workers = workers or default_workers()
    stack = DevStack(data_dir, port)
    try:
        settings = stack.settings()
        configure_logging(settings.log_level)
        asyncio.run(migrate_all(settings))
        log.info("shoebox is starting on http://%s:%d (data in %s, %d worker%s)", host, port, stack.data_dir,
                 workers, "" if workers == 1 else "s")
        log.info("MQTT for CL clients at %s", settings.mqtt_url)
        if workers == 1:
            serve(build_app(settings), settings, host, port, lifespan="on", timeout_graceful_shutdown=10)
        else:
            # Each worker builds the whole system from the environment: what this process chose (the
            # embedded servers' URLs, the installation secret…) is handed down there.
            os.environ.update(stack.environment())
            serve_workers("shoebox.dev:worker_app", settings, host, port, workers, lifespan="on",
                          timeout_graceful_shutdown=10)
    finally:
        stack.stop()


def worker_app() -> ASGIApp:
    """What each worker of `shoebox dev --workers N` serves: the whole system, on the stack its parent runs."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return settled(build_app(settings), settings)


def build_app(settings: Settings) -> AllInOne:
    """The one-port app; every response, the router's own included, carries a request id."""
    dataplane = None
    if settings.storage_driver == "filesystem":
        from shoebox_lib.storage.dataplane import dataplane_app

        dataplane = dataplane_app(settings)
    return AllInOne(build_all(settings), dataplane)
