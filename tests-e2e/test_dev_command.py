"""`shoebox dev` as a person runs it: embedded PostgreSQL and NATS, filesystem storage, one port.

Starts, serves an upload end to end, stops on SIGTERM, starts again on the same data directory and
still has the account, the image, its thumbnail and its replicas, on three tiers.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

from shoebox.testing import shoebox_dev, stop, tail, wait_healthy
from shoebox.testing.flow import bearer, fetch_variant, make_png, upload, wait_processed
from shoebox_lib.embedded import free_port
from shoebox_lib.embedded.children import command_line

ADMIN = "admin@shoebox.local"


async def test_dev_runs_everything_on_one_port_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    with shoebox_dev(data_dir, port, log) as proc:
        seconds, health = await wait_healthy(url, proc, log)
        print(f"shoebox dev healthy after {seconds:.1f}s")  # the README's figure comes from here
        assert set(health["services"]) == {"auth", "metadata", "uploads", "replicator", "compute"}  # type: ignore[arg-type]
        found = re.search(rf"{re.escape(ADMIN)} / password: (\S+)", log.read_text())
        assert found, "the generated admin password is printed on first start"
        password = found.group(1)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            login = await client.post("/auth/token", data={"username": ADMIN, "password": password})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            data = make_png(320, 200)
            uploaded = await upload(client, token, data)
            await wait_processed(client, token, uploaded.image_id)
            before = await wait_on_every_tier(client, token, uploaded.image_id)
            thumb = await fetch_variant(client, token, uploaded.image_id, "thumb")
        assert stop(proc) == 0, tail(log)

    first_log = log.read_text()
    with shoebox_dev(data_dir, port, log) as proc:
        await wait_healthy(url, proc, log)
        assert log.read_text()[len(first_log):].count("password:") == 0, "the password is shown once only"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            login = await client.post("/auth/token", data={"username": ADMIN, "password": password})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            after = (await client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
            assert after == before
            assert await fetch_variant(client, token, uploaded.image_id, "original") == data
            assert await fetch_variant(client, token, uploaded.image_id, "thumb") == thumb
        assert stop(proc) == 0, tail(log)
    # The replicas are real copies on disk, each in its tier's own directory.
    key = uploaded.complete["original_object_key"]
    for tier in ("shoebox-secondary", "shoebox-cold"):
        copies = [p for p in (data_dir / "storage").glob(f"{tier}/{key}") if p.is_file()]
        assert [p.read_bytes() for p in copies] == [data], tier


async def wait_on_every_tier(client: httpx.AsyncClient, token: str, image_id: str) -> dict[str, Any]:
    """The image once each of its objects has a replica in SECONDARY and in COLD."""
    async with asyncio.timeout(60):
        while True:
            body: dict[str, Any] = (await client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()
            by_tier = Counter(r["tier"] for r in body["replicas"])
            if by_tier["secondary"] == by_tier["cold"] == 1 + sum(v["status"] == "ready" for v in body["variants"]):
                return body
            await asyncio.sleep(0.1)


async def test_dev_killed_by_sigkill_takes_its_servers_along_and_starts_again(tmp_path: Path) -> None:
    """One installation, one NATS: SIGKILL runs no cleanup, yet its PostgreSQL and NATS go with it, and the
    next start runs on the same stores with a single nats-server."""
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with shoebox_dev(data_dir, port, log) as proc:
        await wait_healthy(url, proc, log)
        nats_pid = int((data_dir / "nats" / "nats.pid").read_text())
        postgres_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        proc.kill()
        proc.wait()
    for pid in (nats_pid, postgres_pid):
        await wait_gone(pid)
    with shoebox_dev(data_dir, port, log) as proc:
        await wait_healthy(url, proc, log)
        config = str((data_dir / "nats" / "nats.conf").resolve())
        servers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and config in command_line(int(p.name))]
        assert len(servers) == 1, servers
        assert stop(proc) == 0, tail(log)


async def test_dev_with_two_workers_serves_an_upload_end_to_end_and_stops_its_servers(tmp_path: Path) -> None:
    """`--workers 2`: two processes run the whole system beside the one PostgreSQL and NATS; a request can
    land on either, and an upload's every step (declare, sign, complete, thumbnail, replicas) still works.
    SIGTERM stops both, then the servers."""
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with shoebox_dev(data_dir, port, log, "--workers", "2") as proc:
        await wait_healthy(url, proc, log)
        workers = [child for child in psutil.Process(proc.pid).children()
                   if any("spawn_main" in part for part in child.cmdline())]
        assert len(workers) == 2, tail(log)
        nats_pid = int((data_dir / "nats" / "nats.pid").read_text())
        postgres_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        password = re.findall(rf"{re.escape(ADMIN)} / password: (\S+)", log.read_text())
        assert len(password) == 1, "one admin, its password shown once, however many workers start"
        # New connections, so both workers answer some of it.
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
                                     ) as client:
            login = await client.post("/auth/token", data={"username": ADMIN, "password": password[0]})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            data = make_png(320, 200)
            uploaded = await upload(client, token, data)
            await wait_processed(client, token, uploaded.image_id)
            await wait_on_every_tier(client, token, uploaded.image_id)
            assert await fetch_variant(client, token, uploaded.image_id, "original") == data
        assert stop(proc) == 0, tail(log)
    for pid in (nats_pid, postgres_pid, *(worker.pid for worker in workers)):
        await wait_gone(pid)


async def wait_gone(pid: int) -> None:
    """The process has exited (a zombie not yet reaped by its new parent counts as exited)."""
    deadline = time.monotonic() + 30
    while argv := command_line(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # a failing test leaves no server behind
            raise AssertionError(f"{pid} {argv} still runs")
        await asyncio.sleep(0.1)
