"""Compute benchmarks: the media tasks, and thumbnails of new uploads through the whole system.

- thumbnails of 24-megapixel JPEGs (6000x4000, EXIF orientation 6, generated once in a temp dir): the
  pyvips path the built-in workers run now (`thumbnail_variant` over a `file_reader` RangeReader, into a
  MemorySink) against the old Pillow path (`tasks.images.make_thumbnail` on the file's bytes), timed
  alternately in this one process so both see the same noise: p50/p99 per thumbnail, thumbnails/s one
  at a time, the pyvips/Pillow rate ratio, the most RSS rose during one thumbnail (psutil, sampled), and
  the most bytes the RangeReader held;
- from upload complete to `thumb` ready: `shoebox dev` in a subprocess, small JPEGs uploaded through the
  v1 face at a steady rate (an upload started every 1/rate s, whatever the earlier ones are doing: open
  loop), first at BASELINE_RATE (unloaded), then at UPLOAD_RATE; for each upload, from `:complete`
  answering to `GET /v1/images/{id}` listing the `thumb` variant `ready` (each image polled every
  POLL_SECONDS, at most POLL_CONCURRENCY polls in flight so that a backlog cannot turn the client into
  the load). Reported: p50/p99, how many were ready within KEPT_UP_SECONDS and within READY_WITHIN,
  the first and last thirds' p50 (a growing backlog shows as the second far above the first) and the
  rate thumbs became ready. The client shares the machine's cores with the system it loads.

    python -m benchmarks.bench_compute
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyvips

from shoebox.testing import clean_environment, running, shoebox_command, wait_healthy
from shoebox_compute.media.outputs import MemorySink
from shoebox_compute.media.source import file_reader
from shoebox_compute.media.tasks import thumbnail_variant
from shoebox_compute.tasks.images import make_thumbnail
from shoebox_lib.embedded import free_port

# -- thumbnails of big JPEGs
BIG_WIDTH, BIG_HEIGHT = 6000, 4000
BIG_FILES = 4
BIG_ROUNDS = 6  # each file this many times per path: BIG_FILES * BIG_ROUNDS thumbnails each
THUMB_SIDE = 256
RSS_SAMPLE_SECONDS = 0.005

# -- upload complete to thumb ready
UPLOAD_RATE = 20.0  # uploads started per second
UPLOAD_SECONDS = 30.0
SMALL_WIDTH, SMALL_HEIGHT = 1600, 1200
BASELINE_RATE = 1.0  # first, a rate the system keeps up with: the latency of an unloaded system
BASELINE_SECONDS = 10.0
POLL_SECONDS = 0.05  # between one image's polls
POLL_CONCURRENCY = 8  # polls in flight at once, over all images
KEPT_UP_SECONDS = 2.0  # a thumb ready this soon after complete kept up
READY_WITHIN = 60.0  # polling an upload stops this long after its complete
PASSWORD = "bench-password"
ADMIN = "admin@shoebox.local"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(seconds: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(seconds, 0.50) * 1000, 1),
            "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
            "mean_ms": round(statistics.fmean(seconds) * 1000, 1)}


def photo_jpeg(width: int, height: int, *, orientation: int = 6, quality: int = 90) -> bytes:
    """A photo-sized JPEG that compresses like a photo (gradients under noise, fresh noise each call),
    with an EXIF orientation both paths must apply."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    pattern = (x * 255 / width).bandjoin([y * 255 / height, (x + y) % 256])
    noise = pyvips.Image.gaussnoise(width, height, sigma=18)
    image = (pattern + noise.bandjoin([noise, noise])).cast("uchar").copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    data: bytes = image.jpegsave_buffer(Q=quality)
    return data


class RssPeak:
    """The most this process's RSS rose above where it stood when the block began (sampled in a thread)."""

    def __init__(self) -> None:
        self._process = psutil.Process()

    @contextmanager
    def watch(self) -> Iterator[list[int]]:
        base = self._process.memory_info().rss
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(RSS_SAMPLE_SECONDS):
                peak[0] = max(peak[0], self._process.memory_info().rss - base)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            done.set()
            sampler.join()
            peak[0] = max(peak[0], self._process.memory_info().rss - base)


