"""v1 search through the one port: every operator, who finds what (own, shared, public, never anyone
else's private images), paging that neither repeats nor skips while images come and go, malformed queries
as 400s naming the token, and on a seeded 100,000-image library, the plan of the very SQL the search
runs: its indexes, and no sequential scan of the items."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable, Select

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, make_png, upload
from shoebox_lib.db import Database
from shoebox_lib.ids import parse_album_id, parse_image_id
from shoebox_metadata.search.builder import readable_collections, statement
from shoebox_metadata.search.query import parse
from shoebox_metadata.store.space import STORE_SPACE
from shoebox_metadata.testing import seed_library_sql

PNG = make_png(8, 8)
DAY_MS = 24 * 3600 * 1000
JAN_2020 = 1577836800000  # 2020-01-01T00:00:00Z


def metadata_db(api: RunningSystem) -> Database:
    db: Database = api.services["metadata"].app.state.runtime.db
    return db


async def image(api: RunningSystem, token: str, *, filename: str = "photo.png", content_type: str = "image/png",
                **change: Any) -> str:
    """A stored image of the caller's, then changed as PATCH /v1/images/{id} changes it."""
    uploaded = await upload(api.client, token, PNG, filename=filename, content_type=content_type)
    # The upload's completion reaches metadata as an event: until then the image is not stored, nor found.
    async with asyncio.timeout(30):
        while (await api.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()[
                "status"] == "upload_pending":
            await asyncio.sleep(0.05)
    if change:
        changed = await api.client.patch(f"/v1/images/{uploaded.image_id}", headers=bearer(token), json=change)
        assert changed.status_code == 200, changed.text
    return uploaded.image_id


async def album(api: RunningSystem, token: str, title: str = "Holidays") -> str:
    made = await api.client.post("/v1/albums", headers=bearer(token), json={"title": title})
    assert made.status_code == 201, made.text
    album_id: str = made.json()["album_id"]
    return album_id


async def found(api: RunningSystem, token: str, q: str, **params: Any) -> list[str]:
    response = await api.client.get("/v1/search/images", headers=bearer(token), params={"q": q, **params})
    assert response.status_code == 200, (q, response.text)
    return [hit["image_id"] for hit in response.json()["images"]]


def newest_first(*image_ids: str) -> list[str]:
    return sorted(image_ids, key=parse_image_id, reverse=True)


async def set_columns(api: RunningSystem, image_id: str, **values: Any) -> None:
    """What no v1 route sets (a description, as CL's store keeps one; a capture time, as EXIF gives one)."""
    columns = ", ".join(f"{name} = :{name}" for name in values)
    async with metadata_db(api).transaction() as session:
        await session.execute(text(f"UPDATE metadata.items SET {columns} WHERE id = :id"),
                              {**values, "id": parse_image_id(image_id)})


async def test_each_operator_finds_what_it_names(api: RunningSystem) -> None:
    token = await api.user_token("sofia")
    holidays = await album(api, token)
    cat = await image(api, token, filename="black_cat.png", title="My Cat", tags=["Pets", "New York"])
    dog = await image(api, token, filename="dog.mp4", content_type="video/mp4", title="Dog on the beach",
                      tags=["pets"], album_ids=[holidays])
    tomcat = await image(api, token, filename="IMG_0042.JPG", content_type="image/jpeg", visibility="public",
                         album_ids=[holidays])
    sofa = await image(api, token, filename="sofa.png", title="Living room")
    await set_columns(api, sofa, description="a black sofa, no cat on it")
    await set_columns(api, cat, taken_at=JAN_2020 - DAY_MS)  # taken 2019-12-31
    await set_columns(api, dog, taken_at=JAN_2020)  # taken 2020-01-01; the others: uploaded today

    cases: dict[str, list[str]] = {
        "": [cat, dog, tomcat, sofa],
        "cat": [cat, sofa],  # the title and file name; the description
        "CAT": [cat, sofa],
        "img_00": [tomcat],  # a substring of the file name, `_` taken literally
        "beach": [dog],  # the title
        "york": [cat],  # a tag
        "sof": [sofa],  # file name and description
        "do": [dog],  # a short word: the beginning of a word
        "-cat": [dog, tomcat],
        '"black cat"': [cat],  # the file name's words, in order
        '"cat black"': [],
        '"black sofa"': [sofa],  # the description
        '"cat"': [cat, sofa],  # the whole word only
        "tag:pets": [cat, dog],
        "tag:PETS": [cat, dog],
        'tag:"new york"': [cat],
        "tag:pet": [],  # tags match whole
        "-tag:pets": [tomcat, sofa],
        "owner:me": [cat, dog, tomcat, sofa],
        "-owner:me": [],
        f"album:{holidays}": [dog, tomcat],
        f"-album:{holidays}": [cat, sofa],
        "type:video": [dog],
        "type:image": [cat, tomcat, sofa],
        "-type:image": [dog],
        "before:2020-01-01": [cat],  # the capture time, when known
        "before:2020-01-02": [cat, dog],
        "after:2020-01-01": [dog, tomcat, sofa],  # that day or later; else the upload time
        "after:2020-01-01 before:2020-01-02": [dog],
        "is:public": [tomcat],
        "-is:public": [cat, dog, sofa],
        "pets type:video after:2019-06-01": [dog],
        f'tag:pets -"black cat" album:{holidays}': [dog],
    }
    for q, expected in cases.items():
        assert await found(api, token, q) == newest_first(*expected), q

    # The answer is the seed's page of image summaries.
    response = await api.client.get("/v1/search/images", headers=bearer(token), params={"q": "beach"})
    body = response.json()
    assert body["next_cursor"] is None
    [hit] = body["images"]
    assert hit["image_id"] == dog
    assert hit["title"] == "Dog on the beach"
    assert hit["taken_at_ms"] == JAN_2020
    assert hit["status"] == "stored"


async def test_only_what_the_caller_may_read_is_found(api: RunningSystem) -> None:
    olga, sam, ivan = await api.user_token("olga"), await api.user_token("sam"), await api.user_token("ivan")
    shared = await album(api, olga, "Shared with Sam")
    kept = await album(api, olga, "Olga's own")
    private = await image(api, olga, title="zebra private", album_ids=[kept])
    in_shared = await image(api, olga, title="zebra shared", album_ids=[shared])
    public = await image(api, olga, title="zebra public", visibility="public")
    unlisted = await image(api, olga, title="zebra unlisted", visibility="unlisted")
    ivans_private = await image(api, ivan, title="zebra of ivan")
    ivans_public = await image(api, ivan, title="zebra of ivan, public", visibility="public")
    sams_own = await image(api, sam, title="zebra of sam")
    # Never found: an image not uploaded yet, one in the trash, and CL's store space's, public or not.
    pending = await api.client.post("/v1/images", headers=bearer(olga), json={
        "filename": "zebra.png", "content_type": "image/png", "size_bytes": 10, "title": "zebra pending"})
    assert pending.status_code == 201
    trashed = await image(api, olga, title="zebra trashed", visibility="public")
    assert (await api.client.delete(f"/v1/images/{trashed}", headers=bearer(olga))).status_code == 200
    async with metadata_db(api).transaction() as session:
        await session.execute(text(
            "INSERT INTO metadata.items (owner_id, filename, content_type, declared_size, visibility, title, tags, "
            "status, encrypted, extracted, updation_time) VALUES (:space, 'zebra.png', 'image/png', 1, 'public', "
            "'zebra in the store', '[]', 'stored', false, '{}', 0)"), {"space": STORE_SPACE})
    share = await api.client.post("/collections/share", headers=bearer(olga), json={
        "collectionID": parse_album_id(shared), "email": "sam@example.com", "role": "VIEWER",
        "encryptedKey": "sealed"})
    assert share.status_code == 200, share.text

    assert await found(api, olga, "zebra") == newest_first(private, in_shared, public, unlisted)
    assert await found(api, olga, "zebra is:public") == newest_first(public, ivans_public)
    assert await found(api, sam, "zebra") == newest_first(in_shared, sams_own)
    assert await found(api, sam, "zebra -owner:me") == [in_shared]
    assert await found(api, sam, "zebra owner:me") == [sams_own]
    assert await found(api, sam, f"album:{shared}") == [in_shared]
    assert await found(api, sam, f"album:{kept}") == []  # not shared with sam: nothing, as if it had no images
    assert await found(api, sam, "zebra is:public") == newest_first(public, ivans_public)
    assert await found(api, ivan, "zebra") == newest_first(ivans_private, ivans_public)
    assert await found(api, ivan, f"album:{shared}") == []

    # A share that ends, and an album that is deleted, take their images out of the sharee's reach at once.
    unshared = await api.client.post("/collections/unshare", headers=bearer(olga), json={
        "collectionID": parse_album_id(shared), "email": "sam@example.com"})
    assert unshared.status_code == 200, unshared.text
    assert await found(api, sam, "zebra") == [sams_own]
    assert (await api.client.post("/collections/share", headers=bearer(olga), json={
        "collectionID": parse_album_id(shared), "email": "sam@example.com", "role": "VIEWER",
        "encryptedKey": "sealed"})).status_code == 200
    assert await found(api, sam, "zebra") == newest_first(in_shared, sams_own)
    assert (await api.client.delete(f"/v1/albums/{shared}", headers=bearer(olga))).status_code == 200
    assert await found(api, sam, "zebra") == [sams_own]
    assert await found(api, olga, "zebra") == newest_first(private, in_shared, public, unlisted)  # images stay


def pages(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


async def test_paging_neither_repeats_nor_skips_while_images_come_and_go(api: RunningSystem) -> None:
    token = await api.user_token("paula")
    start = [await image(api, token, title=f"kitten {n}") for n in range(7)]
    seen: list[str] = []
    response = await api.client.get("/v1/search/images", headers=bearer(token), params={"q": "kitten", "limit": 3})
    body = response.json()
    seen += [hit["image_id"] for hit in body["images"]]
    assert seen == newest_first(*start)[:3]
    # Between pages: new images arrive (newer than every cursor), one already seen and one not yet seen go.
    added = [await image(api, token, title="kitten new") for _ in range(2)]
    gone_seen, gone_unseen = seen[1], newest_first(*start)[4]
    for gone in (gone_seen, gone_unseen):
        assert (await api.client.delete(f"/v1/images/{gone}", headers=bearer(token))).status_code == 200
    cursor = body["next_cursor"]
    while cursor is not None:
        body = (await api.client.get("/v1/search/images", headers=bearer(token),
                                     params={"q": "kitten", "limit": 3, "cursor": cursor})).json()
        seen += [hit["image_id"] for hit in body["images"]]
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)), "an image was repeated"
    assert seen == [i for i in newest_first(*start) if i != gone_unseen], "an image was skipped"
    assert not set(added) & set(seen)  # newer than the first page: a new search finds them
    assert (await found(api, token, "kitten"))[:2] == newest_first(*added)
    # A full last page says there is no more.
    exact = await api.client.get("/v1/search/images", headers=bearer(token), params={"q": "kitten", "limit": 7})
    assert len(exact.json()["images"]) == 7
    assert exact.json()["next_cursor"] is None


