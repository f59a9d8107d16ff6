"""v1 benchmarks over a 100,000-image library (rows written straight into metadata's tables, as
`benchmarks.library` does, then VACUUM ANALYZEd), auth and metadata each a `shoebox serve` process:

- `GET /v1/search/images`: p50/p99 of a few kinds of query (a common free word, a rare one, a tag, a
  phrase, a combination), one request at a time (the latency one client sees), side by side with
  `GET /v1/images?limit=50` (the caller's own images, newest first: a plain keyset page) in the same
  rounds, and the ratio of the two;
- a few of them by someone the album of all 100,000 images is shared with, beside its owner's;
- the same searches' SQL (what `shoebox_metadata.search.builder` emits) run straight against the
  database, indexed and then forced to a sequential scan (`enable_indexscan`, `enable_bitmapscan` off),
  interleaved in the same rounds: p50/p99 of each and the scan/indexed ratio;
- `GET /v1/albums/{id}/images?limit=50&cursor=…`: an album holding all 100,000 images, paged from the
  start, every page timed, and p50/p99 of the first 20 pages against pages 1,000 to 1,019 (a cursor that
  skipped by counting would grow with depth).

    python -m benchmarks.bench_v1
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from benchmarks import system
from shoebox_lib.db import Database
from shoebox_lib.ids import parse_album_id
from shoebox_metadata.search.builder import readable_collections, statement
from shoebox_metadata.search.query import parse
from shoebox_metadata.testing import seed_library_sql

IMAGES = 100_000
ROUNDS = 200  # per query kind, after WARM_UP
WARM_UP = 20
SQL_ROUNDS = 20  # a forced scan costs a whole pass over the table: fewer rounds
PAGE = 50
DEEP_PAGE = 1000
QUERIES = {
    "a common free word (beach: 1 in 10)": "beach",
    "a rare free word (zebra: 1 in 1,000)": "zebra",
    "a tag (tag:k42: 1 in 1,000)": "tag:k42",
    'a phrase ("at the zoo": 1 in 1,000)': '"at the zoo"',
    "combined (sunset tag:pets -type:video after:2019-01-01)": "sunset tag:pets -type:video after:2019-01-01",
}

# The same library as the EXPLAIN test's (services/metadata/tests/test_v1_search.py).
SEED = seed_library_sql(owner="$1", count="$2")
# Every seeded image in the album, added in id order at the owner's clock (unique, increasing).
MEMBERS = """
INSERT INTO metadata.collection_files (collection_id, item_id, is_deleted, updation_time, added_by, added_at)
SELECT $1, id, false, $3 + row_number() OVER (ORDER BY id), $2, $3 + row_number() OVER (ORDER BY id)
FROM metadata.items WHERE owner_id = $2 AND status = 'stored'
"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(samples, 0.50) * 1000, 2), "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
            "mean_ms": round(statistics.fmean(samples) * 1000, 2)}


