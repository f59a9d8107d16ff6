"""CL store benchmarks, through CL's own protocol (shoebox.testing.cl_client):

- `GET /entities`, a page of 20 from a 10,000-entity store: p50/p99 of the first page and of a deep page
  (page 400 of 500), one request at a time (the latency one client sees) and 16 at a time (throughput),
  and the deep/first ratio side by side (a list that counted or skipped by scanning would grow with the
  page number);
- the control plane's CPU seconds per GiB for `POST /entities` uploads: the only face where the API
  receives a file's bytes. auth and metadata run alone (`shoebox serve`), storage is moto's S3 server
  in a process of its own; psutil reads the metadata process's user+system CPU time (and its children's)
  before and after ≥ 1 GiB of multipart uploads, and the idle rate measured beforehand is subtracted in
  a second figure. The client (this process) is not counted.

    python -m benchmarks.bench_cl_store
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psutil

from benchmarks import system
from benchmarks.uploads import cpu_seconds
from shoebox.testing.cl_client import ClClient

MiB = 1024 * 1024
ENTITIES = 10_000
PAGE_SIZE = 20
DEEP_PAGE = 400
SEQUENTIAL = 400
CONCURRENCY = 16
CONCURRENT_REQUESTS = 2000
FILL_PARALLEL = 16
UPLOAD_FILE = 64 * MiB
UPLOAD_GIB = 1.0
IDLE_SECONDS = 10.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2)}


async def timed(call: Callable[[], Awaitable[httpx.Response]], total: int, concurrency: int
                ) -> tuple[list[float], int, float]:
    """Latencies of `total` calls made `concurrency` at a time, the failures, and the wall time."""
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal failures
        for _ in counter:
            started = time.perf_counter()
            response = await call()
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, failures, time.perf_counter() - started


async def fill(store: ClClient, count: int) -> None:
    """Collections through CL's plain form (no file: the cheapest entity there is), a few at a time."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            response = await store.post_entities(is_collection=True, label=f"bench {n:05d}",
                                                 description="an entity of the benchmark store")
            response.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(FILL_PARALLEL)))


async def list_latency(store: ClClient) -> list[dict[str, Any]]:
    started = time.perf_counter()
    await fill(store, ENTITIES)
    filled = time.perf_counter() - started
    total = (await store.list_entities(page_size=PAGE_SIZE)).pagination.total_items
    assert total == ENTITIES, total
    rows: list[dict[str, Any]] = [{"benchmark": f"CL store: create {ENTITIES} collections (POST /entities, form)",
                                   "parallel": FILL_PARALLEL, "per_second": round(ENTITIES / filled, 1)}]
    figures: dict[str, dict[str, float]] = {}
    for label, page in (("first page", 1), (f"page {DEEP_PAGE}", DEEP_PAGE)):
        def call(page: int = page) -> Awaitable[httpx.Response]:
            return store.get_entities(page=page, page_size=PAGE_SIZE)

        await timed(call, 50, 1)  # warm up: plans, pools, caches
        latencies, failures, _ = await timed(call, SEQUENTIAL, 1)
        figures[label] = summary(latencies)
        rows.append({"benchmark": f"GET /entities?page_size={PAGE_SIZE} ({label} of {ENTITIES} entities), "
                                  "one at a time", "requests": SEQUENTIAL, "failures": failures, **figures[label]})
        latencies, failures, elapsed = await timed(call, CONCURRENT_REQUESTS, CONCURRENCY)
        rows.append({"benchmark": f"GET /entities?page_size={PAGE_SIZE} ({label} of {ENTITIES} entities), "
                                  f"{CONCURRENCY} at a time (Python client)", "requests": CONCURRENT_REQUESTS,
                     "failures": failures, "per_second": round(CONCURRENT_REQUESTS / elapsed, 1),
                     **summary(latencies)})
    first, deep = figures["first page"], figures[f"page {DEEP_PAGE}"]
    rows.append({"benchmark": f"GET /entities: page {DEEP_PAGE} / first page (one at a time)",
                 "p50_ratio": round(deep["p50_ms"] / first["p50_ms"], 2),
                 "p99_ratio": round(deep["p99_ms"] / first["p99_ms"], 2)})
    return rows


async def upload_cpu(store: ClClient, metadata: psutil.Process) -> dict[str, Any]:
    files = max(1, round(UPLOAD_GIB * 1024 * MiB / UPLOAD_FILE))
    body = bytearray(os.urandom(UPLOAD_FILE))

    async def upload(n: int) -> None:
        body[:8] = n.to_bytes(8, "big")  # every file its own content: a duplicate would not be stored again
        response = await store.post_entities(is_collection=False, label=f"upload {n}",
                                             file=(f"bench-{n}.bin", bytes(body), "application/octet-stream"))
        assert response.status_code == 201, response.text

    await upload(files)  # warm up
    idle_before = cpu_seconds(metadata)
    await asyncio.sleep(IDLE_SECONDS)
    idle_rate = (cpu_seconds(metadata) - idle_before) / IDLE_SECONDS
    before = cpu_seconds(metadata)
    started = time.perf_counter()
    for n in range(files):
        await upload(n)
    elapsed = time.perf_counter() - started
    spent = cpu_seconds(metadata) - before
    gib = files * UPLOAD_FILE / (1024 * MiB)
    return {
        "benchmark": "CL store: metadata CPU per GiB of POST /entities uploads (multipart through the API, "
                     "streamed to S3=moto; psutil user+system CPU of the metadata process)",
        "gib": round(gib, 3), "files": files, "file_mib": UPLOAD_FILE // MiB, "seconds": round(elapsed, 1),
        "mib_per_second": round(gib * 1024 / elapsed, 1),
        "metadata_cpu_s_per_gib": round(spent / gib, 3),
        "metadata_idle_cpu_s_per_s": round(idle_rate, 4),
        "metadata_cpu_s_per_gib_above_idle": round((spent - idle_rate * elapsed) / gib, 3),
    }


async def run() -> list[dict[str, Any]]:
    async with system.started(("auth", "metadata"), public="metadata", prefix="shoebox-bench-cl-") as live:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=live.urls["auth"], timeout=60) as auth_http, \
                httpx.AsyncClient(base_url=live.urls["metadata"], timeout=300, limits=limits) as http:
            store = ClClient(http, auth_http=auth_http)
            await store.login(system.ADMIN, system.PASSWORD)
            rows = await list_latency(store)
            rows.append(await upload_cpu(store, psutil.Process(live.services["metadata"].pid)))
            return rows


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(json.dumps(row))