MALFORMED = [
    ("cat colour:red", "colour:red", 4),
    ('cat "black dog', '"black dog', 4),
    ("tag:", "tag:", 0),
    ("album:123", "album:123", 0),
    ("pets -before:2024-01-01", "-before:2024-01-01", 5),
]


async def test_a_malformed_query_is_a_400_naming_the_token(api: RunningSystem) -> None:
    token = await api.token()
    for q, bad, position in MALFORMED:
        response = await api.client.get("/v1/search/images", headers=bearer(token), params={"q": q})
        assert response.status_code == 400, q
        body = response.json()
        assert body["error"] == "VALIDATION_ERROR"
        assert repr(bad) in body["message"]
        assert f"position {position}" in body["message"]
        assert body["requestId"] == response.headers["x-request-id"]
        [detail] = body["details"]
        assert (detail["field"], detail["token"], detail["position"]) == ("q", bad, position)


async def test_bad_paging_and_no_token_are_refused(api: RunningSystem) -> None:
    token = await api.token()
    refused: list[dict[str, str | int]] = [
        {"q": "cat", "cursor": "not-a-cursor"}, {"q": "cat", "limit": 0}, {"q": "cat", "limit": 201},
        {"q": "x" * 600}, {"q": "cat\x00"}]
    for params in refused:
        response = await api.client.get("/v1/search/images", headers=bearer(token), params=params)
        assert response.status_code == 400, params
        assert response.json()["error"] == "VALIDATION_ERROR"
    assert (await api.client.get("/v1/search/images", params={"q": "cat"})).status_code == 401


