"""Deleting an account erases its library (auth's `user.deleted`), and an admin's allowance for an account
applies (auth's `account.quota_set`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from shoebox_lib.errors import NotFound, Unauthenticated
from shoebox_lib.events import ItemDeleted, QuotaSet, UploadCompleted, UserDeleted
from shoebox_metadata.kinds import ItemStatus, Role
from shoebox_metadata.library.items import NewItem
from shoebox_metadata.library.links import LinkSettings
from shoebox_metadata.library.membership import FileKey
from shoebox_metadata.models import Account, Collection, FileLink, Item, ItemVersion, Reservation, Share, TrashEntry
from shoebox_metadata.testing import Core


async def deleted(core: Core, user_id: int) -> None:
    """What metadata's consumer does with the event, in one transaction."""
    async with core.db.transaction() as session:
        await core.container.reports.user_deleted(session, UserDeleted(user_id=user_id))


async def count(core: Core, model: type[object], *where: Any) -> int:
    async with core.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def test_a_deleted_users_library_is_erased_and_others_see_it_go(core: Core) -> None:
    alice, bob = core.user(), core.user()
    alices, bobs = await core.album(alice), await core.album(bob)
    await core.container.shares.share(alice, alices.id, bob.user_id, "bob@example.com", Role.COLLABORATOR, "s")
    await core.container.shares.share(bob, bobs.id, alice.user_id, "alice@example.com", Role.COLLABORATOR, "s")
    link = await core.container.links.create(bob, bobs.id, LinkSettings())
    kept = await core.container.files.commit(alice, await core.new_file(alice, alices.id, "alices"))
    await core.container.collections.add_files(alice, bobs.id, [FileKey(kept.id, "k", "n")])  # hers, in his
    in_hers = await core.container.files.commit(bob, await core.new_file(bob, alices.id, "in-hers"))
    own = await core.container.files.commit(bob, await core.new_file(bob, bobs.id, "own"))
    binned = await core.container.files.commit(bob, await core.new_file(bob, bobs.id, "binned"))
    await core.container.trash.trash(bob, [(binned.id, bobs.id)])
    await core.container.links.create_file_link(bob, own.id, None)
    await core.container.quotas.hold(bob.user_id, "in-flight", 50)
    before = {v.collection.id: v.collection.updation_time for v in await core.container.collections.changed_since(
        alice, 0)}
    events_before = len(await core.events())

    await deleted(core, bob.user_id)

    # His files are gone for good, their objects leave every tier.
    async with core.db.transaction() as session:
        statuses = {i.id: (i.status, i.metadata_encrypted_data)
                    for i in (await session.execute(select(Item).where(Item.owner_id == bob.user_id))).scalars()}
    assert statuses == {i.id: (ItemStatus.DELETED, None) for i in (in_hers, own, binned)}
    erased = {data["item_id"]: data["object_keys"] for subject, data in (await core.events())[events_before:]
              if subject == ItemDeleted.subject_pattern()}
    assert erased == {i.id: [i.object_key, i.thumbnail_object_key] for i in (in_hers, own, binned)}

    # Alice sees his file leave her album, her album lose its sharee, and his album end.
    views = {v.collection.id: v for v in await core.container.collections.changed_since(alice, 0)}
    assert views[alices.id].collection.updation_time > before[alices.id]
    assert views[alices.id].shares == []
    assert (views[bobs.id].collection.is_deleted, views[bobs.id].collection.updation_time > before[bobs.id]) == (
        True, True)
    entries, _ = await core.container.collections.diff(alice, alices.id, before[alices.id], 10)
    assert [(e.file.id, e.is_deleted) for e in entries] == [(in_hers.id, True)]
    assert [i.id for i in await core.container.files.readable(alice, [kept.id])] == [kept.id], "hers stay"
    with pytest.raises(NotFound):
        await core.container.files.readable(alice, [in_hers.id])

    # Nothing of his is left to reach.
    assert await count(core, Collection, Collection.owner_id == bob.user_id, Collection.is_deleted.is_(False)) == 0
    assert await count(core, Share, Share.is_deleted.is_(False), (Share.user_id == bob.user_id)
                       | (Share.collection_id == bobs.id)) == 0
    with pytest.raises(Unauthenticated):
        await core.container.links.open(link.token)
    assert await core.container.links.links_of([bobs.id]) == {}
    for model, where in ((FileLink, FileLink.item_id == own.id), (ItemVersion, ItemVersion.item_id == own.id),
                         (TrashEntry, TrashEntry.owner_id == bob.user_id),
                         (Reservation, Reservation.owner_id == bob.user_id),
                         (Account, Account.owner_id == bob.user_id)):
        assert await count(core, model, where) == 0, model.__name__

    # Applied again (a redelivery the inbox did not catch), it finds nothing to do.
    events_after = len(await core.events())
    await deleted(core, bob.user_id)
    assert len(await core.events()) == events_after
    assert await count(core, Account, Account.owner_id == bob.user_id) == 0


async def test_an_upload_completing_after_its_item_was_deleted_erases_its_object(core: Core) -> None:
    owner = core.user()
    item = await core.container.items.create(owner.user_id, NewItem("a.jpg", "image/jpeg", 10))
    await deleted(core, owner.user_id)
    async with core.db.transaction() as session:
        await core.container.reports.upload_completed(session, UploadCompleted(
            upload_id="late", item_id=item.id, owner_id=owner.user_id, object_key=f"u/{owner.user_id}/i/x/original",
            size=10, sha256="0" * 64))
    assert (await core.events())[-1] == (ItemDeleted.subject_pattern(), {
        "item_id": item.id, "owner_id": owner.user_id, "object_keys": [f"u/{owner.user_id}/i/x/original"]})
    assert await count(core, Account, Account.owner_id == owner.user_id) == 0, "nothing was counted"


async def test_an_admins_allowance_applies(core: Core) -> None:
    owner = core.user()
    await core.container.quotas.set_limits(owner.user_id, add_bonus=5)
    async with core.db.transaction() as session:
        await core.container.reports.quota_set(session, QuotaSet(user_id=owner.user_id, quota_bytes=123_456))
    usage = await core.container.quotas.usage(owner.user_id)
    assert (usage.quota, usage.bonus) == (123_456, 5)
