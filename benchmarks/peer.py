"""Ente's `GET /files/upload-urls?count=10` side by side with itsuwari/enteserver, the Python Ente server, in
one run: the same wrk load on each in turn, three rounds, the ratio of their rates per round.

The peer is not part of this repository. Point `SHOEBOX_BENCH_PEER` at a checkout of it whose `.venv` has its
`requirements.txt` installed, plus uvloop and httptools (so both servers run on the same event loop and HTTP
parser). It is served by its own uvicorn, one process, on SQLite, with an S3 backend (boto3 signs locally;
the endpoint is never contacted), and called with a token it minted for a user of its own. It signs each
URL and keeps nothing; Shoebox records each upload (the owner's open uploads counted under a lock) and checks
the quota. Without the variable the peer's row is skipped, with the figure last measured in the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.__main__ import DevSystem, dev_system, wrk
from shoebox.testing import running
from shoebox_lib.embedded import free_port

PATH = "/files/upload-urls?count=10"
# The load comes from this many accounts in turn, as on a server people share: one account's openings are
# counted under a lock of its own, so one account alone would measure that lock, and would soon reach the
# limit of open uploads it may hold (1,000 by default).
CALLERS = 128
CONFIG = """jwt_secret = "bench-secret"
database_url = "sqlite:///{db}"

[s3]
enabled = true
endpoint_url = "http://127.0.0.1:9"
region = "us-east-1"
access_key = "bench"
secret_key = "bench-secret-key"
use_path_style = true

[s3.backends.main]
bucket = "peer-main"
"""
MINT = """
from app.main import app
from app.db import SessionLocal
from app.models import User
from app.security import create_token
db = SessionLocal()
users = [User(email=f"bench{{n}}@example.com") for n in range({callers})]
db.add_all(users)
db.commit()
print(" ".join(create_token(user.id) for user in users))
"""


@contextlib.asynccontextmanager
async def peer_server(checkout: Path, tmp: Path) -> AsyncIterator[tuple[str, list[str]]]:
    config = tmp / "peer.toml"
    config.write_text(CONFIG.format(db=tmp / "peer.db"))
    python = str(checkout / ".venv" / "bin" / "python")
    env = {**os.environ, "CONFIG_FILE": str(config), "PYTHONPATH": str(checkout)}
    tokens = subprocess.run([python, "-c", MINT.format(callers=CALLERS)], env=env, capture_output=True, text=True,
                            check=True).stdout.split()
    port = free_port()
    with running([python, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
                  "--log-level", "warning", "--no-access-log"], tmp / "peer.log", env):
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client, asyncio.timeout(60):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/ping")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield url, tokens


async def caller(system: DevSystem, n: int) -> str:
    """An account of its own, created by the admin (CL's user API), signed in."""
    created = await system.client.post("/users/", headers={"Authorization": f"Bearer {system.token}"},
                                       data={"username": f"bench{n}", "password": "bench-password-1"})
    created.raise_for_status()
    signed_in = await system.client.post("/auth/token", data={"username": f"bench{n}",
                                                              "password": "bench-password-1"})
    signed_in.raise_for_status()
    token: str = signed_in.json()["access_token"]
    return token


async def run(rounds: int = 3) -> list[dict[str, Any]]:
    checkout = os.environ.get("SHOEBOX_BENCH_PEER")
    if not checkout:
        print("SHOEBOX_BENCH_PEER is not set: the side-by-side with itsuwari/enteserver is skipped "
              "(see benchmarks/peer.py)", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory(prefix="shoebox-peer-") as tmp:
        async with dev_system(Path(tmp)) as system, \
                peer_server(Path(checkout), Path(tmp)) as (peer_url, peer_tokens):
            tokens = [await caller(system, n) for n in range(CALLERS)]
            pairs = []
            for _ in range(rounds):
                ours = await wrk("shoebox", system.url, "GET", PATH, tokens, seconds=5)
                theirs = await wrk("peer", peer_url, "GET", PATH, peer_tokens, seconds=5)
                pairs.append((ours, theirs))
    ratios = sorted(o["per_second"] / t["per_second"] for o, t in pairs)
    ours, theirs = pairs[rounds // 2]
    return [{"benchmark": f"GET /files/upload-urls?count=10 from {CALLERS} accounts, against itsuwari/enteserver, "
                          "side by side",
             "ratio": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
             "urls_per_second": round(ours["per_second"] * 10), "p99_ms": ours["p99_ms"],
             "failures": ours["failures"], "peer_urls_per_second": round(theirs["per_second"] * 10),
             "peer_p99_ms": theirs["p99_ms"], "peer_failures": theirs["failures"]}]
