"""Collection trees of the CL store through the one port: nesting, children_count, is_indirectly_deleted,
CL's rules on parents (exists, is a collection, not soft-deleted, depth ≤ 10), and a tree's deletion: the
descendants go with it and their objects are erased from storage afterwards, on both storage drivers."""

from __future__ import annotations

import asyncio

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import ClCallers, ClClient, cl_callers, detail_of, stored_keys

MAX_DEPTH = 10


@pytest.fixture
async def cl(api: RunningSystem) -> ClCallers:
    return await cl_callers(api)


@pytest.fixture
def store(cl: ClCallers) -> ClClient:
    return cl.editor


async def test_nested_collections_count_their_children(store: ClClient) -> None:
    root = await store.create_collection("root")
    left = await store.create_collection("left", parent_id=root.id)
    right = await store.create_collection("right", parent_id=root.id)
    leaf = await store.create_collection("leaf", parent_id=left.id)
    file = await store.upload(b"a file in the leaf", filename="in-leaf.bin", parent_id=leaf.id)
    assert (left.parent_id, leaf.parent_id, file.parent_id) == (root.id, left.id, leaf.id)

    counts = {e.id: e.children_count for e in await store.all_entities()}
    assert counts[root.id] == 2
    assert counts[left.id] == 1
    assert counts[right.id] == 0
    assert counts[leaf.id] == 1
    assert (await store.read_entity(root.id)).children_count == 2

    # children_count follows moves and soft deletes of children
    await store.patch(leaf.id, parent_id=right.id)
    assert (await store.read_entity(left.id)).children_count == 0
    assert (await store.read_entity(right.id)).children_count == 1
    assert {e.id for e in (await store.list_entities(parent_id=right.id)).items} == {leaf.id}


async def test_soft_deleting_a_collection_marks_its_descendants_indirectly(store: ClClient) -> None:
    root = await store.create_collection("root")
    child = await store.create_collection("child", parent_id=root.id)
    grandchild = await store.create_collection("grandchild", parent_id=child.id)
    file = await store.upload(b"deep file", filename="deep.bin", parent_id=grandchild.id)
    bystander = await store.create_collection("bystander")

    await store.soft_delete(root.id)
    for descendant in (child.id, grandchild.id, file.id):
        seen = await store.read_entity(descendant)
        assert (seen.is_deleted, seen.is_indirectly_deleted) == (False, True), descendant
    root_seen = await store.read_entity(root.id)
    assert (root_seen.is_deleted, root_seen.is_indirectly_deleted) == (True, False)
    assert (await store.read_entity(bystander.id)).is_indirectly_deleted is False
    listed = {e.id: e.is_indirectly_deleted for e in await store.all_entities()}
    assert listed[file.id] is True
    assert listed[bystander.id] is False

    await store.restore(root.id)
    for descendant in (child.id, grandchild.id, file.id):
        assert (await store.read_entity(descendant)).is_indirectly_deleted is False


async def test_an_entity_read_alone_is_as_its_listing_shows_it(store: ClClient) -> None:
    """GET /entities/{id} is one statement of its own; the listing renders through the repository. Both
    show every field alike: parents, counts, indirect deletion and processing, in a tree with a trashed
    branch and soft-deleted members."""
    root = await store.create_collection("root")
    branch = await store.create_collection("branch", parent_id=root.id)
    kept = await store.create_collection("kept")
    await store.upload(b"in the branch", filename="branch.bin", parent_id=branch.id)
    await store.upload(b"in kept", filename="kept.bin", parent_id=kept.id)
    gone = await store.upload(b"gone from kept", filename="gone.bin", parent_id=kept.id)
    await store.upload(b"at the top", filename="top.bin")
    await store.soft_delete(gone.id)
    await store.soft_delete(root.id)

    listed = await store.all_entities()
    assert len(listed) == 7
    for entity in listed:
        assert await store.read_entity(entity.id) == entity, entity.id


