"""Quota holds on the cores: held per upload, idempotent, scoped to their owner, consumed by the completed
upload and given back by an ended one."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from shoebox_lib.errors import InvalidInput, QuotaExceeded
from shoebox_lib.events import UploadCompleted, UploadEnded, UploadOutcome
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.library.items import NewItem
from shoebox_metadata.models import Reservation
from shoebox_metadata.testing import DEFAULT_QUOTA, Core


async def reserved(core: Core, owner_id: int) -> int:
    return (await core.container.quotas.usage(owner_id)).reserved


async def test_a_hold_is_idempotent_and_its_id_belongs_to_its_owner(core: Core) -> None:
    owner, other = core.user().user_id, core.user().user_id
    first = await core.container.quotas.hold(owner, "h1", 40)
    again = await core.container.quotas.hold(owner, "h1", 40)
    assert (first.id, first.expires_at) == (again.id, again.expires_at)
    assert await reserved(core, owner) == 40
    with pytest.raises(InvalidInput):
        await core.container.quotas.hold(other, "h1", 40)
    with pytest.raises(InvalidInput):  # nor the same id for another size
        await core.container.quotas.hold(owner, "h1", 41)
    with pytest.raises(QuotaExceeded):
        await core.container.quotas.hold(owner, "h2", DEFAULT_QUOTA)
    assert (await reserved(core, owner), await reserved(core, other)) == (40, 0)


async def test_an_ended_upload_gives_back_only_its_owners_hold(core: Core) -> None:
    owner, other = core.user().user_id, core.user().user_id
    await core.container.quotas.hold(owner, "h1", 40)
    async with core.db.transaction() as session:
        await core.container.quotas.upload_ended(session, UploadEnded(upload_id="h1", owner_id=other,
                                                                      outcome=UploadOutcome.ABORTED))
    assert await reserved(core, owner) == 40
    for _ in range(2):
        async with core.db.transaction() as session:
            await core.container.quotas.upload_ended(session, UploadEnded(upload_id="h1", owner_id=owner,
                                                                          outcome=UploadOutcome.EXPIRED))
    assert await reserved(core, owner) == 0


async def test_a_completed_upload_consumes_its_hold_and_stores_the_item(core: Core) -> None:
    user = core.user()
    owner = user.user_id
    item = await core.container.items.create(owner, NewItem(filename="a.png", content_type="image/png", size=70))
    assert item.status == ItemStatus.UPLOAD_PENDING
    await core.container.quotas.hold(owner, "s1", 70)
    event = UploadCompleted(upload_id="s1", item_id=item.id, owner_id=owner, object_key=f"u/{owner}/i/{item.id}/s1",
                            size=70, content_type="image/png", sha256="0" * 64)
    for _ in range(2):  # a redelivered event changes nothing more
        async with core.db.transaction() as session:
            await core.container.reports.upload_completed(session, event)
    usage = await core.container.quotas.usage(owner)
    assert (usage.used, usage.reserved, usage.file_count) == (70, 0, 1)
    view = await core.container.items.view(user, item.id)
    assert (view.item.status, view.status, sorted(v.name for v in view.variants)) == (
        ItemStatus.STORED, "processing", ["medium", "thumb"])


async def test_lapsed_holds_are_given_back(core: Core) -> None:
    owner = core.user().user_id
    await core.container.quotas.hold(owner, "fresh", 30)
    await core.container.quotas.hold(owner, "stale", 20)
    assert await core.container.quotas.expire_reservations() == 0, "none has lapsed yet"
    async with core.db.transaction() as session:
        await session.execute(update(Reservation).where(Reservation.id == "stale")
                              .values(expires_at=Reservation.created_at))
    assert await core.container.quotas.expire_reservations() == 1
    assert await reserved(core, owner) == 30
