"""Setting a password and signing in with it by SRP, as Ente does (`/users/srp/…`); the arithmetic is
in `srp`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

import anyio
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_auth.ente import srp
from shoebox_auth.ente.accounts import Accounts, Authorization, normalize_email
from shoebox_auth.models import EnteKeyAttributes, EnteSrpCredential, EnteSrpSession, EnteSrpSetup, User
from shoebox_auth.ratelimit import Action, Attempt, RateLimiter
from shoebox_auth.service import Origin
from shoebox_lib.auth import Principal
from shoebox_lib.errors import Conflict, Gone, InvalidInput, NotFound, Unauthenticated


class InvalidPassword(Unauthenticated):
    code = "INVALID_PASSWORD"  # Ente's answer to a wrong SRP proof: 401


class SessionSpent(Gone):
    code = "SESSION_ALREADY_VERIFIED"  # Ente answers 410 to a replayed SRP session


class SessionExpired(Gone):
    code = "SESSION_EXPIRED"


class EmailMfaEnabled(Conflict):
    code = "EMAIL_MFA_ENABLED"  # Ente's 409: this account signs in with a mailed code, not by SRP alone


# One answer for "no such account" and "an account without SRP", so the 404 alone tells nothing apart.
NO_SRP_ATTRIBUTES = "No SRP attributes for this account"


class SrpPurpose(StrEnum):
    """What an SRP exchange is for (`EnteSrpSession.purpose`)."""

    LOGIN = "login"
    SETUP = "setup"


@dataclass(frozen=True)
class SrpAttributes:
    srp_user_id: UUID
    srp_salt: str
    mem_limit: int
    ops_limit: int
    kek_salt: str
    is_email_mfa_enabled: bool = False


@dataclass(frozen=True)
class SrpChallenge:
    id: UUID  # the setup's id for setup, the session's for sign-in
    srp_b: str


@dataclass(frozen=True)
class Exchange:
    """An SRP exchange taken from the database for its one proof."""

    user_id: int | None
    client_public: int
    verifier: int
    secret: int


def b64decode(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{name} is not base64") from None
    if not raw:
        raise InvalidInput(f"{name} is empty")
    return raw


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def proof_bytes(srp_m1: str) -> bytes:
    """M1 from the wire, checked before any session is spent on it."""
    m1 = b64decode(srp_m1, "srpM1")
    if len(m1.lstrip(b"\0")) > 32:
        raise InvalidInput("srpM1 must be 32 bytes")
    return m1


class SrpSignIn:
    def __init__(self, accounts: Accounts, limiter: RateLimiter, *, secret_key: str,
                 session_ttl_seconds: int) -> None:
        self.accounts = accounts
        self.db = accounts.db
        self.limiter = limiter
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self._decoy_key = hashlib.sha256(b"shoebox/ente/decoy\0" + secret_key.encode()).digest()
        self._decoy_verifier: int | None = None

    async def attributes(self, email: str, origin: Origin) -> SrpAttributes:
        """What a client needs to derive its SRP password, or NotFound (Ente's clients then sign in with
        a code by email).

        - An account with SRP: its attributes, and whether it wants email MFA.
        - An account without SRP (made by CL, or signed up by code and no password set yet): always a 404,
          however often the caller has asked. Decoys here would trap a real owner's client in a password
          prompt that can never succeed (the Ente CLI asks again forever).
        - No account: a 404, like Ente's server, until one client address has asked after too many
          unknown addresses; from then on decoy attributes, stable per address and shaped like real ones,
          so that probing for accounts stops paying. (Ente switches on a limit shared by all callers.)
        """
        email = normalize_email(email)
        async with self.db.transaction() as session:
            row = (await session.execute(
                select(User.is_email_mfa_enabled, EnteSrpCredential, EnteKeyAttributes.attributes)
                .outerjoin(EnteSrpCredential, EnteSrpCredential.user_id == User.id)
                .outerjoin(EnteKeyAttributes, EnteKeyAttributes.user_id == User.id)
                .where(func.lower(User.email) == email)
            )).first()
        if row is not None:
            mfa, credential, attributes = row
            if credential is None or attributes is None:
                raise NotFound(NO_SRP_ATTRIBUTES)  # as Ente: existing accounts are not rate limited here
            return SrpAttributes(srp_user_id=credential.srp_user_id, srp_salt=credential.salt,
                                 mem_limit=attributes["memLimit"], ops_limit=attributes["opsLimit"],
                                 kek_salt=attributes["kekSalt"], is_email_mfa_enabled=mfa)
        probe = Attempt(Action.SRP_ATTRIBUTES, account=None, address=origin.ip)
        if await self.limiter.is_limited(probe):
            return self._decoy_attributes(email)
        await self.limiter.fail(probe)
        raise NotFound(NO_SRP_ATTRIBUTES)

    async def setup(self, principal: Principal, srp_user_id: UUID, srp_salt: str, srp_verifier: str,
                    srp_a: str) -> SrpChallenge:
        """Step one of setting a password: the signed-in user offers a verifier and opens an exchange
        against it. Nothing is stored as the user's until `complete` proves the password."""
        user = await self.accounts.active(principal.user_id)
        b64decode(srp_salt, "srpSalt")
        verifier = srp.group_element(b64decode(srp_verifier, "srpVerifier"), "srpVerifier")
        client_public = srp.group_element(b64decode(srp_a, "srpA"), "srpA")
        row, server_public = await self._exchange_row(srp_user_id, user.id, SrpPurpose.SETUP, client_public, verifier)
        setup = EnteSrpSetup(id=uuid4(), user_id=user.id, session_id=row.id, srp_user_id=srp_user_id,
                             salt=srp_salt, verifier=srp_verifier)
        async with self.db.transaction() as session:
            await self._refuse_taken(session, user.id, srp_user_id)
            # Only the newest setup of a user can be completed; older ones are abandoned.
            await session.execute(delete(EnteSrpSetup).where(EnteSrpSetup.user_id == user.id))
            session.add(row)
            await session.flush()
            session.add(setup)
        return SrpChallenge(id=setup.id, srp_b=b64encode(srp.pad(server_public)))

    async def complete(self, principal: Principal, setup_id: UUID, srp_m1: str) -> str:
        """Step two: the proof that the client knows the password of the verifier; then it is theirs."""
        async with self.db.transaction() as session:
            setup = (await session.execute(
                select(EnteSrpSetup).where(EnteSrpSetup.id == setup_id, EnteSrpSetup.user_id == principal.user_id)
            )).scalar_one_or_none()
        if setup is None:  # someone else's setup is not found either
            raise NotFound("SRP setup not found")
        m1 = proof_bytes(srp_m1)
        exchange = await self._spend_exchange(setup.session_id, setup.srp_user_id, SrpPurpose.SETUP)
        m2 = await self._check(exchange, m1)
        if m2 is None:
            raise InvalidPassword("The proof does not match the verifier")
        try:
            async with self.db.transaction() as session:
                await self._refuse_taken(session, principal.user_id, setup.srp_user_id)
                session.add(EnteSrpCredential(user_id=principal.user_id, srp_user_id=setup.srp_user_id,
                                              salt=setup.salt, verifier=setup.verifier))
                await session.execute(delete(EnteSrpSetup).where(EnteSrpSetup.user_id == principal.user_id))
        except IntegrityError:  # a concurrent completion won the race
            raise Conflict("SRP is already set up for this account") from None
        return b64encode(m2)

    async def create_session(self, srp_user_id: UUID, srp_a: str, origin: Origin) -> SrpChallenge:
        """Open a sign-in exchange. An unknown srpUserID gets one too, against a decoy verifier: it
        looks the same and can never succeed."""
        client_public = srp.group_element(b64decode(srp_a, "srpA"), "srpA")
        attempt = Attempt(Action.SRP, account=str(srp_user_id), address=origin.ip)
        await self.limiter.check(attempt)
        async with self.db.transaction() as session:
            found = (await session.execute(
                select(EnteSrpCredential, User.is_email_mfa_enabled).join(User, User.id == EnteSrpCredential.user_id)
                .where(EnteSrpCredential.srp_user_id == srp_user_id)
            )).first()
        credential = found[0] if found else None
        if found is not None and found[1]:
            raise EmailMfaEnabled("Email MFA is enabled")
        # Every exchange opened counts as a try until one is verified: each is good for one proof.
        await self.limiter.fail(attempt)
        if credential is not None:
            user_id: int | None = credential.user_id
            verifier = int.from_bytes(b64decode(credential.verifier, "srpVerifier"), "big")
        else:
            user_id, verifier = None, await self._decoy()
        row, server_public = await self._exchange_row(srp_user_id, user_id, SrpPurpose.LOGIN, client_public,
                                                      verifier)
        async with self.db.transaction() as session:
            # Spent and expired exchanges are of no further use.
            await session.execute(delete(EnteSrpSession).where(
                EnteSrpSession.expires_at < datetime.now(UTC) - timedelta(hours=1)))
            session.add(row)
        return SrpChallenge(id=row.id, srp_b=b64encode(srp.pad(server_public)))

    async def verify_session(self, srp_user_id: UUID, session_id: UUID, srp_m1: str,
                             origin: Origin) -> Authorization:
        m1 = proof_bytes(srp_m1)
        # Not checked against the limiter again: opening the exchange was the attempt, and counted; each
        # exchange takes one proof. (Checking here would refuse the owner's proof whenever their own
        # address has just opened it while the account is hot elsewhere.)
        attempt = Attempt(Action.SRP, account=str(srp_user_id), address=origin.ip)
        exchange = await self._spend_exchange(session_id, srp_user_id, SrpPurpose.LOGIN)
        m2 = await self._check(exchange, m1)
        if m2 is None or exchange.user_id is None:
            raise InvalidPassword("Incorrect password")
        await self.limiter.succeed(attempt)
        user = await self.accounts.active(exchange.user_id)
        return replace(await self.accounts.authorize(user, origin), srp_m2=b64encode(m2))

    async def _refuse_taken(self, session: AsyncSession, user_id: int, srp_user_id: UUID) -> None:
        taken = (await session.execute(
            select(EnteSrpCredential.user_id).where(
                (EnteSrpCredential.user_id == user_id) | (EnteSrpCredential.srp_user_id == srp_user_id))
        )).first()
        if taken is not None:
            # Changing the password is another ceremony (Ente's /users/srp/update), not a second setup.
            raise Conflict("SRP is already set up for this account, or the srpUserID is taken")

    async def _exchange_row(self, srp_user_id: UUID, user_id: int | None, purpose: SrpPurpose, client_public: int,
                            verifier: int) -> tuple[EnteSrpSession, int]:
        secret = srp.new_secret()
        server_public = await anyio.to_thread.run_sync(srp.server_public, verifier, secret)
        row = EnteSrpSession(
            id=uuid4(), srp_user_id=srp_user_id, user_id=user_id, purpose=purpose, verifier=format(verifier, "x"),
            server_secret=format(secret, "x"), client_public=format(client_public, "x"),
            expires_at=datetime.now(UTC) + self.session_ttl,
        )
        return row, server_public

    async def _spend_exchange(self, session_id: UUID, srp_user_id: UUID, purpose: SrpPurpose) -> Exchange:
        """Mark the exchange used, whatever the proof turns out to be: one proof per exchange."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            row = (await session.execute(
                select(EnteSrpSession).where(EnteSrpSession.id == session_id).with_for_update()
            )).scalar_one_or_none()
            problem: Exception | None = None
            exchange: Exchange | None = None
            if row is None or row.srp_user_id != srp_user_id or row.purpose != purpose:
                problem = InvalidPassword("Incorrect password")  # as Ente: an unknown session says no more
            elif row.used_at is not None:
                problem = SessionSpent("This SRP session was already used; start a new one")
            elif row.expires_at <= now:
                problem = SessionExpired("This SRP session has expired; start a new one")
            else:
                row.used_at = now
                exchange = Exchange(user_id=row.user_id, client_public=int(row.client_public, 16),
                                    verifier=int(row.verifier, 16), secret=int(row.server_secret, 16))
        if problem is not None or exchange is None:
            raise problem or InvalidPassword("Incorrect password")
        return exchange

    async def _check(self, exchange: Exchange, m1: bytes) -> bytes | None:
        return await anyio.to_thread.run_sync(
            srp.check_proof, m1, exchange.client_public, exchange.verifier, exchange.secret)

    async def _decoy(self) -> int:
        """One verifier per installation for srpUserIDs nobody has (computed once, so the decoy path
        costs what the real one does)."""
        if self._decoy_verifier is None:
            seed = hmac.new(self._decoy_key, b"verifier", hashlib.sha256).digest()
            self._decoy_verifier = await anyio.to_thread.run_sync(
                srp.verifier_for, seed[:16], "decoy", seed[16:])
        return self._decoy_verifier

    def _decoy_attributes(self, email: str) -> SrpAttributes:
        """Stable per address, so asking twice does not give a decoy away; limits as Ente's decoys. Email
        MFA off, as on nearly every real account here (Ente's server turns it on for one decoy in five)."""
        digest = hmac.new(self._decoy_key, b"attributes\0" + email.encode(), hashlib.sha256).digest()
        more = hmac.new(self._decoy_key, b"kek-salt\0" + email.encode(), hashlib.sha256).digest()
        raw = bytearray(digest[:16])
        raw[6] = (raw[6] & 0x0F) | 0x40  # a version-4 UUID, like every real srpUserID
        raw[8] = (raw[8] & 0x3F) | 0x80
        sensitive = digest[16] % 2 == 0
        return SrpAttributes(srp_user_id=UUID(bytes=bytes(raw)), srp_salt=b64encode(digest[16:32]),
                             mem_limit=268435456 if sensitive else 1073741824, ops_limit=16 if sensitive else 4,
                             kek_salt=b64encode(more[:16]))
