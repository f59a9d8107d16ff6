"""An account as Ente's `/users/details/v2` describes it: the address, what it stores, its plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import exists, select

from shoebox_auth.ente.accounts import Accounts
from shoebox_auth.ente.plans import Plan, Plans
from shoebox_auth.models import EnteSrpCredential
from shoebox_lib.auth import Principal
from shoebox_lib.contracts import Usage


class UsageSource(Protocol):
    async def usage_of(self, owner_id: int) -> Usage: ...


@dataclass(frozen=True)
class AccountDetails:
    user_id: int
    email: str
    usage: int
    file_count: int
    plan: Plan
    srp_enabled: bool
    email_mfa_enabled: bool


class Details:
    def __init__(self, accounts: Accounts, usage: UsageSource, plans: Plans) -> None:
        self.accounts = accounts
        self.usage = usage
        self.plans = plans

    async def of(self, principal: Principal) -> AccountDetails:
        return await self.of_user(principal.user_id)

    async def of_user(self, user_id: int) -> AccountDetails:
        """An active account's details; its usage comes from metadata (503 when metadata cannot say)."""
        user = await self.accounts.active(user_id)
        usage = await self.usage.usage_of(user.id)
        async with self.accounts.db.transaction() as session:
            has_srp = bool(await session.scalar(
                select(exists().where(EnteSrpCredential.user_id == user.id))))
        return AccountDetails(user_id=user.id, email=user.email or user.username or "", usage=usage.used,
                              file_count=usage.file_count, plan=await self.plans.of(user.id), srp_enabled=has_srp,
                              email_mfa_enabled=user.is_email_mfa_enabled)
