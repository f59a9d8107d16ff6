"""The CL store's list at size, through the one port: pagination over 1,000 entities (every entity once,
the pagination object exact on every page), CL's page bounds, and 30 concurrent creates getting
distinct ids above every earlier one."""

from __future__ import annotations

import asyncio
import math

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import ClCallers, ClClient, ClEntity, cl_callers, detail_of

ENTITIES = 1000
CONCURRENT = 30


@pytest.fixture
async def cl(api: RunningSystem) -> ClCallers:
    return await cl_callers(api)


@pytest.fixture
def store(cl: ClCallers) -> ClClient:
    return cl.editor


async def create_many(store: ClClient, count: int, *, parallel: int = 8, parent_id: int | None = None
                      ) -> list[ClEntity]:
    """Collections through the plain form (no file, so cheap), a few at a time."""
    numbers = iter(range(count))
    made: list[ClEntity] = []

    async def worker() -> None:
        for n in numbers:
            made.append(await store.create_collection(f"entity {n:04d}", parent_id=parent_id))

    await asyncio.gather(*(worker() for _ in range(parallel)))
    return made


async def test_pagination_over_a_thousand_entities(store: ClClient) -> None:
    made = await create_many(store, ENTITIES)
    expected = {e.id for e in made}
    assert len(expected) == ENTITIES

    walks: dict[int, list[tuple[int, int]]] = {}
    for page_size in (100, 20, 7):
        pages = math.ceil(ENTITIES / page_size)
        seen: list[int] = []
        keys: list[tuple[int, int]] = []
        for page in range(1, pages + 1):
            answer = await store.list_entities(page=page, page_size=page_size)
            p = answer.pagination
            assert (p.page, p.page_size, p.total_items, p.total_pages) == (page, page_size, ENTITIES, pages)
            assert (p.has_prev, p.has_next) == (page > 1, page < pages)
            want = page_size if page < pages else ENTITIES - page_size * (pages - 1)
            assert len(answer.items) == want, (page_size, page)
            seen += [e.id for e in answer.items]
            keys += [(e.added_date or 0, e.id) for e in answer.items]
        assert len(seen) == len(set(seen)) == ENTITIES, page_size  # no duplicates across pages
        assert set(seen) == expected  # none missing
        walks[page_size] = keys

    beyond = await store.list_entities(page=pages + 1, page_size=7)
    assert beyond.items == []
    assert (beyond.pagination.total_items, beyond.pagination.has_next) == (ENTITIES, False)

    # the default page is CL's: 20 items, page 1
    default = await store.list_entities()
    assert (default.pagination.page, default.pagination.page_size, len(default.items)) == (1, 20, 20)
    # counts follow the filters
    await store.soft_delete(made[0].id)
    live = await store.list_entities(exclude_deleted=True, page_size=100)
    assert live.pagination.total_items == ENTITIES - 1
    assert live.pagination.total_pages == math.ceil((ENTITIES - 1) / 100)
    # newest first across each whole walk: added_date desc, then id desc
    for page_size, keys in walks.items():
        assert keys == sorted(keys, reverse=True), page_size


async def test_pagination_inside_a_collection(store: ClClient) -> None:
    album = await store.create_collection("album")
    inside = await create_many(store, 45, parent_id=album.id)
    await create_many(store, 5)
    pages = [await store.list_entities(parent_id=album.id, page=n, page_size=20) for n in (1, 2, 3)]
    assert [len(p.items) for p in pages] == [20, 20, 5]
    assert {p.pagination.total_items for p in pages} == {45}
    assert {e.id for p in pages for e in p.items} == {e.id for e in inside}
    assert (await store.read_entity(album.id)).children_count == 45


@pytest.mark.parametrize(("page", "page_size"), [(1, 101), (1, 0), (0, 20), (-1, 20), (1, -5)])
async def test_page_bounds_are_refused_with_a_validation_list(store: ClClient, page: int, page_size: int) -> None:
    response = await store.get_entities(page=page, page_size=page_size)
    assert response.status_code == 422, response.text
    detail = detail_of(response)
    assert isinstance(detail, list)
    assert detail
    assert {"loc", "msg"} <= set(detail[0])
    assert (await store.get_entities(page=1, page_size=100)).status_code == 200


@pytest.mark.parametrize("value", ["abc", "1.5", "99999999999999999999999"])
async def test_malformed_numbers_in_filters_are_refused(store: ClClient, value: str) -> None:
    for name in ("page", "page_size", "parent_id", "width", "file_size_min", "date_from", "version"):
        response = await store.get_entities(extra={name: value})
        assert response.status_code == 422, (name, response.text)


async def test_thirty_concurrent_creates_get_distinct_increasing_ids(store: ClClient) -> None:
    before = await store.create_collection("before")

    async def create(n: int) -> ClEntity:
        if n % 3 == 0:  # files too: items and collections draw from one sequence
            return await store.upload(f"concurrent file {n}".encode(), filename=f"c{n}.bin")
        return await store.create_collection(f"concurrent {n}")

    made = await asyncio.gather(*(create(n) for n in range(CONCURRENT)))
    ids = [e.id for e in made]
    assert len(set(ids)) == CONCURRENT
    assert min(ids) > before.id
    after = await store.create_collection("after")
    assert after.id > max(ids)
    listed = {e.id for e in await store.all_entities()}
    assert listed == {before.id, after.id, *ids}
