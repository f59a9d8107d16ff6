"""`make bench`: starts `shoebox dev` on embedded parts in a subprocess, loads it from this one, and
prints throughput and latency percentiles.

- authenticated reads: GET /v1/images/{id}, as a ratio to the limit reference beside it (benchmarks/reference.py:
  the same token check and one asyncpg query) — requests/s, p50/p99
- the collector tuned against untuned (`gc`): two systems side by side, loaded in turn
- part URL signing through the one port: POST /v1/uploads/{sid}/parts/{n} — URLs/s, p50/p99
- token verification: seen before, first sight, and keys refetched over HTTP — verifications/s
- session revocation: from the revoking call answering to another service refusing the token
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from shoebox.dev import ensure_database
from shoebox.testing import clean_environment, running, shoebox_command, wait_healthy
from shoebox_lib.embedded import EmbeddedPostgres, free_port

CONCURRENCY = 16
REQUESTS = 3000


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(name: str, call: Callable[[int], Awaitable[httpx.Response]], total: int = REQUESTS
               ) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            started = time.perf_counter()
            response = await call(i)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code >= 400

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {
        "benchmark": name, "requests": total, "concurrency": CONCURRENCY, "failures": failures,
        "per_second": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


WRK_SCRIPT = """
wrk.method = "{method}"
tokens = {{{tokens}}}
counter = 0
request = function()
  counter = counter + 1
  local path = string.gsub("{path}", "{{n}}", tostring(counter % {modulo} + 1))
  return wrk.format(nil, path, {{Authorization = "Bearer " .. tokens[counter % #tokens + 1]}})
end
"""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", value.strip()).groups()  # type: ignore[union-attr]
    return round(float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


async def wrk(name: str, url: str, method: str, path: str, token: str | Sequence[str], modulo: int = 1,
              seconds: int = 10) -> dict[str, Any]:
    """Load from wrk (C, outside this process), so the figure is the server's, not a Python client's. Given
    several tokens, the requests take them in turn (several callers)."""
    tokens = [token] if isinstance(token, str) else list(token)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(method=method, tokens=", ".join(f'"{t}"' for t in tokens), path=path,
                                       modulo=modulo))
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", script.name, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    os.unlink(script.name)
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "benchmark": name, "tool": "wrk", "seconds": seconds, "concurrency": CONCURRENCY,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "failures": int(errors.group(1)) if errors else 0,
        "per_second": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        # wrk prints no distribution when too few requests completed (a slow page): None then.
        **{f"p{q}_ms": _ms(latency[q]) if q in latency else None for q in ("50", "90", "99")},
    }


async def verification_rates(url: str, token: str) -> list[dict[str, Any]]:
    """Token verification alone, as every service does it: a token seen before (kept verified, as a client's
    repeated requests are), one seen for the first time (its signature checked), and keys refetched over HTTP
    from the running auth service's JWKS (what an unknown `kid` or an expired cache costs)."""
    from shoebox_lib.auth import JwksSource, TokenVerifier
    from shoebox_lib.settings import Settings

    results = []
    async with httpx.AsyncClient(timeout=10) as http:
        verifier = TokenVerifier(Settings(), JwksSource(f"{url}/.well-known/jwks.json", http))
        for label, seen, refetch, n in (("verify token (seen before: kept verified)", True, False, 20000),
                                        ("verify token (first sight, JWKS cached)", False, False, 5000),
                                        ("verify token (JWKS refetched over HTTP)", False, True, 500)):
            started = time.perf_counter()
            for _ in range(n):
                if not seen:
                    verifier.forget_verified()
                if refetch:
                    verifier.expire_keys()
                await verifier.verify(token)
            elapsed = time.perf_counter() - started
            results.append({"benchmark": label, "requests": n, "per_second": round(n / elapsed, 1),
                            "mean_ms": round(elapsed / n * 1000, 3)})
    return results


async def revocation_latency(client: httpx.AsyncClient, rounds: int = 20) -> dict[str, Any]:
    """From `DELETE /users/sessions/current` answering to metadata refusing the token (polled every 5 ms)."""
    samples = []
    for _ in range(rounds):
        token = (await client.post("/auth/token", data={"username": "admin@shoebox.local",
                                                        "password": "bench-password"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        await client.delete("/users/sessions/current", headers=headers)
        started = time.perf_counter()
        while (await client.get("/v1/images/img_1", headers=headers)).status_code != 401:
            await asyncio.sleep(0.005)
        samples.append(time.perf_counter() - started)
    return {"benchmark": "session revocation reaches metadata", "rounds": rounds,
            "p50_ms": round(percentile(samples, 0.5) * 1000, 1), "p99_ms": round(percentile(samples, 0.99) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1)}


@dataclass
class DevSystem:
    url: str
    client: httpx.AsyncClient
    token: str
    image: str  # one image of the admin's
    startup: float  # seconds from start to healthy
    env: dict[str, str]  # what the system was started with, its PostgreSQL included
    # The image's declared size: 5,000 parts of 8 MiB, so part signing has parts to spare.
    image_bytes: ClassVar[int] = 10_000 * 8 * 1024 * 1024 // 2


@asynccontextmanager
async def dev_system(tmp: Path, **settings: str) -> AsyncIterator[DevSystem]:
    """`shoebox dev` in a subprocess on a PostgreSQL of its own that this process started, so that the limit
    reference can be given the same database."""
    postgres = EmbeddedPostgres(tmp / "postgres")
    server = await asyncio.to_thread(postgres.start)
    try:
        database = await ensure_database(server, "shoebox")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = clean_environment(SHOEBOX_ADMIN_PASSWORD="bench-password", SHOEBOX_LOG_LEVEL="WARNING",
                                SHOEBOX_DATABASE_URL=database, **settings)
        log = tmp / "dev.log"
        with running(shoebox_command("dev", "--data-dir", f"{tmp}/data", "--port", str(port)), log, env) as proc:
            limits = httpx.Limits(max_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
                startup, _ = await wait_healthy(url, proc, log)
                token = (await client.post("/auth/token", data={"username": "admin@shoebox.local",
                                                                "password": "bench-password"})).json()["access_token"]
                image = (await client.post("/v1/images", headers={"Authorization": f"Bearer {token}"}, json={
                    "filename": "big.bin", "content_type": "application/octet-stream",
                    "size_bytes": DevSystem.image_bytes,
                })).json()["image_id"]
                yield DevSystem(url, client, token, image, startup, env)
    finally:
        await asyncio.to_thread(postgres.stop)


@asynccontextmanager
async def reference_beside(system: DevSystem, tmp: Path) -> AsyncIterator[str]:
    """The limit reference (benchmarks/reference.py) on the system's database and keys; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**system.env, "SHOEBOX_AUTH_URL": system.url}
    with running([sys.executable, "-m", "benchmarks.reference", "--port", str(port)], tmp / "reference.log", env):
        async with asyncio.timeout(60):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    probe = await system.client.get(f"{url}/ref/images/{system.image}",
                                                    headers={"Authorization": f"Bearer {system.token}"})
                    if probe.status_code == 200:
                        break
                    raise RuntimeError(f"the reference answered {probe.status_code}: {probe.text}")
                await asyncio.sleep(0.2)
        yield url


async def against_reference(name: str, system: DevSystem, path: str, reference: str, rounds: int = 3,
                            reference_path: str | None = None) -> dict[str, Any]:
    """`path` and the reference's read (by default its image read) under the same wrk load, alternated
    `rounds` times: the ratio of their rates per round (its median reported), and both sides' figures from
    the middle round."""
    pairs = []
    for _ in range(rounds):
        ours = await wrk(name, system.url, "GET", path, system.token, seconds=5)
        limit = await wrk("reference", reference, "GET", reference_path or f"/ref/images/{system.image}",
                          system.token, seconds=5)
        pairs.append((ours, limit))
    ratios = sorted(ours["per_second"] / limit["per_second"] for ours, limit in pairs)
    ours, limit = pairs[rounds // 2]
    return {"benchmark": f"{name} against the limit reference", "ratio": round(statistics.median(ratios), 3),
            "ratios": [round(r, 3) for r in ratios], "per_second": ours["per_second"], "p50_ms": ours["p50_ms"],
            "p99_ms": ours["p99_ms"], "failures": ours["failures"], "reference_per_second": limit["per_second"],
            "reference_p99_ms": limit["p99_ms"]}


async def fifty_albums(system: DevSystem) -> int:
    """50 Ente albums of the admin's: the list reads their shares and links in one query each."""
    headers = {"Authorization": f"Bearer {system.token}"}
    for n in range(50):
        album = await system.client.post("/collections", headers=headers, json={
            "encryptedKey": "k" * 44, "keyDecryptionNonce": "n" * 32, "encryptedName": f"album {n}",
            "nameDecryptionNonce": "nn", "type": "album"})
        album.raise_for_status()
    return 50


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with dev_system(Path(tmp)) as system:
            client, url, token, image = system.client, system.url, system.token, system.image
            headers = {"Authorization": f"Bearer {token}"}
            session = (await client.post("/v1/uploads:resumable", headers=headers, json={
                "image_id": image, "total_bytes": system.image_bytes})).json()
            sid, parts = session["session_id"], session["part_count"]
            results: list[dict[str, Any]] = [
                {"benchmark": "shoebox dev: start to healthy", "seconds": round(system.startup, 2)}]
            if shutil.which("wrk"):
                albums = await fifty_albums(system)
                entity = (await client.post("/entities", headers=headers, data={
                    "is_collection": "true", "label": "bench"})).json()["id"]
                async with reference_beside(system, Path(tmp)) as reference:
                    results.append(await against_reference("GET /v1/images/{id} (authenticated)", system,
                                                           f"/v1/images/{image}", reference))
                    results.append(await against_reference("GET /entities/{id} (CL's store, authenticated)",
                                                           system, f"/entities/{entity}", reference))
                    results.append(await against_reference(f"GET /collections/v2 ({albums} albums)", system,
                                                           "/collections/v2", reference))
                results += [
                    await wrk("POST /v1/uploads/{sid}/parts/{n} (sign a part URL, authenticated)", url, "POST",
                              f"/v1/uploads/{sid}/parts/{{n}}", token, modulo=parts),
                    await wrk("GET /services/metadata/ping (routing only)", url, "GET",
                              "/services/metadata/ping", token),
                ]
            else:
                print("wrk is not installed (apt-get install wrk): measuring with a Python client, "
                      "whose own cost dominates these figures, and with no limit reference", file=sys.stderr)
                results += [
                    await load("GET /v1/images/{id} (authenticated)",
                               lambda i: client.get(f"/v1/images/{image}", headers=headers)),
                    await load("POST /v1/uploads/{sid}/parts/{n} (sign a part URL)",
                               lambda i: client.post(f"/v1/uploads/{sid}/parts/{i % parts + 1}", headers=headers)),
                ]
            results += await verification_rates(url, token)
            from benchmarks import uploads

            results += await uploads.signing(client, url, token, wrk)
            results.append(await revocation_latency(client))
    for row in results:
        print(json.dumps(row))


async def collector_effect(rounds: int = 3) -> dict[str, Any]:
    """GET /v1/images/{id} with the collector tuned (the default) and untuned (SHOEBOX_GC_TUNING=false): two
    systems running side by side, loaded in turn, `rounds` times each."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tuned").mkdir()
        (Path(tmp) / "untuned").mkdir()
        async with dev_system(Path(tmp) / "tuned") as tuned, \
                dev_system(Path(tmp) / "untuned", SHOEBOX_GC_TUNING="false") as untuned:
            runs: dict[str, list[dict[str, Any]]] = {"tuned": [], "untuned": []}
            for _ in range(rounds):
                for label, system in (("tuned", tuned), ("untuned", untuned)):
                    runs[label].append(await wrk("GET /v1/images/{id}", system.url, "GET",
                                                 f"/v1/images/{system.image}", system.token, seconds=5))
    rates = {label: statistics.median(r["per_second"] for r in rs) for label, rs in runs.items()}
    p99 = {label: statistics.median(r["p99_ms"] for r in rs) for label, rs in runs.items()}
    return {"benchmark": "GET /v1/images/{id}, collector tuned against untuned, side by side",
            "rate_ratio": round(rates["tuned"] / rates["untuned"], 3),
            "p99_ratio": round(p99["tuned"] / p99["untuned"], 3),
            "tuned_per_second": rates["tuned"], "untuned_per_second": rates["untuned"],
            "tuned_p99_ms": p99["tuned"], "untuned_p99_ms": p99["untuned"],
            "failures": sum(r["failures"] for rs in runs.values() for r in rs)}


if __name__ == "__main__":
    from benchmarks import library, uploads

    which = sys.argv[1:] or ["api", "gc", "workers", "library", "peer", "uploads", "cl_store", "compute", "v1",
                             "replication"]
    if "api" in which:
        asyncio.run(main())
    if "gc" in which and shutil.which("wrk"):
        print(json.dumps(asyncio.run(collector_effect())))
    if "library" in which:
        for row in asyncio.run(library.run()):
            print(json.dumps(row))
    if "workers" in which and shutil.which("wrk"):
        from benchmarks import workers

        for row in asyncio.run(workers.run()):
            print(json.dumps(row))
    if "peer" in which:
        from benchmarks import peer

        for row in asyncio.run(peer.run()):
            print(json.dumps(row))
    if "uploads" in which:
        print(json.dumps(asyncio.run(uploads.control_plane_cpu())))
    if "cl_store" in which:
        from benchmarks import bench_cl_store

        for row in asyncio.run(bench_cl_store.run()):
            print(json.dumps(row))
    if "compute" in which:
        from benchmarks import bench_compute

        for row in asyncio.run(bench_compute.run()):
            print(json.dumps(row))
    if "v1" in which:
        from benchmarks import bench_v1

        for row in asyncio.run(bench_v1.run()):
            print(json.dumps(row))
    if "replication" in which:
        from benchmarks import bench_replication

        for row in asyncio.run(bench_replication.run()):
            print(json.dumps(row))
