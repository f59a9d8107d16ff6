"""Every core: `GET /v1/images/{id}` from `shoebox serve metadata --workers 2` against `--workers 1`, both
running side by side on one PostgreSQL and one NATS (with `shoebox serve auth` beside them), loaded in turn
by wrk, three rounds; the ratio of their rates per round. On this 2-core machine wrk and PostgreSQL share the
cores with the workers, so the ceiling is below 2x.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.__main__ import wrk
from shoebox.services import migrate_all
from shoebox.testing import ADMIN_PASSWORD, clean_environment, running, shoebox_command, wait_healthy
from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shoebox_lib.settings import Settings


@contextlib.asynccontextmanager
async def served(service: str, env: dict[str, str], log: Path, port: int, workers: int = 1
                 ) -> AsyncIterator[str]:
    url = f"http://127.0.0.1:{port}"
    command = shoebox_command("serve", service, "--host", "127.0.0.1", "--port", str(port),
                              "--workers", str(workers))
    with running(command, log, env) as proc:
        await wait_healthy(url, proc, log, within=120)
        yield url


async def run(rounds: int = 3) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="shoebox-workers-") as tmp:
        pg, nats = EmbeddedPostgres(Path(tmp) / "pg"), EmbeddedNats(Path(tmp) / "nats")
        database, bus = await asyncio.to_thread(pg.start), await asyncio.to_thread(nats.start)
        try:
            auth_port, one_port, two_port = free_port(), free_port(), free_port()
            auth_url = f"http://127.0.0.1:{auth_port}"
            settings = Settings(database_url=database, nats_url=bus, data_dir=Path(tmp) / "data",
                                admin_password=ADMIN_PASSWORD, auth_url=auth_url)
            await migrate_all(settings)
            env = clean_environment(SHOEBOX_DATABASE_URL=database, SHOEBOX_NATS_URL=bus,
                                    SHOEBOX_DATA_DIR=str(settings.data_dir), SHOEBOX_ADMIN_PASSWORD=ADMIN_PASSWORD,
                                    SHOEBOX_AUTH_URL=auth_url, SHOEBOX_LOG_LEVEL="WARNING")
            async with served("auth", env, Path(tmp) / "auth.log", auth_port), \
                    served("metadata", env, Path(tmp) / "one.log", one_port) as one, \
                    served("metadata", env, Path(tmp) / "two.log", two_port, workers=2) as two, \
                    httpx.AsyncClient(timeout=30) as client:
                token = (await client.post(f"{auth_url}/auth/token", data={
                    "username": settings.admin_email, "password": ADMIN_PASSWORD})).json()["access_token"]
                image = (await client.post(f"{one}/v1/images", headers={"Authorization": f"Bearer {token}"}, json={
                    "filename": "a.png", "content_type": "image/png", "size_bytes": 1})).json()["image_id"]
                path = f"/v1/images/{image}"
                pairs = []
                for _ in range(rounds):
                    pairs.append((await wrk("two workers", two, "GET", path, token, seconds=5),
                                  await wrk("one worker", one, "GET", path, token, seconds=5)))
        finally:
            await asyncio.to_thread(nats.stop)
            await asyncio.to_thread(pg.stop)
    ratios = sorted(t["per_second"] / o["per_second"] for t, o in pairs)
    two_row, one_row = pairs[rounds // 2]
    return [{"benchmark": "GET /v1/images/{id}: shoebox serve metadata --workers 2 against --workers 1, "
                          "side by side", "ratio": round(statistics.median(ratios), 3),
             "ratios": [round(r, 3) for r in ratios], "two_per_second": two_row["per_second"],
             "two_p99_ms": two_row["p99_ms"], "one_per_second": one_row["per_second"],
             "one_p99_ms": one_row["p99_ms"], "failures": two_row["failures"] + one_row["failures"]}]
