"""`shoebox dead`, run as an operator would, against a running system's bus: an event no consumer can read
is listed once per consumer that gave up on it, as JSON for scripts; a letter that is not there is an error."""

from __future__ import annotations

import asyncio
import json
import subprocess

from shoebox.testing import RunningSystem, clean_environment, shoebox_command


async def dead(system: RunningSystem, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment(SHOEBOX_NATS_URL=system.settings.nats_url, SHOEBOX_BUS_PREFIX=system.settings.bus_prefix)
    done = await asyncio.to_thread(subprocess.run, shoebox_command("dead", *args), env=env, capture_output=True,
                                   text=True, timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


async def test_dead_letters_are_listed_per_consumer_and_an_unknown_one_is_refused(api: RunningSystem) -> None:
    listed = await dead(api, "list", "--json")
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])

    bus = api.services["replicator"].app.state.runtime.bus
    await bus.publish("events.item.stored", b"{not an event", msg_id="unreadable-1")
    consumers = {"replicator-item-stored", "compute-item-stored", "uploads-item-stored"}
    async with asyncio.timeout(60):
        while {row["consumer"] for row in json.loads((await dead(api, "list", "--json")).stdout)} != consumers:
            await asyncio.sleep(0.5)
    rows = json.loads((await dead(api, "list", "--json")).stdout)
    assert len(rows) == 3
    assert all(row["subject"] == f"{api.settings.bus_prefix}.events.item.stored" and "malformed" in row["error"]
               and row["event_id"] is None for row in rows)
    text = await dead(api, "list")
    assert text.returncode == 0
    assert len(text.stdout.splitlines()) == 3

    refused = await dead(api, "retry", str(max(row["seq"] for row in rows) + 100))
    assert refused.returncode == 1
    assert "no dead letter" in refused.stderr
    assert (await dead(api, "retry")).returncode == 2
