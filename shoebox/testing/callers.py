"""Every kind of caller a route must tell apart, signed in on a running system: an owner and the people
around them (another user, the sharees of an album, a public link's guest, an admin, an account without
CL's store permissions), and the tokens that must open nothing (a revoked session, a deactivated account,
an expired token, a forged one).

Ordinary accounts hold CL's store permissions (`media_store_read`, `media_store_write`: auth's defaults);
the one account made without them shows what the store refuses. The owner and the other user also hold
CL's `ai_inference_support`, so that the job API lets them through to their own jobs (and the other user's
look at the owner's shows what a stranger gets); the sharees hold the store's defaults only, and show what
the job API refuses to an account with the store's permissions but not its own."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from shoebox.testing import ADMIN_EMAIL, RunningSystem
from shoebox_auth.service import DEFAULT_PERMISSIONS, AuthService, Origin, Permission


class Who(StrEnum):
    ANONYMOUS = "anonymous"
    OWNER = "owner"
    OTHER = "another user"
    VIEWER = "viewer"  # the owner's album is shared with them as VIEWER
    COLLABORATOR = "collaborator"  # … and as COLLABORATOR
    GUEST = "link guest"  # holds the album's public link, and no account
    ADMIN = "admin"
    REVOKED = "revoked session"  # the owner's token of a session they ended
    DEACTIVATED = "deactivated user"  # a token issued before an admin deactivated the account
    EXPIRED = "expired token"  # the owner's claims, validly signed, expired an hour ago
    FORGED = "forged token"  # the owner's claims signed by a key that is not the system's
    NO_STORE = "account without store permissions"  # valid token; neither media_store_read nor media_store_write


# Callers with no valid token: every route that takes one refuses them with 401.
UNAUTHENTICATED: tuple[Who, ...] = (Who.ANONYMOUS, Who.REVOKED, Who.DEACTIVATED, Who.EXPIRED, Who.FORGED,
                                    Who.GUEST)
# Callers with a valid token of an account that is not an admin.
ORDINARY: tuple[Who, ...] = (Who.OWNER, Who.OTHER, Who.VIEWER, Who.COLLABORATOR)
SHAREES: tuple[Who, ...] = (Who.VIEWER, Who.COLLABORATOR)
# Callers that hold CL's store permissions (ordinary accounts have them by default; the admin passes everything).
STORE_ACCOUNTS: tuple[Who, ...] = (*ORDINARY, Who.ADMIN)
# Callers that hold CL's `ai_inference_support` (the admin passes everything), and the accounts that do not.
JOB_ACCOUNTS: tuple[Who, ...] = (Who.OWNER, Who.OTHER, Who.ADMIN)
WITHOUT_JOB_PERMISSION: tuple[Who, ...] = (Who.VIEWER, Who.COLLABORATOR, Who.NO_STORE)
JOB_PERMISSIONS: tuple[str, ...] = (*DEFAULT_PERMISSIONS, Permission.AI_INFERENCE_SUPPORT)
SHARE_ROLES: dict[Who, str] = {Who.VIEWER: "VIEWER", Who.COLLABORATOR: "COLLABORATOR"}


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    user_id: int
    token: str


def bearer(token: str) -> dict[str, str]:
    """A token as every face takes it: CL and v1 read `Authorization`, Ente `X-Auth-Token`."""
    return {"Authorization": f"Bearer {token}", "X-Auth-Token": token}


@dataclass(frozen=True)
class Callers:
    owner: Person
    other: Person
    viewer: Person
    collaborator: Person
    admin: Person
    unpermitted: Person  # an account without CL's store permissions
    bystander: Person  # someone the requests may name (share with, look up) who is none of the callers
    tokens: dict[Who, str]  # the refused tokens

    def person(self, who: Who) -> Person | None:
        return {Who.OWNER: self.owner, Who.OTHER: self.other, Who.VIEWER: self.viewer,
                Who.COLLABORATOR: self.collaborator, Who.ADMIN: self.admin, Who.NO_STORE: self.unpermitted}.get(who)

    async def headers(self, system: RunningSystem, who: Who) -> dict[str, str]:
        """The caller's credential: for a person, a token of a new session, so that a request which ends
        its own session (or every other one) leaves the next request its own; a guest's link is not in
        here: it goes where the route takes it."""
        person = self.person(who)
        if person is not None:
            return bearer(await fresh_token(system, person.user_id))
        token = self.tokens.get(who)
        return bearer(token) if token else {}


async def fresh_token(system: RunningSystem, user_id: int) -> str:
    """A token of a new session of the account, opened by the auth core (no password, no rate limit)."""
    auth: AuthService = system.services["auth"].app.state.container.auth
    issued = await auth.open_session(await auth.get_user(user_id), Origin())
    return issued.token


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def _person(system: RunningSystem, name: str, permissions: tuple[str, ...] | None = None) -> Person:
    """A new account, signed in; `permissions` None gives auth's defaults."""
    if permissions is None:
        token = await system.user_token(name)
    else:
        auth: AuthService = system.services["auth"].app.state.container.auth
        password = f"{name}-password-123"
        await auth.create_user(email=f"{name}@example.com", username=name, password=password,
                               permissions=list(permissions))
        token = await system.token(name, password)
    return Person(name, f"{name}@example.com", int(str(_claims(token)["sub"])), token)


