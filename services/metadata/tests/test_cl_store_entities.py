"""CL's entity routes through the one port, on collections (a plain form, no file): create, read, PUT,
PATCH (form and JSON), soft delete and delete, versions, lookup, the list's filters and order, the
deletion of everything, and seed 002's `/entity/` alias."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import ClCallers, ClClient, ClEntity, cl_callers, detail_of, stored_keys

MS_PER_S = 1000


@pytest.fixture
async def cl(api: RunningSystem) -> ClCallers:
    callers = await cl_callers(api)
    return callers


@pytest.fixture
def store(cl: ClCallers) -> ClClient:
    return cl.editor


def user_id(client: ClClient) -> str:
    assert client.me is not None
    return str(client.me.id)


async def test_a_collection_has_every_field_of_cls_entity(store: ClClient) -> None:
    before = int(time.time() * MS_PER_S)
    response = await store.post_entities(is_collection=True, label="Holidays", description="summer")
    assert response.status_code == 201, response.text
    body = response.json()
    for field in ("id", "is_collection", "label", "description", "parent_id", "children_count", "added_date",
                  "updated_date", "create_date", "added_by", "updated_by", "file_size", "height", "width",
                  "duration", "mime_type", "type", "extension", "md5", "file_path", "is_deleted",
                  "is_indirectly_deleted"):
        assert field in body, field
    assert isinstance(body["id"], int)
    assert (body["is_collection"], body["label"], body["description"], body["parent_id"]) == (
        True, "Holidays", "summer", None)
    assert (body["children_count"], body["is_deleted"], body["is_indirectly_deleted"]) == (0, False, False)
    assert body["added_by"] == body["updated_by"] == user_id(store)
    assert isinstance(body["added_date"], int)
    assert body["added_date"] >= before - 60 * MS_PER_S
    assert isinstance(body["updated_date"], int)
    read = await store.read_entity(body["id"])
    assert read.model_dump() == body


@pytest.mark.parametrize("flag", ["true", "1", "yes", "True"])
async def test_is_collection_takes_cls_spellings_of_true(store: ClClient, flag: str) -> None:
    response = await store.post_entities(is_collection=flag, label=f"flag {flag}")
    assert response.status_code == 201, response.text
    assert response.json()["is_collection"] is True


async def test_is_collection_is_required(store: ClClient) -> None:
    response = await store.post_entities(is_collection=None, label="what am I")
    assert response.status_code == 422, response.text
    assert detail_of(response)
    assert (await store.list_entities()).pagination.total_items == 0


async def test_unknown_and_malformed_ids(store: ClClient) -> None:
    missing = await store.get_entity(987_654_321)
    assert (missing.status_code, detail_of(missing)) == (404, "Entity not found")
    for call in (store.get_versions(987_654_321), store.get_media(987_654_321),
                 store.put_entity(987_654_321, is_collection=True, label="x"),
                 store.patch_entity(987_654_321, {"label": "x"}), store.delete_entity(987_654_321)):
        response = await call
        assert response.status_code == 404, response.text
        assert isinstance(detail_of(response), str)
    assert (await store.get_entity("abc")).status_code == 422
    assert (await store.get_entity(-5)).status_code in (404, 422)
    assert (await store.get_entity(2**70)).status_code in (404, 422)


async def test_put_replaces_the_fields_and_keeps_cls_rules(store: ClClient) -> None:
    parent = await store.create_collection("parent")
    child = await store.create_collection("child", description="old", parent_id=parent.id)
    put = await store.update(child.id, is_collection=True, label="renamed", description="new", parent_id=parent.id)
    assert (put.label, put.description, put.parent_id) == ("renamed", "new", parent.id)
    assert put.updated_date is not None
    assert child.updated_date is not None
    assert put.updated_date >= child.updated_date

    moved = await store.update(child.id, is_collection=True, label="renamed")  # no parent_id: top level
    assert (moved.parent_id, moved.description) == (None, None)

    mismatch = await store.put_entity(child.id, is_collection=False, label="not a file")
    assert mismatch.status_code == 400, mismatch.text
    assert isinstance(detail_of(mismatch), str)
    no_label = await store.put_entity(child.id, is_collection=True)
    assert no_label.status_code == 422, no_label.text
    no_flag = await store.put_entity(child.id, is_collection=None, label="x")
    assert no_flag.status_code == 422, no_flag.text
    assert (await store.read_entity(child.id)).label == "renamed"


async def test_patch_by_form_and_by_json_and_empty_clears(store: ClClient) -> None:
    parent = await store.create_collection("parent")
    entity = await store.create_collection("first", description="described", parent_id=parent.id)

    by_form = await store.patch(entity.id, label="second")
    assert (by_form.label, by_form.description, by_form.parent_id) == ("second", "described", parent.id)
    by_json = await store.patch(entity.id, as_json=True, label="third", description="by json")
    assert (by_json.label, by_json.description, by_json.parent_id) == ("third", "by json", parent.id)

    cleared = await store.patch(entity.id, description="", parent_id="")
    assert (cleared.label, cleared.description, cleared.parent_id) == ("third", None, None)
    assert (await store.read_entity(parent.id)).children_count == 0
    unlabelled = await store.patch(entity.id, label="")
    assert unlabelled.label is None

    regrown = await store.patch(entity.id, as_json=True, parent_id=parent.id)
    assert regrown.parent_id == parent.id
    assert (await store.read_entity(parent.id)).children_count == 1


async def test_patch_cannot_make_a_cycle_or_move_under_a_file(store: ClClient) -> None:
    top = await store.create_collection("top")
    middle = await store.create_collection("middle", parent_id=top.id)
    bottom = await store.create_collection("bottom", parent_id=middle.id)
    for target in (top.id, middle.id):
        looped = await store.patch_entity(target, {"parent_id": bottom.id})
        assert 400 <= looped.status_code < 500, looped.text
    itself = await store.patch_entity(top.id, {"parent_id": top.id})
    assert 400 <= itself.status_code < 500, itself.text
    file = await store.upload(b"a file is no parent", filename="f.bin")
    under_file = await store.patch_entity(bottom.id, {"parent_id": file.id})
    assert 400 <= under_file.status_code < 500, under_file.text
    assert (await store.read_entity(top.id)).parent_id is None
    assert (await store.read_entity(bottom.id)).parent_id == middle.id


async def test_soft_delete_restore_and_delete(store: ClClient) -> None:
    entity = await store.create_collection("short lived")
    refused = await store.delete_entity(entity.id)
    assert refused.status_code == 400, refused.text
    assert isinstance(detail_of(refused), str)
    assert (await store.read_entity(entity.id)).is_deleted is False

    assert (await store.soft_delete(entity.id)).is_deleted is True
    assert (await store.patch(entity.id, is_deleted="1")).is_deleted is True
    assert (await store.restore(entity.id)).is_deleted is False
    assert (await store.patch(entity.id, as_json=True, is_deleted=True)).is_deleted is True

    gone = await store.delete_entity(entity.id)
    assert gone.status_code == 204, gone.text
    assert gone.content == b""
    assert (await store.get_entity(entity.id)).status_code == 404
    assert (await store.delete_entity(entity.id)).status_code == 404
    assert entity.id not in {e.id for e in await store.all_entities()}


async def test_versions_count_every_change_and_show_the_old_state(store: ClClient) -> None:
    entity = await store.create_collection("v1 label", description="v1 description")
    await store.update(entity.id, is_collection=True, label="v2 label", description="v2 description")
    await store.patch(entity.id, label="v3 label")
    await store.patch(entity.id, as_json=True, description="v4 description")

    versions = await store.versions(entity.id)
    assert len(versions) >= 3
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    assert all(isinstance(v.transaction_id, int) for v in versions)
    assert [v.transaction_id for v in versions] == sorted(v.transaction_id for v in versions)
    assert len({v.transaction_id for v in versions}) == len(versions)
    assert versions[0].operation_type == 0
    assert all(v.operation_type == 1 for v in versions[1:])
    assert [v.label for v in versions] == ["v1 label", "v2 label", "v3 label", "v3 label"]
    assert [v.description for v in versions] == ["v1 description", "v2 description", "v2 description",
                                                  "v4 description"]
    assert all(isinstance(v.updated_date, int) for v in versions)
    # each version but the last was ended by the next one's transaction
    for older, newer in itertools.pairwise(versions):
        assert older.end_transaction_id == newer.transaction_id
    assert versions[-1].end_transaction_id is None

    first = await store.read_entity(entity.id, version=1)
    assert (first.id, first.label, first.description) == (entity.id, "v1 label", "v1 description")
    assert (await store.read_entity(entity.id, version=2)).label == "v2 label"
    assert (await store.read_entity(entity.id)).label == "v3 label"
    missing = await store.get_entity(entity.id, version=99)
    assert missing.status_code == 404, missing.text
    assert (await store.get_entity(entity.id, version=0)).status_code in (404, 422)

    # the list renders each entity as at version N, and leaves out those without one
    single = await store.create_collection("only one version")
    as_of_1 = await store.list_entities(version=1)
    labels = {e.id: e.label for e in as_of_1.items}
    assert labels[entity.id] == "v1 label"
    assert labels[single.id] == "only one version"
    as_of_3 = {e.id: e.label for e in (await store.list_entities(version=3)).items}
    assert as_of_3 == {entity.id: "v3 label"}


async def test_versions_record_soft_deletes_and_survive_reads(store: ClClient) -> None:
    entity = await store.create_collection("counted")
    for _ in range(3):
        await store.read_entity(entity.id)
        await store.list_entities()
    assert len(await store.versions(entity.id)) == 1
    await store.soft_delete(entity.id)
    await store.restore(entity.id)
    assert len(await store.versions(entity.id)) == 3


async def test_lookup_by_label(store: ClClient) -> None:
    one = await store.create_collection("unique label")
    assert (await store.lookup(label="unique label")).id == one.id
    await store.create_collection("twice")
    await store.create_collection("twice")
    assert (await store.get_lookup(label="twice")).status_code == 409
    neither = await store.get_lookup()
    assert neither.status_code == 400, neither.text
    assert isinstance(detail_of(neither), str)
    assert (await store.get_lookup(label="nobody has this")).status_code == 404
    await store.soft_delete(one.id)
    assert (await store.get_lookup(label="unique label")).status_code == 404


async def test_list_filters_and_order(store: ClClient, cl: ClCallers) -> None:
    alpha = await store.create_collection("Alpha trip")
    beta = await store.create_collection("beta TRIP", parent_id=alpha.id)
    gamma = await store.create_collection("gamma")
    deleted = await store.create_collection("deleted trip")
    await store.soft_delete(deleted.id)
    file = await store.upload(b"file contents for the filters", filename="notes.txt", parent_id=alpha.id)

    everything = await store.list_entities()
    ordered = [e.id for e in everything.items]
    assert ordered == [file.id, deleted.id, gamma.id, beta.id, alpha.id]  # newest first
    keys = [(e.added_date, e.id) for e in everything.items]
    assert keys == sorted(keys, reverse=True)

    def ids(page_items: list[ClEntity]) -> set[int]:
        return {e.id for e in page_items}

    assert ids((await store.list_entities(search_query="trip")).items) == {alpha.id, beta.id, deleted.id}
    assert ids((await store.list_entities(search_query="TRIP", exclude_deleted=True)).items) == {alpha.id, beta.id}
    assert ids((await store.list_entities(exclude_deleted=False)).items) == set(ordered)
    assert ids((await store.list_entities(parent_id=0)).items) == {alpha.id, gamma.id, deleted.id}
    assert ids((await store.list_entities(parent_id=alpha.id)).items) == {beta.id, file.id}
    assert ids((await store.list_entities(is_collection=True)).items) == {alpha.id, beta.id, gamma.id, deleted.id}
    assert ids((await store.list_entities(is_collection=False)).items) == {file.id}
    assert ids((await store.list_entities(parent_id=alpha.id, is_collection=False)).items) == {file.id}

    assert alpha.added_date is not None
    assert gamma.added_date is not None
    window = await store.list_entities(date_from=alpha.added_date, date_to=gamma.added_date)
    assert {alpha.id, beta.id, gamma.id} <= ids(window.items)
    assert file.id not in ids((await store.list_entities(date_to=alpha.added_date - 1)).items)
    assert ids((await store.list_entities(date_from=(file.added_date or 0) + 1)).items) == set()
    # filters ignored by CL are taken, not refused
    assert (await store.get_entities(extra={"filter_param": "anything"})).status_code == 200


async def test_delete_everything(cl: ClCallers, api: RunningSystem) -> None:
    made_ids = []
    for n in range(3):
        made = await cl.editor.create_collection(f"doomed {n}")
        child = await cl.editor.create_collection(f"doomed child {n}", parent_id=made.id)
        made_ids += [made.id, child.id]
    doomed_file = await cl.editor.upload(b"doomed file bytes", filename="doomed.bin")
    made_ids.append(doomed_file.id)
    assert doomed_file.file_path in await stored_keys(api)
    assert (await cl.editor.list_entities()).pagination.total_items == 7

    assert (await cl.admin.delete_collection_route()).status_code == 204
    assert (await cl.editor.list_entities()).pagination.total_items == 0
    made_ids.append((await cl.editor.create_collection("again")).id)
    assert (await cl.admin.delete_all()).status_code == 204
    empty = await cl.editor.list_entities()
    assert (empty.pagination.total_items, empty.pagination.total_pages, empty.items) == (0, 0, [])
    # ids are never reused, even after everything went
    newest = await cl.editor.create_collection("after")
    assert newest.id > max(made_ids)
    for gone in made_ids:
        assert (await cl.editor.get_entity(gone)).status_code == 404
    async with asyncio.timeout(60):  # the file's object leaves storage after the commit, by events
        while doomed_file.file_path in await stored_keys(api):
            await asyncio.sleep(0.1)


async def test_ids_are_never_reused(store: ClClient) -> None:
    first = await store.create_collection("first")
    await store.erase(first.id)
    second = await store.create_collection("second")
    assert second.id > first.id


async def test_the_entity_alias_of_seed_002(store: ClClient) -> None:
    """The same store on seed 002's paths, in seed 002's shape: times as ISO 8601 text."""
    alias = store.alias()
    created = await alias.post_entities(is_collection=True, label="via alias", description="002")
    assert created.status_code == 201, created.text
    body = created.json()
    entity_id = body["id"]
    assert isinstance(body["added_date"], str)
    assert datetime.fromisoformat(body["added_date"].replace("Z", "+00:00")).tzinfo is not None
    read = await alias.get_entity(entity_id)
    assert (read.status_code, read.json()["label"]) == (200, "via alias")
    assert (await store.read_entity(entity_id)).label == "via alias"  # one store, two paths
    listed = await alias.get_entities()
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["items"]] == [entity_id]
    assert listed.json()["pagination"]["total_items"] == 1

    put = await alias.put_entity(entity_id, is_collection=True, label="put via alias")
    assert (put.status_code, put.json()["label"]) == (200, "put via alias")
    patched = await alias.patch_entity(entity_id, {"description": "patched via alias"})
    assert (patched.status_code, patched.json()["description"]) == (200, "patched via alias")
    wrapped = await alias.patch_entity(entity_id, {"body": {"label": "wrapped"}}, as_json=True)
    assert (wrapped.status_code, wrapped.json()["label"]) == (200, "wrapped")
    assert len(await alias.versions(entity_id)) == 4

    refused = await alias.delete_entity(entity_id)
    assert refused.status_code == 400, refused.text
    assert (await alias.patch_entity(entity_id, {"is_deleted": True})).status_code == 200
    assert (await alias.delete_entity(entity_id)).status_code == 204
    assert (await alias.get_entity(entity_id)).status_code == 404
