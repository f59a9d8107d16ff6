"""Share roles on the cores: what an owner, a viewer and a collaborator may each do."""

from __future__ import annotations

import pytest

from shoebox_lib.errors import Forbidden, InvalidInput, NotFound
from shoebox_metadata.kinds import CollectionType, Role
from shoebox_metadata.library.collections import NewCollection
from shoebox_metadata.library.membership import FileKey
from shoebox_metadata.testing import Core


async def test_a_viewer_reads_and_a_collaborator_also_adds_their_own_files(core: Core) -> None:
    owner, viewer, collaborator = core.user(), core.user(), core.user()
    album = await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "shared"))
    await core.container.shares.share(owner, album.id, viewer.user_id, "v@example.com", Role.VIEWER, "sealed")
    live = await core.container.shares.share(owner, album.id, collaborator.user_id, "c@example.com",
                                             Role.COLLABORATOR, None)
    assert sorted((s.user_id, s.role) for s in live) == [(viewer.user_id, Role.VIEWER),
                                                        (collaborator.user_id, Role.COLLABORATOR)]

    entries, _ = await core.container.collections.diff(viewer, album.id, 0, 10)
    assert [e.file.id for e in entries] == [item.id]
    assert [i.id for i in await core.container.files.readable(viewer, [item.id])] == [item.id]
    theirs = await core.container.files.commit(collaborator, await core.new_file(
        collaborator, (await core.album(collaborator)).id, "theirs"))
    with pytest.raises(NotFound):  # a viewer adds nothing
        await core.container.collections.add_files(viewer, album.id, [FileKey(theirs.id, "k", "n")])
    await core.container.collections.add_files(collaborator, album.id, [FileKey(theirs.id, "k", "n")])
    with pytest.raises(NotFound):  # and a collaborator removes only their own
        await core.container.collections.remove_files(collaborator, album.id, [item.id])
    await core.container.collections.remove_files(collaborator, album.id, [theirs.id])

    views = {v.collection.id: v for v in await core.container.collections.changed_since(viewer, 0)}
    assert (views[album.id].role, views[album.id].removed, views[album.id].mine is not None) == (
        Role.VIEWER, False, True)


async def test_an_ended_share_shows_as_removed_and_reads_nothing(core: Core) -> None:
    owner, viewer = core.user(), core.user()
    album = await core.album(owner)
    item = await core.container.files.commit(owner, await core.new_file(owner, album.id, "once"))
    await core.container.shares.share(owner, album.id, viewer.user_id, "v@example.com", Role.VIEWER, None)
    assert await core.container.shares.unshare(owner, album.id, "v@example.com") == []

    (view,) = await core.container.collections.changed_since(viewer, 0)
    assert (view.collection.id, view.removed) == (album.id, True)
    with pytest.raises(NotFound):
        await core.container.collections.diff(viewer, album.id, 0, 10)
    with pytest.raises(NotFound):
        await core.container.files.readable(viewer, [item.id])
    with pytest.raises(NotFound):
        await core.container.shares.unshare(owner, album.id, "v@example.com")


async def test_what_cannot_be_shared(core: Core) -> None:
    owner, other = core.user(), core.user()
    album = await core.album(owner)
    with pytest.raises(InvalidInput):
        await core.container.shares.share(owner, album.id, other.user_id, "o@example.com", Role.OWNER, None)
    with pytest.raises(InvalidInput):
        await core.container.shares.share(owner, album.id, owner.user_id, "me@example.com", Role.VIEWER, None)
    with pytest.raises(NotFound):  # only the owner shares
        await core.container.shares.share(other, album.id, owner.user_id, "me@example.com", Role.VIEWER, None)
    uncategorized = await core.container.collections.create(owner, NewCollection(type=CollectionType.UNCATEGORIZED))
    with pytest.raises(Forbidden):
        await core.container.shares.share(owner, uncategorized.id, other.user_id, "o@example.com", Role.VIEWER, None)