async def sign_in_everyone(system: RunningSystem, prefix: str = "") -> Callers:
    """The people, and the tokens that must be refused, each shown to be refused by every service first
    (revocation travels as an event)."""
    owner, other = [await _person(system, f"{prefix}{name}", JOB_PERMISSIONS) for name in ("olive", "oscar")]
    viewer, collaborator, bystander, deactivated = [
        await _person(system, f"{prefix}{name}") for name in ("vera", "colin", "bea", "dora")]
    admin_token = await system.token()
    admin = Person("admin", ADMIN_EMAIL, int(str(_claims(admin_token)["sub"])), admin_token)
    auth: AuthService = system.services["auth"].app.state.container.auth
    name = f"{prefix}nina"
    account = await auth.create_user(email=f"{name}@example.com", username=name, password=f"{name}-password-123",
                                     permissions=[])
    unpermitted = Person(name, f"{name}@example.com", account.id, await fresh_token(system, account.id))

    revoked = await system.token(owner.name, f"{owner.name}-password-123")
    ended = await system.client.delete("/users/sessions/current", headers=bearer(revoked))
    assert ended.status_code == 204, ended.text
    off = await system.client.put(f"/users/{deactivated.user_id}", headers=bearer(admin.token),
                                  data={"is_active": "false"})
    assert off.status_code == 200, off.text

    kid, key = await auth.keys.signing_key()
    now = int(time.time())
    stale = {**_claims(owner.token), "iat": now - 7200, "exp": now - 3600}
    expired = jwt.encode(stale, key, algorithm="ES256", headers={"kid": kid})
    forged = jwt.encode(_claims(owner.token), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                        headers={"kid": kid})
    tokens = {Who.REVOKED: revoked, Who.DEACTIVATED: deactivated.token, Who.EXPIRED: expired, Who.FORGED: forged}
    await _until_refused(system, [revoked, deactivated.token])
    return Callers(owner, other, viewer, collaborator, admin, unpermitted, bystander, tokens)


# One route of each service that takes a token and names nothing: a refused token gets 401 from each.
# (compute's is an admin route: a refused token gets 401 there, an accepted one of a non-admin 403.)
_PROBES = ("/users/me", "/storage/usage", "/v1/uploads/upl_probe", "/admin/jobs/storage/size")


async def _until_refused(system: RunningSystem, tokens: list[str], within: float = 10) -> None:
    """Wait (a while, not forever) until every service refuses the tokens; if one never does, the matrix
    says so, cell by cell."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answers = [(await system.client.get(path, headers=bearer(token))).status_code
                   for token in tokens for path in _PROBES]
        if all(status == 401 for status in answers):
            return
        await asyncio.sleep(0.1)
