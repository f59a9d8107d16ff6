"""Public links on the cores: what they open, when they stop, and what a guest may put through them."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import update

from shoebox_lib.errors import Conflict, Forbidden, Gone, InvalidInput, Unauthenticated
from shoebox_lib.keys import link_prefix
from shoebox_metadata.library.links import LinkSettings
from shoebox_metadata.models import PublicLink
from shoebox_metadata.testing import Core


async def test_a_link_opens_its_collection_until_it_expires_or_is_disabled(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    link = await core.container.links.create(owner, album.id, LinkSettings())
    grant = await core.container.links.open(link.token)
    assert (grant.collection.id, grant.collection.owner_id, grant.link.enable_collect) == (album.id, owner.user_id,
                                                                                            False)
    with pytest.raises(InvalidInput):  # one active link per collection
        await core.container.links.create(owner, album.id, LinkSettings())
    async with core.db.transaction() as session:
        await session.execute(update(PublicLink).where(PublicLink.id == link.id).values(valid_till=1))
    with pytest.raises(Gone):
        await core.container.links.open(link.token)
    await core.container.links.disable(owner, album.id)
    with pytest.raises(Unauthenticated):
        await core.container.links.open(link.token)
    with pytest.raises(Unauthenticated):
        await core.container.links.open("no-such-token")


async def test_a_password_locks_a_link_until_the_viewer_proves_it(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    link = await core.container.links.create(owner, album.id, LinkSettings())
    await core.container.links.update(owner, album.id, LinkSettings(pass_hash="secret", nonce="n", mem_limit=1,
                                                                    ops_limit=1))
    with pytest.raises(Unauthenticated):
        await core.container.links.open(link.token)
    with pytest.raises(Unauthenticated):
        await core.container.links.verify_password(link.token, "wrong")
    proof = await core.container.links.verify_password(link.token, "secret")
    assert (await core.container.links.open(link.token, proof)).collection.id == album.id


async def test_a_guest_commits_into_the_links_collection_only_when_uploads_are_enabled(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    link = await core.container.links.create(owner, album.id, LinkSettings())
    guest_file = await core.new_file(owner, 0, "guest", under=link_prefix(owner.user_id, album.id))
    with pytest.raises(Forbidden):
        await core.container.links.commit_as_guest(await core.container.links.open(link.token), guest_file)
    await core.container.links.update(owner, album.id, LinkSettings(enable_collect=True))
    grant = await core.container.links.open(link.token)
    with pytest.raises(InvalidInput):  # into another collection
        await core.container.links.commit_as_guest(grant, dataclasses.replace(guest_file, collection_id=album.id + 1))
    with pytest.raises(InvalidInput):  # with objects outside the link's prefix
        await core.container.links.commit_as_guest(grant, await core.new_file(owner, 0, "owners"))
    item = await core.container.links.commit_as_guest(grant, guest_file)
    entries, _ = await core.container.links.diff(grant, 0, 10)
    assert (item.owner_id, [e.file.id for e in entries]) == (owner.user_id, [item.id])


async def test_a_guest_reads_nothing_of_the_owners_by_naming_its_objects(core: Core) -> None:
    """Issue 9: a retried-commit lookup answered a guest with any of the owner's files whose object key
    the guest named. The guest's prefix and collection are checked first, and a retry answers only the
    file that guest commit made, while the link shows it."""
    owner = core.user()
    album, private = await core.album(owner), await core.album(owner)
    link = await core.container.links.create(owner, album.id, LinkSettings(enable_collect=True))
    grant = await core.container.links.open(link.token)
    for target in (album, private):  # one in the link's album, one in a private album
        owners = await core.new_file(owner, target.id, f"owners-{target.id}")
        await core.container.files.commit(owner, owners)
        with pytest.raises(InvalidInput, match="not handed out"):
            await core.container.links.commit_as_guest(grant, dataclasses.replace(owners, collection_id=0))

    guest_file = await core.new_file(owner, 0, "guest", under=link_prefix(owner.user_id, album.id))
    item = await core.container.links.commit_as_guest(grant, guest_file)
    assert (await core.container.links.commit_as_guest(grant, guest_file)).id == item.id, "a retry answers it"
    # Once the owner has taken it out of the link's album, the link no longer shows it, nor does a retry.
    await core.container.trash.trash(owner, [(item.id, album.id)])
    with pytest.raises(Conflict):
        await core.container.links.commit_as_guest(grant, guest_file)