async def test_a_parent_must_exist_be_a_live_collection(store: ClClient) -> None:
    before = (await store.list_entities()).pagination.total_items
    missing = await store.post_entities(is_collection=True, label="orphan", parent_id=987_654_321)
    assert missing.status_code == 422, missing.text
    assert isinstance(detail_of(missing), str)

    file = await store.upload(b"not a parent", filename="np.bin")
    under_file = await store.post_entities(is_collection=True, label="under a file", parent_id=file.id)
    assert under_file.status_code == 422, under_file.text
    assert isinstance(detail_of(under_file), str)

    gone = await store.create_collection("soft-deleted parent")
    await store.soft_delete(gone.id)
    for response in (await store.post_entities(is_collection=True, label="under deleted", parent_id=gone.id),
                     await store.post_entities(is_collection=False, parent_id=gone.id,
                                               file=("u.bin", b"file under a deleted parent", None))):
        assert response.status_code == 422, response.text
        assert isinstance(detail_of(response), str)
    # nothing was made by the refusals
    assert (await store.list_entities()).pagination.total_items == before + 2
    # PUT takes the same rules
    live = await store.create_collection("live")
    put = await store.put_entity(live.id, is_collection=True, label="live", parent_id=987_654_321)
    assert put.status_code == 422, put.text


async def test_depth_is_at_most_ten_levels(store: ClClient) -> None:
    parent = None
    for level in range(1, MAX_DEPTH + 1):
        made = await store.create_collection(f"level {level}", parent_id=parent)
        parent = made.id
    too_deep = await store.post_entities(is_collection=True, label="level 11", parent_id=parent)
    assert too_deep.status_code == 422, too_deep.text
    assert str(MAX_DEPTH) in str(detail_of(too_deep))
    file_too_deep = await store.post_entities(is_collection=False, parent_id=parent,
                                              file=("deep.bin", b"a file at level 11", None))
    assert file_too_deep.status_code == 422, file_too_deep.text
    assert (await store.list_entities()).pagination.total_items == MAX_DEPTH
    # moving a two-level subtree under level 9 would make level 11 too
    top = await store.create_collection("subtree")
    await store.create_collection("subtree child", parent_id=top.id)
    levels = {e.label: e.id for e in await store.all_entities()}
    moved = await store.patch_entity(top.id, {"parent_id": levels["level 10"]})
    assert moved.status_code == 422, moved.text


async def wait_erased(system: RunningSystem, keys: set[str]) -> None:
    """Erasure travels as events: poll storage (bounded) until none of the keys is there."""
    async with asyncio.timeout(60):
        while keys & await stored_keys(system):
            await asyncio.sleep(0.1)


async def test_deleting_a_tree_takes_its_descendants_and_erases_their_objects(system: RunningSystem) -> None:
    cl = await cl_callers(system)
    store = cl.editor
    root = await store.create_collection("root")
    child = await store.create_collection("child", parent_id=root.id)
    files = [await store.upload(f"file {n} of the tree".encode(), filename=f"t{n}.bin",
                                parent_id=root.id if n % 2 else child.id) for n in range(4)]
    keeper = await store.upload(b"a file outside the tree", filename="keep.bin")
    keys = {f.file_path for f in files}
    assert None not in keys
    assert keys <= await stored_keys(system)

    refused = await store.delete_entity(root.id)  # not soft-deleted first: nothing goes
    assert refused.status_code == 400, refused.text
    assert (await store.read_entity(child.id)).is_deleted is False
    assert keys <= await stored_keys(system)

    await store.soft_delete(root.id)
    gone = await store.delete_entity(root.id)
    assert gone.status_code == 204, gone.text
    for entity_id in (root.id, child.id, *(f.id for f in files)):
        assert (await store.get_entity(entity_id)).status_code == 404, entity_id
    assert {e.id for e in await store.all_entities()} == {keeper.id}
    await wait_erased(system, {k for k in keys if k})
    assert keeper.file_path in await stored_keys(system)
    assert await store.download(keeper.id) == b"a file outside the tree"
