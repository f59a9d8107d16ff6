"""The Ente face's answers, in the real Ente server's camelCase (ente-io/ente `server/ente/user.go`,
`server/ente/srp.go`, `server/ente/billing.go`), plus seed 000's sign-in and session routes.

Fields an answer leaves out in some cases are `None` here and the route drops them
(`response_model_exclude_none`); fields that are `null` on the wire are typed so and kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Empty(BaseModel):
    """Ente's `{}`."""

    model_config = ConfigDict(extra="forbid")


class EnteAuthorization(BaseModel):
    """A successful sign-in: the token in the clear before the account has key attributes, sealed after."""

    id: int
    twoFactorSessionID: str = ""
    twoFactorSessionIDV2: str = ""
    passkeySessionID: str = ""
    accountsUrl: str = ""  # set only beside a passkey session, which Shoebox never opens
    token: str | None = None
    keyAttributes: dict[str, Any] | None = None  # exactly as the client stored them
    encryptedToken: str | None = None
    srpM2: str | None = None


class SrpAttributesBody(BaseModel):
    srpUserID: str
    srpSalt: str
    memLimit: int
    opsLimit: int
    kekSalt: str
    isEmailMFAEnabled: bool


class SrpAttributesAnswer(BaseModel):
    attributes: SrpAttributesBody


class SrpSetupAnswer(BaseModel):
    setupID: str
    srpB: str


class SrpCompleteAnswer(BaseModel):
    setupID: str
    srpM2: str


class SrpSessionAnswer(BaseModel):
    sessionID: str
    srpB: str


class KeyAttributesAnswer(BaseModel):
    keyAttributes: dict[str, Any]


class Subscription(BaseModel):
    id: int
    userID: int
    productID: str
    storage: int
    originalTransactionID: str
    expiryTime: int  # microseconds since the epoch
    paymentProvider: str
    attributes: dict[str, Any]
    price: str
    period: str


class ProfileData(BaseModel):
    canDisableEmailMFA: bool
    isEmailMFAEnabled: bool
    isTwoFactorEnabled: bool
    passkeyCount: int


class BonusData(BaseModel):
    storageBonuses: list[dict[str, Any]]


class UserDetails(BaseModel):
    email: str
    usage: int
    storageBonus: int
    subscription: Subscription
    profileData: ProfileData
    bonusData: BonusData
    fileCount: int | None = None  # only when asked for (`memoryCount`, by default)
    sharedCollectionsCount: int | None = None


class PublicKeyAnswer(BaseModel):
    userID: int
    publicKey: str


# --- sign-in by password and sessions (seed 000, and Ente's session routes) ----------------------------


class PasswordSignIn(BaseModel):
    authToken: str
    tokenType: str
    expiresIn: int
    sessionId: str


class AccountsToken(BaseModel):
    accountsToken: str  # base64 of a fresh token of the same session


class SessionInfo(BaseModel):
    id: str
    token: str  # Ente calls the handle of a session its token; ours is the session id, never a credential
    creationTime: int  # microseconds, as Ente counts
    lastUsedTime: int
    ip: str | None
    ua: str | None
    prettyUA: str
    clientPackage: str | None
    clientVersion: str | None
    expiresAt: int
    isCurrent: bool
    current: bool


class SessionList(BaseModel):
    sessions: list[SessionInfo]


class Revoked(BaseModel):
    revoked: int
