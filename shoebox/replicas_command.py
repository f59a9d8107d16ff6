"""`shoebox replicas status|verify ITEM|repair ITEM`: replication as an operator sees it, on the installation
the settings point at (its database and every tier), whether or not the replicator is running."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from shoebox_lib.ids import IMAGE_PREFIX, parse_image_id


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "replicas", help="replication: copies owed per tier, damaged objects, scrub and backfill; check or "
                         "repair one item's copies")
    actions = parser.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="copies made and owed per tier, the oldest owed, failing tries, "
                                               "damaged objects, scrub and backfill progress")
    status.add_argument("--json", action="store_true", help="as JSON")
    for name, text in (("verify", "read back and hash every copy of the item's objects on every tier, and say "
                                  "which are good; changes nothing"),
                       ("repair", "as verify, then rewrite every bad copy from a good one (or mark the object "
                                  "damaged when none is left)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("item", help=f"the item: its number, or its v1 id ({IMAGE_PREFIX}…)")
        action.add_argument("--json", action="store_true", help="as JSON")


def run(args: argparse.Namespace) -> int:
    if args.action == "status":
        return asyncio.run(_status(args.json))
    try:
        item_id = int(args.item) if args.item.isdigit() else parse_image_id(args.item)
    except Exception:
        print(f"shoebox replicas: {args.item!r} is not an item id (a number, or {IMAGE_PREFIX}…)", file=sys.stderr)
        return 2
    return asyncio.run(_check(item_id, repair=args.action == "repair", as_json=args.json))


@asynccontextmanager
async def _replicator() -> AsyncIterator[Any]:
    from shoebox_lib.db import Database
    from shoebox_lib.settings import get_settings
    from shoebox_lib.storage import Storage
    from shoebox_replicator.container import Container
    from shoebox_replicator.settings import ReplicatorSettings

    settings = get_settings()
    db, storage = Database(settings.database_url), Storage.from_settings(settings)
    try:
        await storage.start()
        yield Container.build(db, storage, ReplicatorSettings()), db, storage
    finally:
        await storage.close()
        await db.close()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


async def _status(as_json: bool) -> int:
    from shoebox_replicator.status import replication_status

    async with _replicator() as (_, db, storage):
        status = await replication_status(db, list(storage.tiers))
    # Damaged objects fail the command whatever the format, so a monitor can act on the exit status alone.
    outcome = 1 if status.damaged else 0
    if as_json:
        print(json.dumps(_plain(status), indent=2))
        return outcome
    print(f"objects kept: {status.objects}")
    print(f"{'tier':<10} {'copies':>8} {'bytes':>14} {'owed':>8} {'failing':>8} {'oldest owed':>12}  backfill")
    for t in status.tiers:
        oldest = "-" if t.oldest_owed_seconds is None else f"{t.oldest_owed_seconds:.0f}s"
        backfill = ("never" if t.backfill_queued is None else
                    f"{t.backfill_queued} queued, {'done' if t.backfill_done else 'running'}")
        print(f"{t.tier:<10} {t.copies:>8} {t.bytes:>14} {t.owed:>8} {t.failing:>8} {oldest:>12}  {backfill}")
        if t.last_error:
            print(f"{'':<10} last error: {t.last_error}")
    scrub = (f"pass {status.scrub_passes + 1} running, at {status.scrub_cursor or 'the start'!r}"
             if status.scrub_cursor is not None else
             f"{status.scrub_passes} passes done, the last finished {status.scrub_last_finished_at or 'never'}")
    print(f"scrub: {scrub}")
    print(f"damaged objects (no good copy on any tier): {len(status.damaged)}")
    for d in status.damaged:
        print(f"  {d.object_key} (item {d.item_id}) since {d.since.isoformat()}")
    return outcome


async def _check(item_id: int, *, repair: bool, as_json: bool) -> int:
    from sqlalchemy import select

    from shoebox_replicator.models import KnownObject

    async with _replicator() as (container, db, _):
        async with db.transaction() as session:
            keys = list((await session.execute(select(KnownObject.object_key).where(KnownObject.item_id == item_id)
                                               .order_by(KnownObject.object_key))).scalars())
        if not keys:
            print(f"shoebox replicas: the replicator keeps no object of item {item_id}", file=sys.stderr)
            return 2
        reports = [r for key in keys if (r := await container.scrubber.check(key, repair=repair)) is not None]
    if as_json:
        print(json.dumps(_plain(reports), indent=2))
    else:
        for r in reports:
            print(f"{r.object_key}  sha256 {r.sha256 or 'unknown'}" + ("  DAMAGED: no good copy left" if r.damaged
                                                                       else ""))
            for c in r.checks:
                detail = f"{c.size} bytes" if c.size is not None else (c.error or "")
                print(f"  {c.tier:<10} {c.state:<12} {detail}")
            for tier in r.repaired:
                print(f"  repaired {tier}")
            for tier, why in r.failed.items():
                print(f"  could not repair {tier}: {why}")
    healthy = all(not r.damaged and not r.failed and all(not c.state.bad or c.tier in r.repaired for c in r.checks)
                  for r in reports)
    return 0 if healthy else 1