def big_thumbnails() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="shoebox-bench-compute-") as tmp:
        paths = []
        for n in range(BIG_FILES):
            file = Path(tmp) / f"photo-{n}.jpg"
            file.write_bytes(photo_jpeg(BIG_WIDTH, BIG_HEIGHT))
            paths.append(str(file))
        sizes = [os.path.getsize(p) for p in paths]
        rss = RssPeak()
        held: list[int] = []

        def with_pyvips(path: str) -> tuple[int, int]:
            reader = file_reader(path)
            result = thumbnail_variant(reader, reader.size, {}, MemorySink(), lambda _: None,
                                       name="thumb", max_side=THUMB_SIDE)
            held.append(reader.max_held)
            return int(result["width"]), int(result["height"])

        def with_pillow(path: str) -> tuple[int, int]:
            rendered = make_thumbnail(Path(path).read_bytes(), THUMB_SIDE)  # the old worker read it whole
            return rendered.width, rendered.height

        paths_by_name: dict[str, Callable[[str], tuple[int, int]]] = {"pyvips": with_pyvips, "Pillow": with_pillow}
        for make in paths_by_name.values():  # warm up: imports, libvips' first operations
            width, height = make(paths[0])
            if height != THUMB_SIDE or width >= height:  # not turned upright (the source is portrait)
                raise RuntimeError(f"the {make.__name__} thumbnail is {width}x{height}")
        held.clear()
        times: dict[str, list[float]] = {name: [] for name in paths_by_name}
        peaks: dict[str, int] = dict.fromkeys(paths_by_name, 0)
        for _ in range(BIG_ROUNDS):
            for path in paths:
                for name, make in paths_by_name.items():  # alternately, so both see the same noise
                    with rss.watch() as peak:
                        started = time.perf_counter()
                        make(path)
                        times[name].append(time.perf_counter() - started)
                    peaks[name] = max(peaks[name], peak[0])
    rows: list[dict[str, Any]] = []
    rates = {}
    for name, seconds in times.items():
        rates[name] = len(seconds) / sum(seconds)
        row: dict[str, Any] = {
            "benchmark": f"thumbnail {THUMB_SIDE}px of a {BIG_WIDTH}x{BIG_HEIGHT} JPEG (EXIF orientation 6), "
                         f"{name}, one at a time",
            "thumbnails": len(seconds), "mean_file_mib": round(statistics.fmean(sizes) / 2**20, 1),
            "per_second": round(rates[name], 2), **summary(seconds),
            "peak_rss_growth_mib": round(peaks[name] / 2**20, 1),
        }
        if name == "pyvips":
            row["range_reader_max_held_mib"] = round(max(held) / 2**20, 1)
        rows.append(row)
    rows.append({"benchmark": f"thumbnail of a {BIG_WIDTH}x{BIG_HEIGHT} JPEG: pyvips / Pillow (thumbnails/s)",
                 "ratio": round(rates["pyvips"] / rates["Pillow"], 2),
                 "p50_ratio": round(percentile(times["Pillow"], 0.5) / percentile(times["pyvips"], 0.5), 2)})
    return rows


def unique(jpeg: bytes, n: int) -> bytes:
    """The same picture with a comment of its own right after SOI, so no two uploads share content."""
    comment = f"shoebox bench upload {n} {os.urandom(8).hex()}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


async def upload(client: httpx.AsyncClient, storage: httpx.AsyncClient, headers: dict[str, str], data: bytes,
                 n: int) -> tuple[str, float]:
    """One v1 upload; its image id and the moment `:complete` answered."""
    created = await client.post("/v1/images", headers=headers, json={
        "filename": f"bench-{n}.jpg", "content_type": "image/jpeg", "size_bytes": len(data)})
    created.raise_for_status()
    image_id: str = created.json()["image_id"]
    started = await client.post("/v1/uploads:resumable", headers=headers, json={
        "image_id": image_id, "total_bytes": len(data), "content_type": "image/jpeg"})
    started.raise_for_status()
    session = started.json()
    part_size = session["part_size_bytes"]
    parts = []
    for number in range(1, session["part_count"] + 1):
        signed = await client.post(f"/v1/uploads/{session['session_id']}/parts/{number}", headers=headers)
        signed.raise_for_status()
        put = await storage.put(signed.json()["url"], content=data[(number - 1) * part_size:number * part_size])
        put.raise_for_status()
        parts.append({"part_number": number, "etag": put.headers["etag"]})
    done = await client.post(f"/v1/uploads/{session['session_id']}:complete", headers=headers,
                             json={"parts": parts})
    done.raise_for_status()
    return image_id, time.perf_counter()


def thumb_ready(body: dict[str, Any]) -> bool:
    return any(v.get("name") == "thumb" and v.get("status") == "ready" for v in body.get("variants", []))


async def until_thumb(client: httpx.AsyncClient, polls: asyncio.Semaphore, headers: dict[str, str], image_id: str,
                      since: float) -> float | None:
    """Seconds from `since` to the thumb listed ready, or None if not within READY_WITHIN. At most
    POLL_CONCURRENCY polls are in flight, so a backlog slows each image's polling instead of the
    client flooding the machine it shares with the system."""
    while time.perf_counter() - since < READY_WITHIN:
        async with polls:
            response = await client.get(f"/v1/images/{image_id}", headers=headers)
        if response.status_code == 200 and thumb_ready(response.json()):
            return time.perf_counter() - since
        await asyncio.sleep(POLL_SECONDS)
    return None


