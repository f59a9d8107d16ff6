"""Upload benchmarks.

- part URLs signed per second through the one port, authenticated, for the Uppy face (the v1 face's
  figure is taken in `__main__`);
- the control plane's CPU seconds per GiB uploaded: auth, metadata and uploads each run alone
  (`shoebox serve`), storage is moto's S3 server in a process of its own, the client PUTs the parts
  straight to it; psutil reads the CPU time every process spent while ≥ 1 GiB went through.

    python -m benchmarks.uploads   (the CPU figure alone)
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psutil

from benchmarks import system

MiB = 1024 * 1024
PART = 8 * MiB
FILE = 128 * MiB
IDLE_SECONDS = 10.0
Wrk = Callable[..., Awaitable[dict[str, Any]]]


async def signing(client: httpx.AsyncClient, url: str, token: str, wrk: Wrk) -> list[dict[str, Any]]:
    """Uppy's part-URL requests (GET /s3/multipart/{id}/{n}?key=) under wrk, through the one port."""
    if not shutil.which("wrk"):
        return []
    headers = {"Authorization": f"Bearer {token}"}
    started = (await client.post("/s3/multipart", headers=headers, json={
        "filename": "bench.bin", "type": "application/octet-stream", "metadata": {}})).json()
    path = f"/s3/multipart/{started['uploadId']}/{{n}}?key={started['key']}"
    return [await wrk("GET /s3/multipart/{id}/{n} (Uppy: sign a part URL, authenticated)", url, "GET", path,
                      token, modulo=10_000)]


def cpu_seconds(proc: psutil.Process) -> float:
    """User and system CPU of a process and of the children it runs."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def upload_one(client: httpx.AsyncClient, storage: httpx.AsyncClient, urls: dict[str, str],
                     headers: dict[str, str], body: bytes, size: int = FILE) -> str:
    """One image of `size` bytes through the v1 face, each part `body`."""
    image = (await client.post(f"{urls['metadata']}/v1/images", headers=headers, json={
        "filename": "bench.bin", "content_type": "application/octet-stream", "size_bytes": size})).json()
    session = (await client.post(f"{urls['uploads']}/v1/uploads:resumable", headers=headers, json={
        "image_id": image["image_id"], "total_bytes": size})).json()
    parts = []
    for number in range(1, session["part_count"] + 1):
        signed = (await client.post(f"{urls['uploads']}/v1/uploads/{session['session_id']}/parts/{number}",
                                    headers=headers)).json()
        put = await storage.put(signed["url"], content=body)
        put.raise_for_status()
        parts.append({"part_number": number, "etag": put.headers["etag"]})
    done = await client.post(f"{urls['uploads']}/v1/uploads/{session['session_id']}:complete", headers=headers,
                             json={"parts": parts})
    done.raise_for_status()
    image_id: str = image["image_id"]
    return image_id


async def control_plane_cpu(gib: float = 1.0) -> dict[str, Any]:
    files = max(1, round(gib * 1024 * MiB / FILE))
    async with system.started(("auth", "metadata", "uploads"), public="uploads") as live:
        return await _measure(live.urls, files, live.services, live.storage, list(live.servers))


def _server_processes(servers: list[Any]) -> list[psutil.Process]:
    """The embedded PostgreSQL and NATS servers, found by the data directories they were started on."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        dirs = [str(getattr(server, "data_dir", None) or getattr(server, "store_dir", None)) for server in servers]
        if any(d in cmdline for d in dirs) and proc.pid != os.getpid():
            found.append(proc)
    return found


async def _measure(urls: dict[str, str], files: int, services: dict[str, subprocess.Popen[bytes]],
                   moto: subprocess.Popen[bytes], servers: list[Any]) -> dict[str, Any]:
    body = os.urandom(PART)
    processes = {name: psutil.Process(p.pid) for name, p in services.items()}
    storage_proc = psutil.Process(moto.pid)
    infra = _server_processes(servers)
    async with httpx.AsyncClient(timeout=120) as client, httpx.AsyncClient(timeout=300) as storage:
        token = (await client.post(f"{urls['auth']}/auth/token", data={
            "username": system.ADMIN, "password": system.PASSWORD})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        await upload_one(client, storage, urls, headers, body)  # warm up (imports, pools, caches)
        # What the processes spend doing nothing (relay, consumers, sweepers, finalizer polling), so the
        # cost of the uploads themselves can be told apart from it.
        idle_before = {name: cpu_seconds(p) for name, p in processes.items()}
        await asyncio.sleep(IDLE_SECONDS)
        idle = {name: (cpu_seconds(p) - idle_before[name]) / IDLE_SECONDS for name, p in processes.items()}
        before = {name: cpu_seconds(p) for name, p in processes.items()}
        infra_before = sum(cpu_seconds(p) for p in infra)
        storage_before = cpu_seconds(storage_proc)
        started = time.perf_counter()
        images = [await upload_one(client, storage, urls, headers, body) for _ in range(files)]
        for image_id in images:  # until metadata has applied upload.completed for every one
            while (await client.get(f"{urls['metadata']}/v1/images/{image_id}", headers=headers)).json()[
                    "status"] == "upload_pending":
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    gib = files * FILE / (1024 * MiB)
    spent = {name: cpu_seconds(p) - before[name] for name, p in processes.items()}
    control = sum(spent.values())
    return {
        "benchmark": "control plane CPU per GiB uploaded (auth, metadata, uploads as separate processes; S3=moto)",
        "gib": round(gib, 3), "files": files, "part_mib": PART // MiB, "seconds": round(elapsed, 1),
        "control_plane_cpu_s_per_gib": round(control / gib, 3),
        "per_service_cpu_s_per_gib": {name: round(s / gib, 3) for name, s in spent.items()},
        # The control plane's cost is per request (one per part, plus start and complete), not per byte:
        # larger parts make it smaller per GiB.
        "uploads_requests": files * (FILE // PART + 2),
        "uploads_cpu_ms_per_request": round(spent["uploads"] * 1000 / (files * (FILE // PART + 2)), 2),
        "control_plane_idle_cpu_s_per_s": round(sum(idle.values()), 4),
        "control_plane_cpu_s_per_gib_above_idle": round((control - sum(idle.values()) * elapsed) / gib, 3),
        "postgres_nats_cpu_s_per_gib": round((sum(cpu_seconds(p) for p in infra) - infra_before) / gib, 3),
        "data_plane_cpu_s_per_gib (moto)": round((cpu_seconds(storage_proc) - storage_before) / gib, 3),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(control_plane_cpu())))
