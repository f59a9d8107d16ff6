"""Committing files and reading collections' diffs, straight on the cores."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from shoebox_lib.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from shoebox_lib.events import ItemStored, VariantStored
from shoebox_metadata.kinds import Change, ItemStatus
from shoebox_metadata.library.membership import FileKey
from shoebox_metadata.models import ItemVersion
from shoebox_metadata.testing import DEFAULT_QUOTA, Core


async def test_a_commit_is_listed_by_the_collection_diff_once(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    await core.container.quotas.hold(owner.user_id, "one", 110)  # as the upload signer did for upload "one"
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "one"))
    assert (item.status, item.size, item.owner_id) == (ItemStatus.STORED, 110, owner.user_id)

    entries, more = await core.container.collections.diff(owner, album.id, 0, 10)
    assert [(e.file.id, e.is_deleted) for e in entries] == [(item.id, False)]
    assert not more
    seen = entries[0].updation_time
    assert await core.container.collections.diff(owner, album.id, seen, 10) == ([], False)
    # The item's stored event and its thumbnail's, for the replicator.
    stored = sorted((ItemStored.subject_pattern(), VariantStored.subject_pattern()))
    assert sorted(subject for subject, _ in await core.events()) == stored
    usage = await core.container.quotas.usage(owner.user_id)
    assert (usage.used, usage.reserved, usage.file_count) == (110, 0, 1), "the hold became the stored bytes"


async def test_a_retried_commit_answers_the_same_file_and_counts_once(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    new = await core.new_file(owner, album.id, "again")
    first = await core.container.files.commit(owner, new)
    again = await core.container.files.commit(owner, new)
    assert first.id == again.id
    assert (await core.container.quotas.usage(owner.user_id)).used == 110


async def test_a_commit_must_match_what_was_uploaded_and_fit_the_quota(core: Core) -> None:
    owner, other = core.user(), core.user()
    album = await core.album(owner)
    new = await core.new_file(owner, album.id, "checked")
    with pytest.raises(InvalidInput, match="bytes, not 99"):
        await core.container.files.commit(owner, dataclasses.replace(new, file=dataclasses.replace(new.file, size=99)))
    with pytest.raises(InvalidInput, match="not handed out"):
        await core.container.files.commit(owner, await core.new_file(other, album.id, "theirs"))
    with pytest.raises(NotFound):  # someone else's collection is as good as none
        await core.container.files.commit(other, await core.new_file(other, album.id, "intruder"))
    with pytest.raises(QuotaExceeded):
        await core.container.files.commit(owner, await core.new_file(owner, album.id, "big", size=DEFAULT_QUOTA))


async def test_moving_a_file_shows_in_both_diffs_and_in_its_history(core: Core) -> None:
    owner = core.user()
    source, target = await core.album(owner), await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, source.id, "moved"))
    await core.container.collections.move_files(owner, source.id, target.id, [FileKey(item.id, "k2", "n2")])

    left, _ = await core.container.collections.diff(owner, source.id, 0, 10)
    arrived, _ = await core.container.collections.diff(owner, target.id, 0, 10)
    assert [e.is_deleted for e in left] == [True]
    assert [(e.file.id, e.encrypted_key) for e in arrived] == [(item.id, "k2")]
    async with core.db.transaction() as session:
        history = list((await session.execute(
            select(ItemVersion.change).where(ItemVersion.item_id == item.id).order_by(ItemVersion.id))).scalars())
    assert history == [Change.CREATED, Change.MOVED]


async def test_magic_metadata_is_versioned(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "magic"))
    magic = {"version": 0, "count": 1, "data": "d", "header": "h"}
    await core.container.files.set_magic_metadata(owner, [(item.id, magic)], public=False)
    (read,) = await core.container.files.readable(owner, [item.id])
    assert read.magic_metadata == {**magic, "version": 1}
    with pytest.raises(Conflict):  # the version it was read at is stale now
        await core.container.files.set_magic_metadata(owner, [(item.id, magic)], public=False)
