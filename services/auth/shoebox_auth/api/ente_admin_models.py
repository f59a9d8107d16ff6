"""The answers of Ente's admin routes, in the real server's JSON (ente-io/ente `server/ente/user.go`,
`server/ente/admin.go`). Its `User` has a capital `ID` (a Go field without a JSON tag)."""

from __future__ import annotations

from pydantic import BaseModel

from shoebox_auth.api.ente_models import Subscription, UserDetails
from shoebox_auth.ente.admin import micros
from shoebox_auth.models import Session, User


class EnteUser(BaseModel):
    ID: int
    email: str
    name: str
    hash: str
    creationTime: int  # microseconds since the epoch
    familyAdminID: int | None
    isTwoFactorEnabled: bool | None
    isEmailMFAEnabled: bool | None


class UserList(BaseModel):
    users: list[EnteUser]


class TokenInfo(BaseModel):
    creationTime: int
    lastUsedTime: int
    ua: str
    isDeleted: bool
    app: str


class AdminUser(BaseModel):
    """`GET /admin/user`. Sent without the fields never set (`details` when it could not be looked up)."""

    user: EnteUser
    subscription: Subscription
    details: UserDetails | None = None
    tokens: list[TokenInfo]


class DeletedAccount(BaseModel):
    isSubscriptionCancelled: bool
    userID: int


def ente_user(user: User, *, full: bool = False) -> EnteUser:
    """Every field set (the routes leave out only what was never set). The list leaves the second factors
    null, as Ente's does; a single account's lookup says what is on."""
    return EnteUser(ID=user.id, email=user.email or "", name="", hash="", creationTime=micros(user.created_at),
                    familyAdminID=None, isTwoFactorEnabled=False if full else None,
                    isEmailMFAEnabled=user.is_email_mfa_enabled if full else None)


def token_info(row: Session) -> TokenInfo:
    package = row.client_package or ""
    return TokenInfo(creationTime=micros(row.created_at), lastUsedTime=micros(row.last_used_at),
                     ua=row.user_agent or "", isDeleted=row.revoked_at is not None,
                     app="auth" if package.endswith(".auth") else "photos")
