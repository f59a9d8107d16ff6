"""The limit reference of `make bench`: a read as small as it can be on this stack, served beside Shoebox in
the same run, so that each read benchmark is reported as a ratio to it and survives a noisy machine.

`python -m benchmarks.reference --port P` serves, each after the same ES256 token check as every service
(`TokenVerifier`, keys from auth's JWKS):
- `GET /ref/images/{id}`: one asyncpg query for the item's row, and the row as orjson;
- `GET /ref/diff?collectionID=C&sinceTime=T`: a page of 2,500 files of the caller's collection in one asyncpg
  query, answered with the JSON Shoebox's `/collections/v2/diff` gives, byte for byte, made with orjson.
Same uvicorn options as `shoebox serve`. What it leaves out, and Shoebox does not: the face's error shapes
and request ids, metrics, body limits, visibility rules (a public image, an admin, a shared album), the
variants and their signed URLs, query validation, and streaming.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import orjson
from fastapi import FastAPI, Request, Response

from shoebox.serving import serve
from shoebox_lib.auth import JwksSource, TokenVerifier
from shoebox_lib.errors import ShoeboxError
from shoebox_lib.settings import get_settings

QUERY = """SELECT id, owner_id, title, filename, content_type, visibility, tags, status, size, width, height,
                  created_at FROM metadata.items WHERE id = $1 AND owner_id = $2"""
DIFF = """SELECT i.id, i.owner_id, m.collection_id, m.encrypted_key, m.key_decryption_nonce, i.object_key,
                 i.file_decryption_header, i.size, i.thumbnail_object_key, i.thumbnail_decryption_header,
                 i.thumbnail_size, i.metadata_encrypted_data, i.metadata_decryption_header, m.is_deleted,
                 i.status, m.updation_time, i.magic_metadata::text AS magic, i.pub_magic_metadata::text AS pub
          FROM metadata.collection_files m JOIN metadata.items i ON i.id = m.item_id
          JOIN metadata.collections c ON c.id = m.collection_id AND c.owner_id = $3
          WHERE m.collection_id = $1 AND m.updation_time > $2 ORDER BY m.updation_time LIMIT 2501"""
POOL = 16  # the benchmark's concurrency


def _magic(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    stored = orjson.loads(text)
    return {"version": stored["version"], "count": stored["count"], "data": stored["data"],
            "header": stored["header"]}


def _diff_entry(r: asyncpg.Record) -> dict[str, Any]:
    thumb = r["thumbnail_size"] or 0
    size = (r["size"] or 0) - thumb
    return {"id": r["id"], "ownerID": r["owner_id"], "collectionID": r["collection_id"],
            "encryptedKey": r["encrypted_key"] or "", "keyDecryptionNonce": r["key_decryption_nonce"] or "",
            "file": {"objectKey": r["object_key"], "decryptionHeader": r["file_decryption_header"] or "",
                     "size": size},
            "thumbnail": {"objectKey": r["thumbnail_object_key"],
                          "decryptionHeader": r["thumbnail_decryption_header"] or "", "size": thumb},
            "metadata": {"encryptedData": r["metadata_encrypted_data"] or "",
                         "decryptionHeader": r["metadata_decryption_header"] or ""},
            "isDeleted": r["is_deleted"] or r["status"] != "stored", "updationTime": r["updation_time"],
            "magicMetadata": _magic(r["magic"]), "pubMagicMetadata": _magic(r["pub"]),
            "info": {"fileSize": size, "thumbSize": thumb}}


def reference_app() -> FastAPI:
    settings = get_settings()
    held: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5) as http, \
                asyncpg.create_pool(settings.database_url, min_size=POOL, max_size=POOL) as pool:
            held["verifier"] = TokenVerifier(settings, JwksSource(f"{settings.auth_url}/.well-known/jwks.json", http))
            held["pool"] = pool
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    @app.get("/ref/images/{image_id}")
    async def image(image_id: str, request: Request) -> Response:
        try:
            caller = await held["verifier"].verify(request.headers.get("authorization", "").removeprefix("Bearer "))
        except ShoeboxError as refused:
            return Response(status_code=refused.status_code)
        row = await held["pool"].fetchrow(QUERY, int(image_id.removeprefix("img_")), caller.user_id)
        if row is None:
            return Response(status_code=404)
        return Response(orjson.dumps(dict(row)), media_type="application/json")

    @app.get("/ref/diff")
    async def diff(collectionID: int, sinceTime: int, request: Request) -> Response:
        try:
            caller = await held["verifier"].verify(request.headers.get("authorization", "").removeprefix("Bearer "))
        except ShoeboxError as refused:
            return Response(status_code=refused.status_code)
        rows = await held["pool"].fetch(DIFF, collectionID, sinceTime, caller.user_id)
        return Response(orjson.dumps({"diff": [_diff_entry(r) for r in rows[:2500]], "hasMore": len(rows) > 2500}),
                        media_type="application/json")

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    serve(reference_app(), get_settings(), "127.0.0.1", port)
