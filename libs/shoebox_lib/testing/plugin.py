"""The pytest harness: real PostgreSQL, NATS and S3 (moto's server), started once per test session.

Give `SHOEBOX_TEST_DATABASE_URL`, `SHOEBOX_TEST_NATS_URL` (with `SHOEBOX_TEST_MQTT_URL`, its MQTT) or
`SHOEBOX_TEST_S3_ENDPOINT` to use servers that are already running instead. Every test gets its own
database, bus prefix and buckets through `make_settings`, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shoebox_lib.embedded.ports import wait_for_port
from shoebox_lib.settings import Settings

MOTO_KEY = "testing"


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("SHOEBOX_TEST_DATABASE_URL")
    if given:
        yield given
        return
    # Not under pytest's temp root: pytest makes that 0700 (again, whenever another pytest starts), and
    # when we are root the server runs as an unprivileged user that must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="shoebox-test-pg-"))
    server = EmbeddedPostgres(root / "data")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The NATS URL and the MQTT URL of the same server (NATS serves MQTT too)."""
    given = os.environ.get("SHOEBOX_TEST_NATS_URL")
    if given:
        yield given, os.environ.get("SHOEBOX_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    url = server.start()
    try:
        yield url, server.mqtt_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: tuple[str, str]) -> str:
    return nats_server[0]


@pytest.fixture(scope="session")
def mqtt_url(nats_server: tuple[str, str]) -> str:
    return nats_server[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    given = os.environ.get("SHOEBOX_TEST_S3_ENDPOINT")
    if given:
        yield given
        return
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def _create_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def database_url_for(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def make_settings(
    postgres_url: str, nats_url: str, mqtt_url: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Settings for one test: a new database, a bus prefix and buckets of its own."""
    tag = uuid.uuid4().hex[:10]
    db_name = f"t_{tag}"
    asyncio.run(_create_database(postgres_url, db_name))

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "development",
            "data_dir": tmp_path / "data",
            "database_url": database_url_for(postgres_url, db_name),
            "nats_url": nats_url,
            "mqtt_url": mqtt_url,
            "bus_prefix": f"t{tag}",
            "bucket_primary": f"p-{tag}",
            "bucket_secondary": f"s-{tag}",
            "admin_password": "admin-password-for-tests",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, Any]:
    """Overrides that put storage on the S3 endpoint; pass them to `make_settings`."""
    return {
        "storage_driver": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_access_key_id": MOTO_KEY,
        "s3_secret_access_key": MOTO_KEY,
    }