async def steady_uploads(client: httpx.AsyncClient, poller: httpx.AsyncClient, storage: httpx.AsyncClient,
                         headers: dict[str, str], jpeg: bytes, rate: float, seconds: float, first_n: int
                         ) -> dict[str, Any]:
    """Uploads started every 1/rate s for `seconds` (open loop), each followed to its thumb."""
    total = int(rate * seconds)
    polls = asyncio.Semaphore(POLL_CONCURRENCY)
    latencies: list[float | None] = [None] * total
    ready_at: list[float] = []
    completed_at: list[float] = []
    late_starts: list[float] = []
    errors: list[str] = []

    async def one(n: int) -> None:
        try:
            image_id, at = await upload(client, storage, headers, unique(jpeg, first_n + n), first_n + n)
            completed_at.append(at)
            latencies[n] = await until_thumb(poller, polls, headers, image_id, at)
            if latencies[n] is not None:
                ready_at.append(time.perf_counter())
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    tasks = []
    first = time.perf_counter()
    for n in range(total):
        due = first + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        late_starts.append(time.perf_counter() - due)
        tasks.append(asyncio.create_task(one(n)))
    offered = time.perf_counter() - first
    await asyncio.gather(*tasks)
    ready = [s for s in latencies if s is not None]
    third = max(1, total // 3)
    early = [s for s in latencies[:third] if s is not None]
    late = [s for s in latencies[-third:] if s is not None]
    row: dict[str, Any] = {
        "benchmark": f"v1 upload complete to thumb ready, {rate:g} uploads/s for {seconds:g} s "
                     f"({SMALL_WIDTH}x{SMALL_HEIGHT} JPEGs, shoebox dev)",
        "uploads": total, "file_kib": len(jpeg) // 1024, "offered_per_second": round(total / offered, 1),
        "upload_failures": len(errors), "thumb_ready": len(ready),
        f"ready_within_{KEPT_UP_SECONDS:g}s": sum(s <= KEPT_UP_SECONDS for s in ready),
        f"not_ready_within_{READY_WITHIN:g}s": total - len(errors) - len(ready),
        "max_start_lag_ms": round(max(late_starts) * 1000, 1),
    }
    if ready:
        row.update(summary(ready))
        row["max_ms"] = round(max(ready) * 1000, 1)
        span = max(ready_at) - min(completed_at)
        row["thumbs_ready_per_second"] = round(len(ready) / span, 2) if span > 0 else None
    if early and late:
        row["first_third_p50_ms"] = round(percentile(early, 0.5) * 1000, 1)
        row["last_third_p50_ms"] = round(percentile(late, 0.5) * 1000, 1)
    if errors:
        row["first_error"] = errors[0]
    return row


async def upload_to_thumb() -> list[dict[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    jpeg = await asyncio.to_thread(photo_jpeg, SMALL_WIDTH, SMALL_HEIGHT, quality=85)
    with tempfile.TemporaryDirectory(prefix="shoebox-bench-compute-") as tmp:
        env = clean_environment(SHOEBOX_ADMIN_PASSWORD=PASSWORD, SHOEBOX_LOG_LEVEL="WARNING")
        log = Path(tmp) / "dev.log"
        with running(shoebox_command("dev", "--data-dir", f"{tmp}/data", "--port", str(port)), log, env) as proc:
            await wait_healthy(url, proc, log)
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client, \
                    httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as poller, \
                    httpx.AsyncClient(timeout=60, limits=limits) as storage:
                token = (await client.post("/auth/token", data={"username": ADMIN, "password": PASSWORD})
                         ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                # Warm up: the first upload pays for connections, plans and compute's first libvips call.
                image_id, at = await upload(client, storage, headers, unique(jpeg, -1), -1)
                await until_thumb(poller, asyncio.Semaphore(1), headers, image_id, at)
                rows = []
                # The unloaded figure first (a backlog left by the loaded run would spoil it).
                for n, (rate, seconds) in enumerate(((BASELINE_RATE, BASELINE_SECONDS),
                                                     (UPLOAD_RATE, UPLOAD_SECONDS))):
                    rows.append(await steady_uploads(client, poller, storage, headers, jpeg, rate, seconds,
                                                     first_n=n * 1_000_000))
                return rows


async def run() -> list[dict[str, Any]]:
    rows = await asyncio.to_thread(big_thumbnails)
    rows += await upload_to_thumb()
    return rows


if __name__ == "__main__":
    import json

    for result in asyncio.run(run()):
        print(json.dumps(result))
