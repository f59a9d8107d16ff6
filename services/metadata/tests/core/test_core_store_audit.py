"""The storage audit on the cores: orphans found and cleared on every tier, whatever a row still names kept,
fresh objects left alone for the grace period, stored files with their bytes on no tier reported.

An object is made old by setting its file's time back (the filesystem driver's last_modified is the
file's mtime), so nothing here depends on how long the test takes."""

from __future__ import annotations

import os
import time

from shoebox_lib.settings import Tier
from shoebox_lib.storage.filesystem import FilesystemDriver
from shoebox_metadata.models import FileData, FileDataUpload, Item, Variant
from shoebox_metadata.store.audit import Audit, Cleared, MissingObject
from shoebox_metadata.testing import Core

GRACE = 600


def audit(core: Core) -> Audit:
    return Audit(core.db, core.storage, grace_seconds=GRACE)


async def put_old(core: Core, key: str, data: bytes = b"old bytes", tier: Tier = "primary") -> None:
    await core.storage.tier(tier).put_bytes(key, data)
    age(core, key, tier)


def age(core: Core, key: str, tier: Tier = "primary") -> None:
    """Make the object look written long before the grace period began."""
    driver = core.storage.tier(tier)
    assert isinstance(driver, FilesystemDriver)
    then = time.time() - 10 * GRACE
    os.utime(driver.root / key, (then, then))


async def exists(core: Core, key: str, tier: Tier = "primary") -> bool:
    return await core.storage.tier(tier).head(key) is not None


def keys_of(item: Item) -> tuple[str, str]:
    """An Ente file's original and thumbnail keys."""
    assert item.object_key is not None
    assert item.thumbnail_object_key is not None
    return item.object_key, item.thumbnail_object_key


async def committed(core: Core, name: str) -> tuple[Item, str, str]:
    """An Ente file committed by its owner, its original and thumbnail old; with their keys."""
    owner = core.user()
    album = await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, name))
    original, thumbnail = keys_of(item)
    age(core, original)
    age(core, thumbnail)
    return item, original, thumbnail


async def test_an_orphan_is_found_and_cleared_on_every_tier(core: Core) -> None:
    await put_old(core, "u/101/e/abandoned", b"12345")
    await put_old(core, "u/101/e/abandoned", b"12345", tier="secondary")
    await put_old(core, "s/-1/o/0123456789abcdef0123456789abcdef", b"x")

    report = await audit(core).report()
    assert sorted((o.tier, o.key, o.size) for o in report.orphaned) == [
        ("primary", "s/-1/o/0123456789abcdef0123456789abcdef", 1),
        ("primary", "u/101/e/abandoned", 5),
        ("secondary", "u/101/e/abandoned", 5),
    ]
    assert all(o.last_modified.utcoffset() is not None for o in report.orphaned)
    assert report.missing == []

    assert await audit(core).clear_orphans() == Cleared(files_deleted=3)
    for tier in ("primary", "secondary"):
        assert not await exists(core, "u/101/e/abandoned", tier)
    assert not await exists(core, "s/-1/o/0123456789abcdef0123456789abcdef")
    assert (await audit(core).report()).orphaned == []


async def test_every_object_a_row_names_is_kept(core: Core) -> None:
    item, original, thumbnail = await committed(core, "kept")
    derived = f"d/{item.owner_id}/i/{item.id}/thumb.jpg"
    preview = f"u/{item.owner_id}/fd/{item.id}/vid_preview/committed"
    pending = f"u/{item.owner_id}/fd/{item.id}/vid_preview/in-flight"
    for key in (derived, preview, pending):
        await put_old(core, key)
    await put_old(core, original, tier="secondary")  # a replica is as referenced as the original
    async with core.db.transaction() as session:
        session.add(Variant(item_id=item.id, name="thumb", object_key=derived))
        session.add(FileData(item_id=item.id, type="vid_preview", owner_id=item.owner_id, object_key=preview,
                             created_at=1, updated_at=1))
        session.add(FileDataUpload(object_key=pending, owner_id=item.owner_id, item_id=item.id,
                                   type="vid_preview", object_id="in-flight", expires_at=2**62))
    await put_old(core, "u/999/e/nobody-names-this")

    report = await audit(core).report()
    assert [(o.tier, o.key) for o in report.orphaned] == [("primary", "u/999/e/nobody-names-this")]
    assert await audit(core).clear_orphans() == Cleared(files_deleted=1)
    for key in (original, thumbnail, derived, preview, pending):
        assert await exists(core, key), key
    assert await exists(core, original, "secondary")


async def test_a_fresh_unreferenced_object_is_left_for_the_grace_period(core: Core) -> None:
    """An upload's bytes land before its item commits; until the grace period is over it is not an orphan."""
    await core.storage.primary.put_bytes("u/101/e/uploading", b"on its way")
    report = await audit(core).report()
    assert report.orphaned == []
    assert await audit(core).clear_orphans() == Cleared(files_deleted=0)
    assert await exists(core, "u/101/e/uploading")

    without_grace = Audit(core.db, core.storage, grace_seconds=0)
    age(core, "u/101/e/uploading")
    assert [o.key for o in (await without_grace.report()).orphaned] == ["u/101/e/uploading"]


async def test_a_deleted_items_objects_are_orphans(core: Core) -> None:
    """The row of a file deleted for good stays (its id is never reused) but keeps none of its objects."""
    owner = core.user()
    album = await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "gone"))
    original, thumbnail = keys_of(item)
    age(core, original)
    age(core, thumbnail)
    await core.container.trash.trash(owner, [(item.id, album.id)])
    assert (await audit(core).report()).orphaned == [], "the trash still keeps them"
    assert await core.container.trash.empty(owner, 2**62) == 1

    report = await audit(core).report()
    assert sorted(o.key for o in report.orphaned) == sorted([original, thumbnail])
    assert report.missing == [], "a deleted file is not missing anything"


async def test_a_stored_file_whose_bytes_are_on_no_tier_is_missing(core: Core) -> None:
    lost, lost_key, _ = await committed(core, "lost")
    _, replicated_key, _ = await committed(core, "replicated")
    _, whole_key, _ = await committed(core, "whole")
    await core.storage.primary.delete(lost_key)
    # Only in SECONDARY: still there, on another tier.
    await core.storage.tier("secondary").put_bytes(replicated_key, b"replica")
    await core.storage.primary.delete(replicated_key)

    report = await audit(core).report()
    assert report.missing == [MissingObject(item_id=lost.id, owner_id=lost.owner_id, key=lost_key)]
    assert report.orphaned == []
    assert await audit(core).clear_orphans() == Cleared(files_deleted=0)
    assert await exists(core, whole_key)


async def test_many_objects_are_checked_in_batches(core: Core) -> None:
    """More objects than one batch holds, half of them named by rows: only the others are orphans."""
    item, _, _ = await committed(core, "many")
    names = [f"d/{item.owner_id}/i/{item.id}/v{i}.jpg" for i in range(600)]
    for key in names:
        await put_old(core, key, b"v")
    async with core.db.transaction() as session:
        session.add_all(Variant(item_id=item.id, name=f"v{i}", object_key=key) for i, key in enumerate(names)
                        if i % 2 == 0)

    report = await audit(core).report()
    assert sorted(o.key for o in report.orphaned) == sorted(names[1::2])
    assert await audit(core).clear_orphans() == Cleared(files_deleted=300)
    assert [await exists(core, key) for key in names] == [i % 2 == 0 for i in range(600)]

