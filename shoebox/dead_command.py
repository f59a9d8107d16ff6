"""`shoebox dead list|retry`: the events consumers gave up on, on the bus the settings point at."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from shoebox_lib.bus.dead_letters import DeadLetter, DeadLetters


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "dead", help="dead letters: events a consumer gave up on; list them, or send them again once fixed")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every dead letter: its number, consumer, event and error")
    listing.add_argument("--json", action="store_true", help="as JSON")
    retry = actions.add_parser("retry", help="send dead letters again to their subject (consumers that applied "
                                             "them already skip them) and drop them from the list")
    retry.add_argument("seq", nargs="*", type=int, help="the numbers `shoebox dead list` shows")
    retry.add_argument("--all", action="store_true", help="every dead letter")


def run(args: argparse.Namespace) -> int:
    if args.action == "retry" and not args.seq and not args.all:
        print("shoebox dead retry: name the letters (their numbers) or pass --all", file=sys.stderr)
        return 2
    return asyncio.run(_run(args))


def _row(letter: DeadLetter) -> dict[str, Any]:
    return {"seq": letter.seq, "consumer": letter.consumer, "subject": letter.subject,
            "event_type": letter.event_type, "event_id": letter.event_id,
            "dead_at": letter.dead_at.isoformat() if letter.dead_at else None, "error": letter.error}


async def _run(args: argparse.Namespace) -> int:
    from shoebox_lib.bus import Bus
    from shoebox_lib.settings import get_settings

    bus = Bus(get_settings())
    await bus.connect()
    try:
        letters = DeadLetters(bus)
        if args.action == "list":
            found = await letters.list()
            if args.json:
                print(json.dumps([_row(letter) for letter in found], indent=2))
            else:
                for letter in found:
                    print(f"{letter.seq}\t{letter.consumer}\t{letter.event_type or '?'}\t{letter.event_id or '?'}"
                          f"\t{letter.error}")
                print(f"{len(found)} dead letter(s)", file=sys.stderr)
            return 0
        wanted = args.seq or [letter.seq for letter in await letters.list()]
        missing = 0
        for seq in wanted:
            if await letters.retry(seq) is None:
                print(f"shoebox dead retry: no dead letter {seq}", file=sys.stderr)
                missing += 1
            else:
                print(f"sent again: {seq}")
        return 1 if missing else 0
    finally:
        await bus.close()
