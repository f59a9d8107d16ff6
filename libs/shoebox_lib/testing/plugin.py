"""The pytest harness: real PostgreSQL, NATS and S3 (moto's server), started once per test session.

Give `SHOEBOX_TEST_DATABASE_URL`, `SHOEBOX_TEST_NATS_URL` (with `SHOEBOX_TEST_MQTT_URL`, its MQTT),
`SHOEBOX_TEST_S3_ENDPOINT` or `SHOEBOX_TEST_S3_ENDPOINT_OTHER` (a second S3, for a tier on another endpoint)
to use servers that are already running instead. Every test gets its own
database, bus prefix and buckets through `make_settings`, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shoebox_lib.embedded.ports import wait_for_port
from shoebox_lib.settings import Settings

MOTO_KEY = "testing"
# moto accepts any key; another one still shows that a tier on the other endpoint signs with its own.
MOTO_OTHER_KEY = "testing-other"


STRAGGLER_SECONDS = 30.0


@pytest.fixture(scope="session", autouse=True)
async def no_task_ignores_its_cancellation() -> AsyncIterator[None]:
    """At the end of the session, every task still running is cancelled and must end. One that does not (a
    loop swallowing its cancellation) would otherwise hang the run in the event loop's close with no word of
    why; here it fails the run, named, with its stack."""
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    _, stuck = await asyncio.wait(left, timeout=STRAGGLER_SECONDS) if left else (set(), set())
    if stuck:
        stacks = io.StringIO()
        for task in stuck:
            stacks.write(f"--- {task.get_name()}\n")
            task.print_stack(file=stacks)
        raise RuntimeError(f"{len(stuck)} task(s) did not end within {STRAGGLER_SECONDS:.0f} s of being cancelled "
                           f"at the end of the session:\n{stacks.getvalue()}")


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


@pytest.fixture(scope="session")
def s3_endpoint_other() -> Iterator[str]:
    """A second S3 endpoint, as a second provider would be. Its own process: moto's servers in one process
    share their buckets, so a threaded one could not show an object landed on this endpoint only."""
    given = os.environ.get("SHOEBOX_TEST_S3_ENDPOINT_OTHER")
    if given:
        yield given
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


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


@pytest.fixture
def s3_cold_elsewhere_settings(s3_settings: dict[str, Any], s3_endpoint_other: str) -> dict[str, Any]:
    """`s3_settings` plus a COLD tier on the second endpoint, signing with credentials of its own."""
    return {
        **s3_settings,
        "bucket_cold": f"c-{uuid.uuid4().hex[:10]}",
        "cold_s3_endpoint_url": s3_endpoint_other,
        "cold_s3_access_key_id": MOTO_OTHER_KEY,
        "cold_s3_secret_access_key": MOTO_OTHER_KEY,
    }
