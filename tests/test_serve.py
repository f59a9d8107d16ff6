"""`shoebox serve SERVICE` runs one service alone, as a container would: here auth and metadata as two
processes on two ports, metadata verifying auth's tokens through its JWKS."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import psutil

from shoebox.services import migrate_all
from shoebox.testing import clean_environment, running, shoebox_command, wait_healthy
from shoebox_lib.embedded import free_port
from shoebox_lib.settings import Settings


def serve(service: str, port: int, env: dict[str, str], log: Path) -> AbstractContextManager[subprocess.Popen[bytes]]:
    return running(shoebox_command("serve", service, "--host", "127.0.0.1", "--port", str(port)), log, env)


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = clean_environment()
    for name in ("database_url", "nats_url", "bus_prefix", "admin_password", "bucket_primary", "bucket_secondary"):
        env[f"SHOEBOX_{name.upper()}"] = str(getattr(settings, name))
    env["SHOEBOX_DATA_DIR"] = str(settings.data_dir)
    env.update(extra)
    return env


async def test_two_services_in_two_processes(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    await migrate_all(settings)
    auth_port, metadata_port = free_port(), free_port()
    auth_url, metadata_url = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{metadata_port}"
    env = environment(settings, SHOEBOX_AUTH_URL=auth_url, SHOEBOX_METADATA_URL=metadata_url)
    with serve("auth", auth_port, env, tmp_path / "auth.log") as auth, \
            serve("metadata", metadata_port, env, tmp_path / "metadata.log") as metadata:
        async with httpx.AsyncClient(timeout=10) as client:
            await wait_healthy(auth_url, auth, tmp_path / "auth.log", within=60)
            await wait_healthy(metadata_url, metadata, tmp_path / "metadata.log", within=60)
            login = await client.post(f"{auth_url}/auth/token",
                                      data={"username": settings.admin_email, "password": settings.admin_password})
            token = login.json()["access_token"]
            created = await client.post(f"{metadata_url}/v1/images", headers={"Authorization": f"Bearer {token}"},
                                        json={"filename": "a.png", "content_type": "image/png", "size_bytes": 1})
            assert created.status_code == 201, created.text
            forged = await client.get(f"{metadata_url}/v1/images/{created.json()['image_id']}",
                                      headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
            assert forged.status_code == 401
        await _idle_connection_outlives_a_client_pool(auth_port)


async def _idle_connection_outlives_a_client_pool(port: int) -> None:
    """A connection left idle for longer than httpx keeps one in its pool (5 s) is still open: the server must
    not be the one to close first, or it races a request the client already sent on it (a CI run lost a POST
    that way, as a broken connection with no answer)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep((httpx.Limits().keepalive_expiry or 0) + 2)
    finally:
        writer.close()


def _workers(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The worker processes uvicorn spawned (not multiprocessing's resource tracker)."""
    return [child for child in psutil.Process(proc.pid).children()
            if any("spawn_main" in part for part in child.cmdline())]


def _counted(metrics: str, status: str) -> float:
    return sum(float(value) for value in re.findall(
        rf'^shoebox_http_requests_total{{[^}}]*status="{status}"[^}}]*}} (\S+)$', metrics, re.M))


async def test_two_workers_on_one_port_report_one_set_of_figures(make_settings: Callable[..., Settings],
                                                                 tmp_path: Path) -> None:
    """`--workers 2`: two processes accept on the one port, and /metrics, whichever answers it, counts what
    both served (prometheus_client's multiprocess mode), so a scrape is right however requests were spread."""
    settings = make_settings()
    await migrate_all(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = environment(settings, SHOEBOX_AUTH_URL=url, SHOEBOX_METRICS_TOKEN="scrape-token")
    log = tmp_path / "auth.log"
    command = shoebox_command("serve", "auth", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
    with running(command, log, env) as proc:
        await wait_healthy(url, proc, log, within=60)
        assert len(_workers(proc)) == 2, log.read_text()[-2000:]
        # A new connection for every request, so the kernel hands them to either worker.
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
                                     ) as client:
            for _ in range(40):
                assert (await client.get("/no/such/path")).status_code == 404
            scrape = {"Authorization": "Bearer scrape-token"}
            async with asyncio.timeout(10):  # a worker counts a request just after answering it
                while (seen := _counted((await client.get("/metrics", headers=scrape)).text, "404")) < 40:
                    await asyncio.sleep(0.1)
            for _ in range(4):
                assert _counted((await client.get("/metrics", headers=scrape)).text, "404") == 40 == seen
