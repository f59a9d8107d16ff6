"""What must hold once a fault is over and the system has caught up: every completed upload stored and
byte-identical on every tier, one job per task per image, every outbox empty, no dead letters, and a quota
hold for exactly the upload sessions still open. Read from the tables and the tier directories themselves,
not through the API, so that a check cannot be fooled by what a service believes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from shoebox.chaos.load import Completed
from shoebox.chaos.topology import Topology
from shoebox.services import SERVICES
from shoebox_compute.broker import automatic_jobs
from shoebox_compute.models import JobStatus
from shoebox_lib.bus.connection import Bus
from shoebox_lib.bus.dead_letters import DeadLetters
from shoebox_lib.ids import parse_image_id
from shoebox_metadata.kinds import ItemStatus
from shoebox_uploads.models import WRITABLE

# (task type, variant) of the jobs every stored image gets exactly once.
EXPECTED_JOBS = frozenset((str(task), params.get("variant")) for task, params in automatic_jobs())
FINISHED_JOBS = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass
class Verdict:
    verified: set[str] = field(default_factory=set)  # image ids stored, on every tier, byte-identical
    missing: dict[str, str] = field(default_factory=dict)  # image id: what is missing (lost if it stays so)
    duplicated: int = 0  # jobs beyond one per task per image, and stored items sharing one object
    unfinished_jobs: int = 0  # an image's job not there yet, or still queued or running
    failed_jobs: int = 0  # a job that ended failed or cancelled: work that was given up
    outboxes: dict[str, int] = field(default_factory=dict)  # schema: events not yet published
    dead_letters: int = 0
    holds_without_session: set[str] = field(default_factory=set)
    sessions_without_hold: set[str] = field(default_factory=set)
    error: str | None = None  # the check could not run (a dependency still down)

    @property
    def holds_match(self) -> bool:
        return not self.holds_without_session and not self.sessions_without_hold

    @property
    def ok(self) -> bool:
        return (self.error is None and not self.missing and not self.duplicated and not self.unfinished_jobs
                and not self.failed_jobs and not any(self.outboxes.values()) and not self.dead_letters
                and self.holds_match)

    def problems(self) -> list[str]:
        found = []
        if self.error:
            found.append(f"check failed: {self.error}")
        if self.missing:
            sample = dict(list(self.missing.items())[:5])
            found.append(f"{len(self.missing)} completed uploads not verified, e.g. {sample}")
        if self.duplicated:
            found.append(f"{self.duplicated} duplicated jobs or items")
        if self.unfinished_jobs:
            found.append(f"{self.unfinished_jobs} jobs missing or unfinished")
        if self.failed_jobs:
            found.append(f"{self.failed_jobs} jobs failed or cancelled")
        if any(self.outboxes.values()):
            found.append(f"outboxes not empty: {self.outboxes}")
        if self.dead_letters:
            found.append(f"{self.dead_letters} dead letters")
        if self.holds_without_session:
            found.append(f"holds without an open session: {sorted(self.holds_without_session)[:5]}")
        if self.sessions_without_hold:
            found.append(f"open sessions without a hold: {sorted(self.sessions_without_hold)[:5]}")
        return found


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


async def check(topology: Topology, completed: Iterable[Completed]) -> Verdict:
    verdict = Verdict()
    try:
        conn = await asyncpg.connect(topology.config.database_url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        verdict.error = f"PostgreSQL: {exc!r}"
        return verdict
    try:
        await _uploads(conn, topology, list(completed), verdict)
        await _outboxes(conn, verdict)
        await _holds(conn, verdict)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        verdict.error = f"PostgreSQL: {exc!r}"
    finally:
        await conn.close()
    try:
        verdict.dead_letters = await _dead_letters(topology)
    except Exception as exc:  # whatever NATS says while it is away means "not yet"
        verdict.error = f"NATS: {exc!r}"
    return verdict


async def _uploads(conn: asyncpg.Connection, topology: Topology, completed: list[Completed], verdict: Verdict
                   ) -> None:
    settings = topology.config
    by_item = {parse_image_id(c.image_id): c for c in completed}
    items = {row["id"]: row for row in await conn.fetch(
        "SELECT id, status, sha256, object_key FROM metadata.items WHERE id = ANY($1::bigint[])", list(by_item))}
    copies: set[tuple[str, str]] = {(row["object_key"], row["tier"]) for row in await conn.fetch(
        "SELECT object_key, tier FROM metadata.copies WHERE item_id = ANY($1::bigint[])", list(by_item))}
    jobs: dict[int, Counter[tuple[str, str | None]]] = {}
    for row in await conn.fetch(
            "SELECT item_id, task_type, params->>'variant' AS variant, status FROM compute.jobs "
            "WHERE item_id = ANY($1::bigint[])", list(by_item)):
        jobs.setdefault(row["item_id"], Counter())[(row["task_type"], row["variant"])] += 1
        if row["status"] not in FINISHED_JOBS:
            verdict.unfinished_jobs += 1
        elif row["status"] != JobStatus.COMPLETED:
            verdict.failed_jobs += 1
    for item_id, upload in by_item.items():
        item = items.get(item_id)
        if item is None or item["status"] != ItemStatus.STORED or item["object_key"] is None:
            verdict.missing[upload.image_id] = f"not stored ({item['status'] if item else 'no item'})"
            continue
        if item["sha256"] is not None and item["sha256"] != upload.sha256:  # None: the client declared none
            verdict.missing[upload.image_id] = "stored with other bytes"
            continue
        bad = []
        for tier, bucket in settings.tiers().items():
            digest = await asyncio.to_thread(_sha256, topology.tier_root(bucket) / item["object_key"])
            if digest != upload.sha256:
                bad.append(f"{tier} {'missing' if digest is None else 'differs'}")
            elif tier != "primary" and (item["object_key"], tier) not in copies:
                bad.append(f"{tier} copy not recorded")
        if bad:
            verdict.missing[upload.image_id] = ", ".join(bad)
            continue
        verdict.verified.add(upload.image_id)
        counted = jobs.get(item_id, Counter())
        verdict.duplicated += sum(n - 1 for n in counted.values() if n > 1)
        verdict.unfinished_jobs += len(EXPECTED_JOBS - set(counted))
    verdict.duplicated += int(await conn.fetchval(
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM metadata.items WHERE status = $1 "
        "AND object_key IS NOT NULL GROUP BY object_key HAVING count(*) > 1) AS shared", str(ItemStatus.STORED)))


async def _outboxes(conn: asyncpg.Connection, verdict: Verdict) -> None:
    for schema in SERVICES:
        if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox") is not None:
            verdict.outboxes[schema] = await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox')


async def _holds(conn: asyncpg.Connection, verdict: Verdict) -> None:
    holds = {row["id"] for row in await conn.fetch("SELECT id FROM metadata.reservations")}
    open_sessions = {row["id"] for row in await conn.fetch(
        "SELECT id FROM uploads.upload_sessions WHERE status = ANY($1::text[])", [str(s) for s in WRITABLE])}
    verdict.holds_without_session = holds - open_sessions
    verdict.sessions_without_hold = open_sessions - holds


async def _dead_letters(topology: Topology) -> int:
    bus = Bus(topology.config)
    try:
        await asyncio.wait_for(bus.connect(), 10)
        return len(await DeadLetters(bus).list())
    finally:
        await bus.close()


async def converge(topology: Topology, completed: Iterable[Completed], within: float,
                   every: float = 1.0) -> tuple[Verdict, float | None]:
    """Check until everything holds or `within` seconds have passed: the last verdict, and the seconds it took
    to hold (None when it never did)."""
    uploads = list(completed)
    started = time.monotonic()
    while True:
        verdict = await check(topology, uploads)
        if verdict.ok:
            return verdict, time.monotonic() - started
        if time.monotonic() - started > within:
            return verdict, None
        await asyncio.sleep(every)
