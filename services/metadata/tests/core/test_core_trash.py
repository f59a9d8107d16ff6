"""The trash on the cores: out of every collection, restorable, then gone for good and uncounted."""

from __future__ import annotations

import pytest

from shoebox_lib.errors import NotFound
from shoebox_lib.events import ItemDeleted
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.library.membership import FileKey
from shoebox_metadata.testing import Core


async def test_trash_takes_a_file_out_of_every_collection_and_restore_brings_it_back(core: Core) -> None:
    owner = core.user()
    album, other = await core.album(owner), await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "t"))
    await core.container.collections.add_files(owner, other.id, [FileKey(item.id, "k", "n")])

    await core.container.trash.trash(owner, await core.container.trash.memberships(owner, [item.id]))
    for collection in (album, other):
        entries, _ = await core.container.collections.diff(owner, collection.id, 0, 10)
        assert [e.is_deleted for e in entries] == [True]
    trashed, more = await core.container.trash.diff(owner, 0, 10)
    assert [(entry.item_id, entry.collection_id, item_.status) for entry, item_ in trashed] == [
        (item.id, album.id, ItemStatus.TRASHED)]
    assert not more
    with pytest.raises(NotFound):  # a trashed file is not in the library
        await core.container.files.readable(owner, [item.id])

    await core.container.trash.restore(owner, [item.id])
    entries, _ = await core.container.collections.diff(owner, album.id, 0, 10)
    assert [(e.file.status, e.is_deleted) for e in entries] == [(ItemStatus.STORED, False)]
    (entry, _), = (await core.container.trash.diff(owner, 0, 10))[0]
    assert entry.is_restored


async def test_only_trashed_files_are_deleted_for_good_and_then_stop_counting(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    kept = await core.container.files.commit(owner, await core.new_file(owner, album.id, "kept"))
    gone = await core.container.files.commit(owner, await core.new_file(owner, album.id, "gone", size=200))
    with pytest.raises(NotFound):
        await core.container.trash.delete_forever(owner, [kept.id])
    await core.container.trash.trash(owner, [(gone.id, album.id)])
    assert (await core.container.quotas.usage(owner.user_id)).used == 110 + 210, "the trash still counts"

    assert await core.container.trash.empty(owner, 2**62) == 1
    usage = await core.container.quotas.usage(owner.user_id)
    assert (usage.used, usage.file_count) == (110, 1)
    deleted = [data for subject, data in await core.events() if subject == ItemDeleted.subject_pattern()]
    assert deleted == [{"item_id": gone.id, "owner_id": owner.user_id,
                        "object_keys": [gone.object_key, gone.thumbnail_object_key]}]
    with pytest.raises(NotFound):  # and cannot come back
        await core.container.trash.restore(owner, [gone.id])


async def test_nobody_trashes_what_is_not_theirs(core: Core) -> None:
    owner, intruder = core.user(), core.user()
    album = await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "mine"))
    with pytest.raises(NotFound):
        await core.container.trash.trash(intruder, [(item.id, album.id)])
    with pytest.raises(NotFound):
        await core.container.trash.memberships(intruder, [item.id])
