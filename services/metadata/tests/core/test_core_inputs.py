"""Hostile input reaching the cores (issue 9): malformed object keys are invalid input, and ids or times no
bigint holds name nothing, so none of them becomes a database error."""

from __future__ import annotations

import dataclasses

import pytest

from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.keys import user_prefix
from shoebox_metadata.library.links import LinkSettings
from shoebox_metadata.library.objects import Blob
from shoebox_metadata.testing import Core

HUGE = 2**63  # one past the largest bigint


@pytest.mark.parametrize("tail", ["e/../x", "e//x", "e/a b", "e/a\x00b", "e/x/", "e/./x"])
async def test_a_malformed_object_key_is_invalid_input(core: Core, tail: str) -> None:
    owner = core.user()
    album = await core.album(owner)
    new = await core.new_file(owner, album.id, "fine")
    bad = Blob(user_prefix(owner.user_id) + tail, 100, "h")
    with pytest.raises(InvalidInput):
        await core.container.files.commit(owner, dataclasses.replace(new, file=bad))
    with pytest.raises(InvalidInput):
        await core.container.files.commit(owner, dataclasses.replace(new, thumbnail=bad))
    item = await core.container.files.commit(owner, new)
    with pytest.raises(InvalidInput):
        await core.container.files.replace_thumbnail(owner, item.id, bad)


async def test_ids_and_times_past_a_bigint_name_nothing(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    with pytest.raises(NotFound):
        await core.container.trash.delete_forever(owner, [HUGE])
    with pytest.raises(NotFound):
        await core.container.files.readable(owner, [HUGE, -HUGE])
    with pytest.raises(NotFound):
        await core.container.trash.trash(owner, [(HUGE, album.id)])
    with pytest.raises(NotFound):
        await core.container.collections.diff(owner, HUGE, 0, 10)
    with pytest.raises(NotFound):
        await core.container.collections.remove_files(owner, album.id, [HUGE])
    assert await core.container.collections.diff(owner, album.id, 2**80, 2**80) == ([], False)
    assert await core.container.collections.changed_since(owner, 2**80) == []
    assert await core.container.trash.diff(owner, 2**80, 2**80) == ([], False)
    assert await core.container.trash.empty(owner, 2**80) == 0


async def test_numbers_past_a_bigint_are_invalid_input_where_they_would_be_stored(core: Core) -> None:
    owner = core.user()
    album = await core.album(owner)
    with pytest.raises(NotFound):
        await core.container.trash.memberships(owner, [HUGE])
    with pytest.raises(InvalidInput):
        await core.container.links.create(owner, album.id, LinkSettings(valid_till=HUGE))
    with pytest.raises(InvalidInput):
        await core.container.quotas.set_limits(owner.user_id, quota=HUGE)
    with pytest.raises(InvalidInput):
        await core.container.quotas.set_limits(owner.user_id, add_bonus=HUGE)
