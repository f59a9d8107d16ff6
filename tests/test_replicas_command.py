"""`shoebox replicas`, run as an operator would, against a running system: the status of every tier, one item's
copies verified without a change, a rotten copy repaired, an object with no good copy left reported damaged
(and the exit status says so, for scripts and monitors)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from shoebox.testing import RunningSystem, clean_environment, shoebox_command
from shoebox.testing.flow import make_png, upload, wait_processed
from shoebox.testing.replicas import Damage, damage, original_key, replicator, settled
from shoebox_lib.ids import parse_image_id
from shoebox_lib.settings import Settings
from shoebox_replicator.models import KnownObject

# What the command reads: the database and every tier.
READS = ("database_url", "data_dir", "storage_driver", "bucket_primary", "bucket_secondary", "bucket_cold",
         "s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key", "cold_s3_endpoint_url",
         "cold_s3_access_key_id", "cold_s3_secret_access_key")


def environment(settings: Settings) -> dict[str, str]:
    values = {}
    for name in READS:
        value = getattr(settings, name)
        if value is not None:
            values[f"SHOEBOX_{name.upper()}"] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return clean_environment(**values)


async def run(system: RunningSystem, *args: str) -> subprocess.CompletedProcess[str]:
    done = await asyncio.to_thread(subprocess.run, shoebox_command("replicas", *args),
                                   env=environment(system.settings), capture_output=True, text=True, timeout=120,
                                   check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


async def replicas(system: RunningSystem, *args: str) -> tuple[int, str]:
    done = await run(system, *args)
    return done.returncode, done.stdout + done.stderr


async def as_json(system: RunningSystem, *args: str, status: int) -> Any:
    """What it prints on stdout, which is JSON alone (what it logs goes to stderr)."""
    done = await run(system, *args, "--json")
    assert done.returncode == status, done.stdout + done.stderr
    return json.loads(done.stdout)


async def test_status_verify_and_repair_as_an_operator_runs_them(three_tiers: RunningSystem) -> None:
    system = three_tiers
    token = await system.user_token("opal")
    uploaded = await upload(system.client, token, make_png(36, 20))
    await wait_processed(system.client, token, uploaded.image_id)
    await settled(system)
    container, db = replicator(system)
    storage = container.scrubber.storage
    async with db.transaction() as session:
        objects = list((await session.execute(select(KnownObject))).scalars())
    key = await original_key(system, uploaded.image_id)

    status = await as_json(system, "status", status=0)
    assert status["objects"] == len(objects)
    assert {t["tier"]: (t["copies"], t["owed"], t["failing"]) for t in status["tiers"]} == {
        "secondary": (len(objects), 0, 0), "cold": (len(objects), 0, 0)}
    assert status["damaged"] == []
    code, table = await replicas(system, "status")
    assert code == 0
    assert f"objects kept: {len(objects)}" in table
    assert "damaged objects (no good copy on any tier): 0" in table

    await damage(storage.tier("secondary"), key, Damage.ROT)
    rotten = await storage.tier("secondary").get_bytes(key)
    verified = await as_json(system, "verify", uploaded.image_id, status=1)
    states = {r["object_key"]: {c["tier"]: c["state"] for c in r["checks"]} for r in verified}
    assert states[key] == {"primary": "good", "secondary": "corrupt", "cold": "good"}
    assert await storage.tier("secondary").get_bytes(key) == rotten  # verify changes nothing

    repaired = await as_json(system, "repair", str(parse_image_id(uploaded.image_id)), status=0)
    assert [r["repaired"] for r in repaired if r["object_key"] == key] == [["secondary"]]
    assert await storage.tier("secondary").get_bytes(key) == await storage.primary.get_bytes(key)
    assert (await replicas(system, "verify", uploaded.image_id))[0] == 0

    for tier in storage.tiers:
        await damage(storage.tier(tier), key, Damage.TRUNCATE)
    code, out = await replicas(system, "repair", uploaded.image_id)
    assert code == 1
    assert f"{key}  sha256 " in out
    assert "DAMAGED: no good copy left" in out
    status = await as_json(system, "status", status=1)
    assert [d["object_key"] for d in status["damaged"]] == [key]


async def test_an_item_it_does_not_know_or_cannot_read_is_a_clear_refusal(api: RunningSystem) -> None:
    assert await replicas(api, "verify", "424242") == (
        2, "shoebox replicas: the replicator keeps no object of item 424242\n")
    code, out = await replicas(api, "repair", "not-an-id")
    assert (code, out) == (2, "shoebox replicas: 'not-an-id' is not an item id (a number, or img_…)\n")