# --- the plan on a seeded library --------------------------------------------------------------------------

class Explain(Executable, ClauseElement):
    """EXPLAIN of a statement, compiled exactly as the statement would be (the same SQL, the same binds)."""

    inherit_cache = False

    def __init__(self, select: Select[Any]) -> None:
        self.select = select


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.select, **kw)


SEED_IMAGES = 100_000
SEED = seed_library_sql(owner=":owner", count=":count")


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.timeout(600)
async def user_id(api: RunningSystem, token: str) -> int:
    declared = await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "probe.png", "content_type": "image/png", "size_bytes": 1})
    got = await api.client.get(f"/v1/images/{declared.json()['image_id']}", headers=bearer(token))
    return int(got.json()["owner_id"])


# Every tenth seeded image (and every zebra) in the owner's album, shared with a friend.
MEMBERS = """
INSERT INTO metadata.collection_files (collection_id, item_id, is_deleted, updation_time, added_by, added_at)
SELECT :album, id, false, id, :owner, id FROM metadata.items
WHERE owner_id = :owner AND (id % 10 = 0 OR description IS NOT NULL)
"""


@pytest.mark.timeout(600)
async def test_a_100k_library_is_searched_through_its_indexes(api: RunningSystem) -> None:
    token, friend_token = await api.user_token("hugo"), await api.user_token("fred")
    mine = await image(api, token, title="the only zebra photo uploaded")
    owner, friend = await user_id(api, token), await user_id(api, friend_token)
    shared = await album(api, token, "Every tenth")
    db = metadata_db(api)
    async with db.transaction() as session:
        await session.execute(text(SEED), {"owner": owner, "count": SEED_IMAGES})
        await session.execute(text(MEMBERS), {"album": parse_album_id(shared), "owner": owner})
    share = await api.client.post("/collections/share", headers=bearer(token), json={
        "collectionID": parse_album_id(shared), "email": "fred@example.com", "role": "VIEWER",
        "encryptedKey": "sealed"})
    assert share.status_code == 200, share.text
    async with db.transaction() as session:
        await session.execute(text("ANALYZE metadata.items"))
        await session.execute(text("ANALYZE metadata.collection_files"))

    expected_index = {
        "zebra": "ix_items_search_text",  # a free word: trigrams
        "w4711": "ix_items_search_text",
        '"at the zoo"': "ix_items_search_document",  # a phrase: full text
        "zo": "ix_items_search_document",  # a short word: a word's beginning, full text
        "tag:k42": "ix_items_tag_keys",
        "is:public": "ix_items_public",
        "before:2017-07-15": "ix_items_moment",
        "w4711 tag:k42 type:image": None,  # combined: whichever of its indexes the planner takes
        "zebra -tag:pets after:2017-06-01": None,
        f"album:{shared} tag:k40": None,
    }
    search_indexes = {"ix_items_search_text", "ix_items_search_document", "ix_items_tag_keys", "ix_items_public",
                      "ix_items_moment"}
    for caller in (owner, friend):  # the owner of 100,000 images, and one they shared ~10,000 with
        async with db.transaction() as session:
            readable = list((await session.execute(readable_collections(caller))).scalars())
        assert readable == [parse_album_id(shared)]
        for q, index in expected_index.items():
            select = statement(parse(q), caller, readable=readable, before_id=None, limit=50)
            async with db.transaction() as session:
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))  # as the search does
                [plan] = (await session.execute(Explain(select))).scalar_one()  # asyncpg decodes the JSON
            nodes = list(plan_nodes(plan["Plan"]))
            scans = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes]
            assert not [s for s in scans if s[0] == "Seq Scan" and s[1] == "items"], (caller, q, scans)
            used = {s[2] for s in scans if s[2]}  # a bitmap index scan names its index, not its table
            if index is not None:
                assert index in used, (caller, q, scans)
            else:
                assert used & search_indexes, (caller, q, scans)

    # And through the one port, the seeded library answers as planned.
    assert await found(api, token, '"only zebra"') == [mine]
    hits = await found(api, token, "zebra", limit=200)
    assert len(hits) == 1 + SEED_IMAGES // 1000
    assert hits[-1] == mine  # uploaded before the seed: the oldest
    assert len(await found(api, token, '"at the zoo"', limit=200)) == SEED_IMAGES // 1000
    assert len(await found(api, token, "tag:k40 type:video", limit=200)) == SEED_IMAGES // 1000  # n % 10 == 0
    assert await found(api, token, "tag:k40 -type:video") == []
    assert await found(api, friend_token, "zebra", limit=200) == hits[:-1]  # the album's, not the upload
