"""How long a full `/collections/v2/diff` sync of a 100,000-file collection takes, and the p99 of one page.

Real PostgreSQL (embedded), rows of realistic size (an encrypted key, nonces, decryption headers, ~400
bytes of encrypted metadata, magic metadata), the whole system in this process, paging as Ente does.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from shoebox.testing import ADMIN_PASSWORD, run_system
from shoebox_lib.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from shoebox_lib.settings import Settings

FILES = 100_000


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
                          "private", "[]", "{}"))
            members.append((album, item_id, b64(48), b64(24), False, clock + n, owner, clock + n))
        await conn.copy_records_to_table("items", schema_name="metadata", records=items, columns=[
            "id", "owner_id", "filename", "content_type", "declared_size", "size", "status", "object_key",
            "encrypted", "file_decryption_header", "thumbnail_object_key", "thumbnail_decryption_header",
            "thumbnail_size", "metadata_encrypted_data", "metadata_decryption_header", "updation_time",
            "visibility", "tags", "extracted"])
        await conn.copy_records_to_table("collection_files", schema_name="metadata", records=members, columns=[
            "collection_id", "item_id", "encrypted_key", "key_decryption_nonce", "is_deleted", "updation_time",
            "added_by", "added_at"])
        await conn.execute("ANALYZE metadata.items; ANALYZE metadata.collection_files")
    finally:
        await conn.close()


async def run(files: int = FILES) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="shoebox-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        nats = EmbeddedNats(Path(tmp) / "nats")
        server = pg.start()
        try:
            url = f"http://127.0.0.1:{free_port()}"
            settings = Settings(database_url=server, nats_url=nats.start(), data_dir=Path(tmp) / "data",
                                public_url=url, auth_url=url, metadata_url=url, admin_password=ADMIN_PASSWORD,
                                log_level="WARNING")
            async with run_system(settings) as system:
                token = await system.token()
                headers = {"Authorization": f"Bearer {token}"}
                album = (await system.client.post("/collections", headers=headers, json={
                    "encryptedKey": b64(48), "keyDecryptionNonce": b64(24), "type": "album"})).json()["id"]
                owner = int((await system.client.get("/users/me", headers=headers)).json()["id"])
                started = time.perf_counter()
                await fill(server.replace("postgresql://", "postgres://"), owner, album, files)
                filled = time.perf_counter() - started

                pages: list[float] = []
                synced, since, more, total_bytes = 0, 0, True, 0
                started = time.perf_counter()
                while more:
                    page_started = time.perf_counter()
                    response = await system.client.get("/collections/v2/diff", headers=headers,
                                                       params={"collectionID": album, "sinceTime": since})
                    pages.append(time.perf_counter() - page_started)
                    body = response.json()
                    total_bytes += len(response.content)
                    synced += len(body["diff"])
                    since, more = body["diff"][-1]["updationTime"], body["hasMore"]
                elapsed = time.perf_counter() - started
        finally:
            nats.stop()
            pg.stop()
    ordered = sorted(pages)
    return [{
        "benchmark": f"full /collections/v2/diff sync of a {files:,}-file collection", "files": synced,
        "pages": len(pages), "seconds": round(elapsed, 2), "files_per_second": round(synced / elapsed),
        "page_p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
        "page_p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "response_mib": round(total_bytes / 2**20, 1), "fill_seconds": round(filled, 1),
    }]
