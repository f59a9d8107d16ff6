"""The limit reference of `make bench`: a read as small as it can be on this stack, served beside Shoebox in
the same run, so that each read benchmark is reported as a ratio to it and survives a noisy machine.

`python -m benchmarks.reference --port P` serves `GET /ref/images/{id}`: the same ES256 token check as
every service (`TokenVerifier`, keys from auth's JWKS), one asyncpg query for the item's row, and the row as
orjson. Same uvicorn options as `shoebox serve`. What it leaves out, and Shoebox does not: the face's error
shapes and request ids, metrics, body limits, visibility rules (a public image, an admin), the variants
and their signed URLs, and the ORM.
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
POOL = 16  # the benchmark's concurrency


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

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    serve(reference_app(), get_settings(), "127.0.0.1", port)
