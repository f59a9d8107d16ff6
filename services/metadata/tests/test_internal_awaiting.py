"""The upload sweeper's batch question, on metadata's internal route: which of these items still wait for
their upload. Only the owner's own pending items are answered; everything else is simply absent."""

from __future__ import annotations

import os

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, upload, wait_processed
from shoebox.testing.internal import call_internal
from shoebox_lib.contracts import AWAITING_PATH, BIGINT_MAX, ItemRef, ItemRefs
from shoebox_lib.ids import parse_image_id


async def _me(api: RunningSystem, token: str) -> int:
    me: int = (await api.client.get("/users/me", headers=bearer(token))).json()["id"]
    return me


async def _declared(api: RunningSystem, token: str) -> int:
    created = await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "later.bin", "content_type": "application/octet-stream", "size_bytes": 10})
    assert created.status_code == 201, created.text
    return parse_image_id(created.json()["image_id"])


async def test_only_the_owners_items_still_waiting_are_answered(api: RunningSystem) -> None:
    alice, bob = await api.user_token("awaiting-alice"), await api.user_token("awaiting-bob")
    alice_id, bob_id = await _me(api, alice), await _me(api, bob)
    pending = [await _declared(api, alice) for _ in range(3)]
    done = (await upload(api.client, alice, os.urandom(300), filename="done.bin",
                         content_type="application/octet-stream")).image_id
    await wait_processed(api.client, alice, done)
    stored = parse_image_id(done)
    refs = [ItemRef(owner_id=alice_id, item_id=i) for i in [*pending, stored]] + [
        ItemRef(owner_id=bob_id, item_id=pending[0]),  # another owner naming alice's item
        ItemRef(owner_id=alice_id, item_id=BIGINT_MAX),  # nothing
        ItemRef(owner_id=alice_id, item_id=0)]  # no row has id 0

    answered = await call_internal(api, "metadata", "POST", AWAITING_PATH, ItemRefs(items=refs))

    assert answered.status_code == 200, answered.text
    assert sorted(answered.json()["item_ids"]) == sorted(pending)


async def test_an_empty_question_has_an_empty_answer_and_an_oversized_one_is_refused(api: RunningSystem) -> None:
    empty = await call_internal(api, "metadata", "POST", AWAITING_PATH, ItemRefs(items=[]))
    assert (empty.status_code, empty.json()) == (200, {"item_ids": []})

    too_many = ItemRefs.model_construct(items=[ItemRef(owner_id=1, item_id=n + 1) for n in range(501)])
    refused = await call_internal(api, "metadata", "POST", AWAITING_PATH, too_many)
    assert refused.status_code in (400, 422), refused.text
