"""What Ente's admin routes do (`/admin/…`, ente-io/ente `server/pkg/api/admin.go`), for Shoebox's admins.

Shoebox has neither TOTP nor passkeys, so disabling them finds the account and changes nothing; the plan
is recorded here and enforced by metadata (`plans`); a deleted account is erased everywhere through
`user.deleted` (`UserAdmin.delete`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formataddr

from sqlalchemy import func, select

from shoebox_auth.admin import UserAdmin
from shoebox_auth.ente.accounts import normalize_email
from shoebox_auth.ente.mailer import Mail, Mailer
from shoebox_auth.ente.plans import Plan, Plans
from shoebox_auth.models import EnteSrpCredential, Session, User
from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, NotFound


class TokenTooOld(InvalidInput):
    code = "BAD_REQUEST"  # Ente's answer, on which its CLI says "old admin token, please re-authenticate"


def micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


# Any `sinceTime` from here on is after every account (and past what a datetime holds).
LAST_REPRESENTABLE = micros(datetime(9999, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class OutgoingMail:
    to: Sequence[str]
    from_name: str
    from_email: str
    subject: str
    body: str


class EmailMfa:
    """Ente's email MFA: with it on, password sign-in is refused (409) and the client mails a code instead."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def set(self, user_id: int, enabled: bool) -> None:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFound("User not found")
            if not enabled:
                has_srp = await session.get(EnteSrpCredential, user_id)
                if has_srp is None:  # as Ente: a mailed code is then the only way in, so it stays on
                    raise Conflict("SRP setup incomplete")
            user.is_email_mfa_enabled = enabled


class EnteAdmin:
    def __init__(self, db: Database, users: UserAdmin, plans: Plans, mfa: EmailMfa, mailer: Mailer, *,
                 max_signin_age_seconds: int) -> None:
        self.db = db
        self.users = users
        self.plans = plans
        self.mfa = mfa
        self.mailer = mailer
        self.max_signin_age = timedelta(seconds=max_signin_age_seconds)

    async def require_fresh(self, caller: Principal) -> None:
        """As Ente's server for its riskiest admin routes: only a sign-in of the last minutes will do."""
        if not self.max_signin_age:
            return
        async with self.db.transaction() as session:
            signed_in = await session.scalar(select(Session.created_at).where(Session.id == (caller.session_id or "")))
        if signed_in is None or signed_in < datetime.now(UTC) - self.max_signin_age:
            raise TokenTooOld("Token is too old")

    async def users_since(self, since: int) -> list[User]:
        """Accounts with an address created after `since` (µs) and before now, oldest first (Ente's `GetAll`)."""
        if since >= LAST_REPRESENTABLE:
            return []
        after = datetime.fromtimestamp(since / 1_000_000, UTC) if since > 0 else None
        async with self.db.transaction() as session:
            query = select(User).where(User.email.is_not(None), User.created_at < func.now())
            if after is not None:
                query = query.where(User.created_at > after)
            return list((await session.execute(query.order_by(User.created_at, User.id))).scalars())

    async def find(self, *, email: str | None = None, user_id: int | None = None) -> User:
        """By address (trimmed, any case) or by id; NotFound otherwise."""
        async with self.db.transaction() as session:
            if email is not None:
                query = select(User).where(func.lower(User.email) == email.strip().lower())
                user = (await session.execute(query)).scalar_one_or_none()
            else:
                user = await session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise NotFound("User not found")
        return user

    async def tokens(self, user_id: int) -> list[Session]:
        """The account's sessions (Ente's tokens), revoked ones included, newest first."""
        async with self.db.transaction() as session:
            return list((await session.execute(
                select(Session).where(Session.user_id == user_id).order_by(Session.created_at.desc()).limit(100)
            )).scalars())

    async def delete(self, email: str) -> int:
        user = await self.find(email=email)
        await self.users.delete(user.id)
        return user.id

    async def disable_two_factor(self, user_id: int) -> None:
        await self.find(user_id=user_id)  # no TOTP here: nothing to switch off but the account must exist

    async def remove_passkeys(self, user_id: int) -> None:
        await self.find(user_id=user_id)  # no passkeys here either

    async def set_email_mfa(self, user_id: int, enabled: bool) -> None:
        await self.mfa.set(user_id, enabled)

    async def set_plan(self, user_id: int, plan: Plan) -> None:
        await self.plans.set(user_id, plan)

    async def send_mail(self, mail: OutgoingMail) -> None:
        """Through the installation's mailer, as the given sender, to each recipient."""
        sender = formataddr((mail.from_name, normalize_email(mail.from_email)))
        recipients = [normalize_email(to) for to in mail.to]
        for to in recipients:
            await self.mailer.send(Mail(to=to, subject=mail.subject, body=mail.body, sender=sender))