async def seconds(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def seed(database_url: str, owner: int, album: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(SEED, owner, IMAGES)
        await conn.execute(MEMBERS, album, owner, time.time_ns() // 1000)
        # A library at rest, as autovacuum leaves it: its GIN indexes' pending entries merged, statistics fresh.
        await conn.execute("VACUUM ANALYZE metadata.items")
        await conn.execute("VACUUM ANALYZE metadata.collection_files")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def http_search(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Each query kind and the own-images page, alternating request by request."""

    async def get(path: str, params: dict[str, Any]) -> None:
        response = await client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        hits[path] = len(response.json()["images"])

    hits: dict[str, int] = {}

    rows = []
    for label, q in QUERIES.items():
        search, own = [], []
        for n in range(WARM_UP + ROUNDS):
            took = await seconds(partial(get, "/v1/search/images", {"q": q, "limit": PAGE}))
            base = await seconds(partial(get, "/v1/images", {"limit": PAGE}))
            if n >= WARM_UP:
                search.append(took)
                own.append(base)
        s, o = figures(search), figures(own)
        rows.append({"benchmark": f"GET /v1/search/images?limit={PAGE}: {label}, {IMAGES:,} images, one at a time",
                     "requests": ROUNDS, "first_page_hits": hits["/v1/search/images"], **s,
                     "own_images_page_p50_ms": o["p50_ms"], "own_images_page_p99_ms": o["p99_ms"],
                     "p50_ratio_to_own_images_page": round(s["p50_ms"] / o["p50_ms"], 2)})
    return rows


SHAREE_QUERIES = {"a common free word (beach)": "beach", "a rare free word (zebra)": "zebra",
                  "a tag (tag:k42)": "tag:k42"}
SHARE = """
INSERT INTO metadata.shares (collection_id, user_id, role, is_deleted, updation_time)
VALUES ($1, $2, 'VIEWER', false, 0)
"""


async def sharee_search(client: httpx.AsyncClient, owner: dict[str, str], sharee: dict[str, str]
                        ) -> list[dict[str, Any]]:
    """The same searches by the owner and by someone the album of all 100,000 is shared with (who owns
    nothing: every hit comes through the album), alternating request by request."""

    async def get(headers: dict[str, str], q: str) -> None:
        response = await client.get("/v1/search/images", headers=headers, params={"q": q, "limit": PAGE})
        assert response.status_code == 200, response.text
        assert len(response.json()["images"]) == PAGE

    rows = []
    for label, q in SHAREE_QUERIES.items():
        as_owner, as_sharee = [], []
        for n in range(WARM_UP + ROUNDS):
            took, shared_took = await seconds(partial(get, owner, q)), await seconds(partial(get, sharee, q))
            if n >= WARM_UP:
                as_owner.append(took)
                as_sharee.append(shared_took)
        o, s = figures(as_owner), figures(as_sharee)
        rows.append({"benchmark": f"GET /v1/search/images?limit={PAGE}: {label}, by a sharee of the album of "
                                  f"{IMAGES:,} vs by its owner, one at a time", "requests": ROUNDS,
                     "sharee_p50_ms": s["p50_ms"], "sharee_p99_ms": s["p99_ms"], "owner_p50_ms": o["p50_ms"],
                     "owner_p99_ms": o["p99_ms"], "p50_ratio_sharee_to_owner": round(s["p50_ms"] / o["p50_ms"], 2)})
    return rows


async def sql_search(database_url: str, owner: int) -> list[dict[str, Any]]:
    """The search's own SQL, indexed and forced to a scan, interleaved."""
    db = Database(database_url, pool_size=1)
    rows = []
    try:
        async with db.transaction() as session:
            readable = list((await session.execute(readable_collections(owner))).scalars())
        for label, q in QUERIES.items():
            select = statement(parse(q), owner, readable=readable, before_id=None, limit=PAGE)

            async def run(scan: bool, select: Any = select) -> None:
                async with db.transaction() as session:
                    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
                    if scan:
                        await session.execute(text("SET LOCAL enable_indexscan = off"))
                        await session.execute(text("SET LOCAL enable_bitmapscan = off"))
                        await session.execute(text("SET LOCAL enable_indexonlyscan = off"))
                    (await session.execute(select)).scalars().all()

            indexed, scanned = [], []
            for n in range(3 + SQL_ROUNDS):
                took, scan_took = await seconds(partial(run, False)), await seconds(partial(run, True))
                if n >= 3:
                    indexed.append(took)
                    scanned.append(scan_took)
            i, s = figures(indexed), figures(scanned)
            rows.append({"benchmark": f"search SQL straight to PostgreSQL: {label}, indexed vs forced sequential scan",
                         "rounds": SQL_ROUNDS, "indexed_p50_ms": i["p50_ms"], "indexed_p99_ms": i["p99_ms"],
                         "scan_p50_ms": s["p50_ms"], "scan_p99_ms": s["p99_ms"],
                         "p50_ratio_scan_to_indexed": round(s["p50_ms"] / i["p50_ms"], 1)})
    finally:
        await db.close()
    return rows


async def album_paging(client: httpx.AsyncClient, headers: dict[str, str], album_id: str) -> dict[str, Any]:
    pages: list[float] = []
    cursor: str | None = None
    for _ in range(WARM_UP):  # warm up on the first pages, then start again
        await client.get(f"/v1/albums/{album_id}/images", headers=headers, params={"limit": PAGE})
    while len(pages) < DEEP_PAGE + 20:
        params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        started = time.perf_counter()
        response = await client.get(f"/v1/albums/{album_id}/images", headers=headers, params=params)
        pages.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["images"]) == PAGE
        cursor = body["next_cursor"]
        assert cursor is not None
    first, deep = figures(pages[:20]), figures(pages[DEEP_PAGE:DEEP_PAGE + 20])
    return {"benchmark": f"GET /v1/albums/{{id}}/images?limit={PAGE}&cursor=…, an album of {IMAGES:,} images, "
                         f"paged from the start one at a time", "pages": len(pages), **figures(pages),
            "first_20_pages_p50_ms": first["p50_ms"], f"pages_{DEEP_PAGE}_to_{DEEP_PAGE + 19}_p50_ms": deep["p50_ms"],
            "p50_ratio_deep_to_first": round(deep["p50_ms"] / first["p50_ms"], 2)}


async def run() -> list[dict[str, Any]]:
    async with system.started(("auth", "metadata"), public="metadata", prefix="shoebox-bench-v1-") as live, \
            httpx.AsyncClient(base_url=live.urls["metadata"], timeout=60) as client:
        login = await client.post(f"{live.urls['auth']}/auth/token",
                                  data={"username": system.ADMIN, "password": system.PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = await client.post("/v1/albums", headers=headers, json={"title": "Everything"})
        assert made.status_code == 201, made.text
        album_id = made.json()["album_id"]
        declared = await client.post("/v1/images", headers=headers, json={
            "filename": "probe.png", "content_type": "image/png", "size_bytes": 1})
        owner = int((await client.get(f"/v1/images/{declared.json()['image_id']}", headers=headers)
                     ).json()["owner_id"])
        database_url = live.env["SHOEBOX_DATABASE_URL"]
        filled = await seed(database_url, owner, parse_album_id(album_id))
        rows: list[dict[str, Any]] = [{"benchmark": f"v1: seed {IMAGES:,} images and their album memberships "
                                                    "(INSERT … SELECT generate_series, indexes live, VACUUM ANALYZE)",
                                       "seconds": round(filled, 1)}]
        rows += await http_search(client, headers)
        made_user = await client.post(f"{live.urls['auth']}/users/", headers=headers,
                                      data={"username": "friend", "password": "friend-password-123"})
        assert made_user.status_code == 201, made_user.text
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(SHARE, parse_album_id(album_id), made_user.json()["id"])
        finally:
            await conn.close()
        friend = await client.post(f"{live.urls['auth']}/auth/token",
                                   data={"username": "friend", "password": "friend-password-123"})
        friend.raise_for_status()
        rows += await sharee_search(client, headers, {"Authorization": f"Bearer {friend.json()['access_token']}"})
        rows += await sql_search(database_url, owner)
        rows.append(await album_paging(client, headers, album_id))
        return rows


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(json.dumps(row))
