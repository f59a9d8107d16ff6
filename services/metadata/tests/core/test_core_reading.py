"""Who may read a file: its owner, and anyone who may read an album it is in (as Ente's server lets them:
the album's owner reads a collaborator's file in it, a sharee every file of it)."""

from __future__ import annotations

import pytest

from shoebox_lib.errors import NotFound
from shoebox_metadata.kinds import Role
from shoebox_metadata.library.membership import FileKey
from shoebox_metadata.testing import Core


async def test_an_albums_owner_and_its_sharees_read_every_file_in_it(core: Core) -> None:
    alice, bob, carol, stranger = core.user(), core.user(), core.user(), core.user()
    album = await core.album(alice)
    await core.container.shares.share(alice, album.id, bob.user_id, "bob@example.com", Role.COLLABORATOR, "s")
    await core.container.shares.share(alice, album.id, carol.user_id, "carol@example.com", Role.VIEWER, "s")
    bobs = await core.container.files.commit(bob, await core.new_file(bob, album.id, "bobs"))
    alices = await core.container.files.commit(alice, await core.new_file(alice, album.id, "alices"))

    for reader in (alice, bob, carol):
        found = await core.container.files.readable(reader, [bobs.id, alices.id])
        assert [i.id for i in found] == [bobs.id, alices.id]
        assert await core.container.files.download_url(reader, bobs.id, thumbnail=False)
    with pytest.raises(NotFound):
        await core.container.files.readable(stranger, [bobs.id])

    # Once Bob's file has left the album, only Bob reads it.
    own = await core.album(bob)
    await core.container.collections.add_files(bob, own.id, [FileKey(bobs.id, "k", "n")])
    await core.container.collections.remove_files(bob, album.id, [bobs.id])
    for outsider in (alice, carol):
        with pytest.raises(NotFound):
            await core.container.files.readable(outsider, [bobs.id])
    assert [i.id for i in await core.container.files.readable(bob, [bobs.id])] == [bobs.id]

    # An ended share reads nothing more.
    await core.container.shares.unshare(alice, album.id, "carol@example.com")
    with pytest.raises(NotFound):
        await core.container.files.readable(carol, [alices.id])
