"""An account's plan as Ente describes it (its `subscription`): the installation's free plan unless an admin
set another (`PUT /admin/user/subscription`). Auth keeps what the admin set, to show it; metadata enforces the
allowance, which it learns from the `account.quota_set` event emitted in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from shoebox_auth.models import BUS, EnteSubscription, User
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import NotFound
from shoebox_lib.events import QuotaSet

FREE = "free"  # Ente's product id of a plan nobody pays for; the CLI changes only such plans


def century_from_now() -> int:
    """Self-hosted Ente's free plan never runs out: its expiry is a century away, in microseconds."""
    return int((datetime.now(UTC) + timedelta(days=36525)).timestamp() * 1_000_000)


@dataclass(frozen=True)
class Plan:
    storage: int  # bytes
    expiry_time: int  # microseconds since the epoch
    product_id: str = FREE
    transaction_id: str = "none"
    payment_provider: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


class Plans:
    def __init__(self, db: Database, *, default_storage: int) -> None:
        self.db = db
        self.default_storage = default_storage

    async def of(self, user_id: int) -> Plan:
        async with self.db.transaction() as session:
            row = await session.get(EnteSubscription, user_id)
        if row is None:
            return Plan(storage=self.default_storage, expiry_time=century_from_now())
        return Plan(storage=row.storage, expiry_time=row.expiry_time, product_id=row.product_id,
                    transaction_id=row.transaction_id, payment_provider=row.payment_provider,
                    attributes=dict(row.attributes or {}))

    async def set(self, user_id: int, plan: Plan) -> None:
        """Replace the account's plan, and tell metadata its new allowance in the same transaction."""
        values = {"storage": plan.storage, "expiry_time": plan.expiry_time, "product_id": plan.product_id,
                  "transaction_id": plan.transaction_id, "payment_provider": plan.payment_provider,
                  "attributes": plan.attributes, "updated_at": datetime.now(UTC)}
        async with self.db.transaction() as session:
            if await session.get(User, user_id, with_for_update=True) is None:
                raise NotFound("User not found")
            await session.execute(insert(EnteSubscription).values(user_id=user_id, **values)
                                  .on_conflict_do_update(index_elements=[EnteSubscription.user_id], set_=values))
            await emit(session, BUS, QuotaSet(user_id=user_id, quota_bytes=plan.storage))
