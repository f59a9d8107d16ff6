"""The Ente sync path: a full `/collections/v2/diff` sync of a 100,000-file collection, and one 2,500-file page
against the limit reference's (benchmarks/reference.py, which gives the same bytes from one asyncpg query and
orjson), side by side in one run.

`shoebox dev` runs as its own process, as the reference does, so neither competes with this client for a
core. Rows are of realistic size (an encrypted key, nonces, decryption headers, ~400 bytes of encrypted
metadata, magic metadata), written in bulk, and paged as Ente does. Server time is each page from request to
its last byte, summed; the client's own JSON parsing is not in it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from benchmarks.__main__ import DevSystem, against_reference, dev_system, reference_beside

FILES = 100_000
MAGIC = json.dumps({"version": 1, "count": 2, "data": base64.b64encode(os.urandom(90)).decode(),
                    "header": base64.b64encode(os.urandom(24)).decode()})


def b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


async def fill(database_url: str, owner: int, album: int, files: int) -> None:
    """Items and memberships as Ente commits would leave them, written in bulk."""
    conn = await asyncpg.connect(database_url)
    try:
        first = await conn.fetchval("SELECT coalesce(max(id), 10000) + 1 FROM metadata.items")
        clock = time.time_ns() // 1000
        items, members = [], []
        for n in range(files):
            item_id = first + n
            items.append((item_id, owner, "", None, 2_000_000, 2_000_000, "stored", f"u/{owner}/e/{n:08d}", True,
                          b64(24), f"u/{owner}/e/{n:08d}t", b64(24), 20_000, b64(300), b64(24), clock + n,
                          "private", "[]", "{}", MAGIC if n % 2 else None))
            members.append((album, item_id, b64(48), b64(24), False, clock + n, owner, clock + n))
        await conn.copy_records_to_table("items", schema_name="metadata", records=items, columns=[
            "id", "owner_id", "filename", "content_type", "declared_size", "size", "status", "object_key",
            "encrypted", "file_decryption_header", "thumbnail_object_key", "thumbnail_decryption_header",
            "thumbnail_size", "metadata_encrypted_data", "metadata_decryption_header", "updation_time",
            "visibility", "tags", "extracted", "pub_magic_metadata"])
        await conn.copy_records_to_table("collection_files", schema_name="metadata", records=members, columns=[
            "collection_id", "item_id", "encrypted_key", "key_decryption_nonce", "is_deleted", "updation_time",
            "added_by", "added_at"])
        await conn.execute("ANALYZE metadata.items; ANALYZE metadata.collection_files")
    finally:
        await conn.close()


async def full_sync(system: DevSystem, album: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {system.token}"}
    pages: list[float] = []
    synced, since, more, total_bytes = 0, 0, True, 0
    started = time.perf_counter()
    while more:
        page_started = time.perf_counter()
        response = await system.client.get("/collections/v2/diff", headers=headers,
                                           params={"collectionID": album, "sinceTime": since})
        pages.append(time.perf_counter() - page_started)
        body = orjson.loads(response.content)
        total_bytes += len(response.content)
        synced += len(body["diff"])
        since, more = body["diff"][-1]["updationTime"], body["hasMore"]
    elapsed = time.perf_counter() - started
    ordered = sorted(pages)
    return {
        "benchmark": f"full /collections/v2/diff sync of a {synced:,}-file collection", "files": synced,
        "pages": len(pages), "server_seconds": round(sum(pages), 2), "wall_seconds": round(elapsed, 2),
        "files_per_second": round(synced / sum(pages)),
        "page_p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
        "page_p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "response_mib": round(total_bytes / 2**20, 1),
    }


async def run(files: int = FILES) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="shoebox-bench-") as tmp:
        async with dev_system(Path(tmp)) as system:
            headers = {"Authorization": f"Bearer {system.token}"}
            album = (await system.client.post("/collections", headers=headers, json={
                "encryptedKey": b64(48), "keyDecryptionNonce": b64(24), "type": "album"})).json()["id"]
            owner = int((await system.client.get("/users/me", headers=headers)).json()["id"])
            started = time.perf_counter()
            await fill(system.env["SHOEBOX_DATABASE_URL"], owner, album, files)
            results: list[dict[str, Any]] = [
                {"benchmark": f"filling {files:,} files", "seconds": round(time.perf_counter() - started, 1)}]
            results.append(await full_sync(system, album))
            if shutil.which("wrk"):
                async with reference_beside(system, Path(tmp)) as reference:
                    page = f"?collectionID={album}&sinceTime=0"
                    ours = await system.client.get(f"/collections/v2/diff{page}", headers=headers)
                    theirs = await system.client.get(f"{reference}/ref/diff{page}", headers=headers)
                    row = await against_reference("GET /collections/v2/diff (a 2,500-file page)", system,
                                                  f"/collections/v2/diff{page}", reference,
                                                  reference_path=f"/ref/diff{page}")
                    # The ratio means something only if both gave the same answer.
                    row["same_json_as_reference"] = orjson.loads(ours.content) == orjson.loads(theirs.content)
                    row["page_kib"] = round(len(ours.content) / 1024)
                    results.append(row)
    return results
