"""An album's time moves with every change to its contents, to the time of the change, so that a client
that syncs as Ente's do (albums changed since its last sync, then their file diffs, then the album's time
as its sync point) sees every change exactly once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from shoebox_lib.auth import Principal
from shoebox_lib.keys import link_prefix
from shoebox_metadata.kinds import Role
from shoebox_metadata.library.links import LinkSettings
from shoebox_metadata.library.membership import FileKey
from shoebox_metadata.models import Collection, CollectionFile, Item
from shoebox_metadata.testing import Core


async def album_time(core: Core, collection_id: int) -> int:
    async with core.db.transaction() as session:
        collection = await session.get(Collection, collection_id)
        assert collection is not None
        return collection.updation_time


async def newest_membership(core: Core, collection_id: int) -> int:
    async with core.db.transaction() as session:
        newest = (await session.execute(select(func.max(CollectionFile.updation_time))
                                        .where(CollectionFile.collection_id == collection_id))).scalar_one()
        return int(newest or 0)


class Albums:
    """Watches albums: `moved` runs a change and says which albums' times moved; each album's time must
    then equal its newest membership (never older, and moved to the change itself)."""

    def __init__(self, core: Core, *albums: Collection) -> None:
        self.core = core
        self.ids = [a.id for a in albums]

    async def times(self) -> dict[int, int]:
        return {a: await album_time(self.core, a) for a in self.ids}

    async def moved(self, change: Callable[[], Awaitable[object]]) -> set[int]:
        before = await self.times()
        await change()
        after = await self.times()
        for album in self.ids:
            newest = await newest_membership(self.core, album)
            assert after[album] >= newest, f"album {album} is older than its newest membership"
        return {a for a in self.ids if after[a] != before[a]}

    async def exact(self, album: int) -> bool:
        return await album_time(self.core, album) == await newest_membership(self.core, album)


async def test_every_change_to_an_albums_contents_moves_it(core: Core) -> None:
    alice, bob = core.user(), core.user()
    holidays, family, bobs = await core.album(alice), await core.album(alice), await core.album(bob)
    await core.container.shares.share(alice, holidays.id, bob.user_id, "bob@example.com", Role.COLLABORATOR, "s")
    watch = Albums(core, holidays, family, bobs)
    files, collections, trash = core.container.files, core.container.collections, core.container.trash

    made: dict[str, Item] = {}

    async def commit(who: Principal, album: Collection, name: str) -> None:
        made[name] = await files.commit(who, await core.new_file(who, album.id, name))

    assert await watch.moved(lambda: commit(alice, holidays, "a")) == {holidays.id}
    assert await watch.moved(lambda: commit(bob, holidays, "b")) == {holidays.id}, "a collaborator's commit"
    assert await watch.moved(lambda: commit(bob, bobs, "b2")) == {bobs.id}
    a, b, b2 = made["a"], made["b"], made["b2"]

    assert await watch.moved(lambda: collections.add_files(alice, family.id, [FileKey(a.id, "k", "n")])) == {
        family.id}
    assert await watch.moved(lambda: collections.add_files(bob, holidays.id, [FileKey(b2.id, "k", "n")])) == {
        holidays.id}
    assert await watch.moved(lambda: collections.remove_files(alice, holidays.id, [b2.id])) == {holidays.id}, (
        "the owner removes a collaborator's file")
    assert await watch.moved(lambda: collections.add_files(bob, holidays.id, [FileKey(b2.id, "k", "n")])) == {
        holidays.id}
    assert await watch.moved(lambda: collections.remove_files(bob, holidays.id, [b2.id])) == {holidays.id}, (
        "a collaborator removes their own file")

    assert await watch.moved(lambda: files.set_magic_metadata(
        alice, [(a.id, {"version": 0, "count": 1, "data": "d", "header": "h"})], public=False)) == {
        holidays.id, family.id}, "every album the file is in"
    assert await watch.moved(lambda: files.set_magic_metadata(
        bob, [(b.id, {"version": 0, "count": 1, "data": "d", "header": "h"})], public=True)) == {holidays.id}, (
        "a collaborator's file in the owner's album moves the owner's album")
    assert await watch.moved(lambda: files.update(alice, a.id, metadata=("md2", "mh2"), file_header=None,
                                                  thumbnail_header=None)) == {holidays.id, family.id}
    thumb = await core.uploaded(f"u/{alice.user_id}/e/a-thumb-2", 12)
    assert await watch.moved(lambda: files.replace_thumbnail(alice, a.id, thumb)) == {holidays.id, family.id}

    await commit(alice, family, "c")
    c = made["c"]
    assert await watch.moved(lambda: collections.move_files(alice, family.id, holidays.id,
                                                            [FileKey(c.id, "k", "n")])) == {family.id, holidays.id}

    # Bob's file, also in Alice's album, goes to his trash: both albums move.
    await collections.add_files(bob, holidays.id, [FileKey(b2.id, "k", "n")])
    assert await watch.moved(lambda: trash.trash(bob, [(b2.id, bobs.id)])) == {bobs.id, holidays.id}
    assert await watch.moved(lambda: trash.restore_files(bob, bobs.id, [FileKey(b2.id, "k", "n")])) == {bobs.id}
    assert await watch.moved(lambda: trash.trash(alice, [(a.id, holidays.id), (a.id, family.id)])) == {
        holidays.id, family.id}, "a file named once per album is trashed once"
    assert await watch.moved(lambda: trash.restore(alice, [a.id])) == {holidays.id}

    # Deleting for good shows nowhere again: the albums showed the file leaving when it was trashed.
    await trash.trash(alice, [(c.id, holidays.id)])
    assert await watch.moved(lambda: trash.delete_forever(alice, [c.id])) == set()
    await trash.trash(alice, [(a.id, holidays.id)])
    assert await watch.moved(lambda: trash.empty(alice, 2**62)) == set()
    entries, _ = await collections.diff(alice, holidays.id, 0, 100)
    assert sorted(e.file.id for e in entries) == sorted({a.id, b.id, b2.id, c.id}), "each file once"

    for album in (holidays, family, bobs):
        assert await watch.exact(album.id), "an album's time is the time of its newest change"


async def test_a_guests_upload_moves_the_album(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    link = await core.container.links.create(owner, album.id, LinkSettings(enable_collect=True))
    grant = await core.container.links.open(link.token)
    guest_file = await core.new_file(owner, 0, "guest", under=link_prefix(owner.user_id, album.id))
    watch = Albums(core, album)
    assert await watch.moved(lambda: core.container.links.commit_as_guest(grant, guest_file)) == {album.id}
    assert await watch.exact(album.id)


async def test_a_client_syncing_by_album_time_sees_every_change_once(core: Core) -> None:
    """The Ente CLI's loop, on the cores: albums changed since the last album sync, then each one's diff
    from its sync point, which becomes the album's time."""
    owner = core.user()
    album = await core.album(owner)
    seen: list[tuple[int, int]] = []
    album_since = files_since = 0

    async def sync() -> None:
        nonlocal album_since, files_since
        views = await core.container.collections.changed_since(owner, album_since)
        for view in views:
            album_since = max(album_since, view.collection.updation_time)
            if files_since != view.collection.updation_time:
                entries, _ = await core.container.collections.diff(owner, album.id, files_since, 1000)
                seen.extend((e.file.id, e.updation_time) for e in entries)
                files_since = view.collection.updation_time

    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "one"))
    await sync()
    await core.container.files.set_magic_metadata(owner, [(item.id, {"version": 0, "count": 0, "data": "",
                                                                     "header": ""})], public=True)
    await sync()
    await core.container.trash.trash(owner, [(item.id, album.id)])
    await sync()
    await core.container.trash.empty(owner, 2**62)
    await sync()
    assert (len(seen), len(set(seen))) == (3, 3), "commit, magic metadata, trash: each once"
