"""The Ente sign-in core: codes by email, key attributes, SRP setup and sign-in, account details.

Knows nothing of HTTP: `shoebox_auth.api.ente` renders its answers in Ente's shapes. What a sign-in
returns is a Shoebox session token (`AuthService.open_session`), handed to the client sealed to the
public key of its key attributes, the way Ente hands out its own tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

import anyio
from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from shoebox_auth.ente import srp
from shoebox_auth.ente.config import EnteSettings
from shoebox_auth.ente.mailer import Mail, Mailer, mailer_from
from shoebox_auth.ente.otts import IncorrectCode, OneTimeCodes, TooManyWrongCodes, new_code
from shoebox_auth.ente.sealing import decode_public_key, seal, token_header_value
from shoebox_auth.ente.usage import MetadataUsage
from shoebox_auth.models import EnteKeyAttributes, EnteSrpCredential, EnteSrpSession, EnteSrpSetup, User
from shoebox_auth.ratelimit import RateLimiter, keys_for
from shoebox_auth.service import DEFAULT_PERMISSIONS, AuthService, ClientInfo
from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, Unauthenticated
from shoebox_lib.runtime import Runtime
from shoebox_lib.settings import Settings

log = logging.getLogger(__name__)

SIGNUP = "signup"
MAX_KEY_ATTRIBUTES_BYTES = 64 * 1024  # real ones are under 2 KiB; the cap keeps junk out of the table

# What Ente's clients need to find in key attributes; the rest is stored and returned untouched.
REQUIRED_KEY_ATTRIBUTES: dict[str, type] = {
    "kekSalt": str, "encryptedKey": str, "keyDecryptionNonce": str, "publicKey": str,
    "encryptedSecretKey": str, "secretKeyDecryptionNonce": str, "memLimit": int, "opsLimit": int,
}


class InvalidPassword(Unauthenticated):
    code = "INVALID_PASSWORD"  # Ente's answer to a wrong SRP proof: 401


class SessionSpent(Gone):
    code = "SESSION_ALREADY_VERIFIED"  # Ente answers 410 to a replayed SRP session


class SessionExpired(Gone):
    code = "SESSION_EXPIRED"


class UsageSource(Protocol):
    async def usage_of(self, principal: Principal) -> tuple[int, int]: ...


@dataclass(frozen=True)
class Origin:
    """Where a sign-in comes from: for rate limits and the session it opens."""

    ip: str | None = None
    user_agent: str | None = None
    client: ClientInfo | None = None


@dataclass(frozen=True)
class Authorization:
    """A successful sign-in. Before the account has key attributes the token travels in the clear
    (`token`, as the client will send it); after, only sealed (`encrypted_token`)."""

    user_id: int
    token: str | None = None
    key_attributes: dict[str, Any] | None = None
    encrypted_token: str | None = None
    srp_m2: str | None = None


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
class AccountDetails:
    user_id: int
    email: str
    usage: int
    file_count: int
    storage: int
    srp_enabled: bool


@dataclass(frozen=True)
class _Exchange:
    user_id: int | None
    client_public: int
    verifier: int
    secret: int


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, as Ente does; refused unless it looks like an address."""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise InvalidInput("Invalid email address")
    return email


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


def validate_key_attributes(attributes: dict[str, Any]) -> None:
    for name, kind in REQUIRED_KEY_ATTRIBUTES.items():
        value = attributes.get(name)
        # bool is an int to Python, never a limit to anyone.
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value):
            raise InvalidInput(f"keyAttributes.{name} is missing or not a {kind.__name__}")
    if attributes["memLimit"] <= 0 or attributes["opsLimit"] <= 0:
        raise InvalidInput("memLimit and opsLimit must be positive")
    if len(json.dumps(attributes)) > MAX_KEY_ATTRIBUTES_BYTES:
        raise InvalidInput("keyAttributes are too large")
    decode_public_key(attributes["publicKey"])  # we seal tokens to it: it must be a key


class EnteAuth:
    def __init__(self, db: Database, auth: AuthService, settings: Settings, ente: EnteSettings, mailer: Mailer,
                 usage: UsageSource, limiter: RateLimiter | None = None) -> None:
        self.db = db
        self.auth = auth
        self.settings = settings
        self.ente = ente
        self.mailer = mailer
        self.usage = usage
        self.limiter = limiter or auth.limiter
        self.codes = OneTimeCodes(db, settings.secret_key, ttl_seconds=ente.ott_ttl_seconds,
                                  max_wrong_attempts=ente.ott_max_wrong_attempts)
        self.accounts_url = settings.public_url
        self._decoy_key = hashlib.sha256(b"shoebox/ente/decoy\0" + settings.secret_key.encode()).digest()
        self._decoy_verifier: int | None = None

    # --- one-time codes by email ---------------------------------------------------------------

    async def send_code(self, email: str, purpose: str, origin: Origin) -> None:
        """Mail a code. The caller learns nothing of the account: the answer is the same either way.

        Sign-up creates the account when the code comes back. Any other purpose (Ente's "login") for an
        address without an account mails its owner a note instead, and records a code nobody was sent,
        so a guess is refused exactly like a wrong code for an account that exists.
        """
        email = normalize_email(email)
        attempt = keys_for("ott-send", account=email, address=origin.ip)
        await self.limiter.check(attempt)
        await self.limiter.fail(attempt)  # every code mailed spends the allowance: mailboxes are not free
        if purpose == SIGNUP or await self._find_user(email) is not None:
            code = await self.codes.issue(email, purpose)
            mail = Mail(to=email, subject=f"Shoebox verification code: {code}", body=(
                f"Your Shoebox verification code is {code}\n\n"
                f"It is valid for {self.ente.ott_ttl_seconds // 60} minutes. If you did not ask for it, "
                "ignore this message."))
        else:
            await self.codes.issue(email, purpose, code=new_code())
            mail = Mail(to=email, subject="Shoebox sign-in", body=(
                "Someone asked to sign in to Shoebox with this address, but there is no account for it.\n\n"
                "To create one, sign up instead. If it was not you, ignore this message."))
        await self.mailer.send(mail)

    async def verify_email(self, email: str, code: str, origin: Origin) -> Authorization:
        email = normalize_email(email)
        attempt = keys_for("ott", account=email, address=origin.ip)
        await self.limiter.check(attempt)
        try:
            redeemed = await self.codes.redeem(email, code)
        except (IncorrectCode, TooManyWrongCodes):
            await self.limiter.fail(attempt)
            raise
        await self.limiter.reset(k for k in attempt if k.scope == "account")
        user = await self._verified_user(email, create=redeemed.purpose == SIGNUP)
        if user is None:  # a code that was never mailed, guessed right
            raise IncorrectCode("Incorrect code")
        return await self._authorize(user, origin)

    # --- key attributes ------------------------------------------------------------------------

    async def set_key_attributes(self, principal: Principal, attributes: dict[str, Any]) -> dict[str, Any]:
        """Stored exactly as sent, once: replacing them would lock the owner out of their own keys."""
        validate_key_attributes(attributes)
        await self._active_user(principal.user_id)
        async with self.db.transaction() as session:
            stored = (await session.execute(
                insert(EnteKeyAttributes).values(user_id=principal.user_id, attributes=attributes)
                .on_conflict_do_nothing(index_elements=[EnteKeyAttributes.user_id])
                .returning(EnteKeyAttributes.user_id)
            )).first()
        if stored is None:
            raise Forbidden("Key attributes are already set")
        return attributes

    async def key_attributes(self, user_id: int) -> dict[str, Any] | None:
        async with self.db.transaction() as session:
            row = await session.get(EnteKeyAttributes, user_id)
        return dict(row.attributes) if row else None

    # --- SRP -----------------------------------------------------------------------------------

    async def srp_attributes(self, email: str, origin: Origin) -> SrpAttributes:
        """What a client needs to derive its SRP password, or NotFound (Ente's clients then fall back
        to a code by email).

        Like Ente's server, an unknown address is a 404 until one client address has asked about too
        many unknown ones; from then on it gets decoy attributes, indistinguishable from real ones.
        """
        email = normalize_email(email)
        async with self.db.transaction() as session:
            row = (await session.execute(
                select(EnteSrpCredential, EnteKeyAttributes.attributes)
                .join(User, User.id == EnteSrpCredential.user_id)
                .join(EnteKeyAttributes, EnteKeyAttributes.user_id == EnteSrpCredential.user_id)
                .where(func.lower(User.email) == email)
            )).first()
        if row is not None:
            credential, attributes = row
            return SrpAttributes(srp_user_id=credential.srp_user_id, srp_salt=credential.salt,
                                 mem_limit=attributes["memLimit"], ops_limit=attributes["opsLimit"],
                                 kek_salt=attributes["kekSalt"])
        probe = keys_for("srp-attributes", account=None, address=origin.ip)
        if await self.limiter.is_limited(probe):
            return self._decoy_attributes(email)
        await self.limiter.fail(probe)
        raise NotFound("No SRP attributes for this account")

    async def setup_srp(self, principal: Principal, srp_user_id: UUID, srp_salt: str, srp_verifier: str,
                        srp_a: str) -> SrpChallenge:
        """Step one of setting a password: the signed-in user offers a verifier and opens an exchange
        against it. Nothing is stored as the user's until `complete_srp` proves the password."""
        user = await self._active_user(principal.user_id)
        b64decode(srp_salt, "srpSalt")
        verifier = srp.group_element(b64decode(srp_verifier, "srpVerifier"), "srpVerifier")
        client_public = srp.group_element(b64decode(srp_a, "srpA"), "srpA")
        row, server_public = await self._exchange_row(srp_user_id, user.id, "setup", client_public, verifier)
        setup = EnteSrpSetup(id=uuid4(), user_id=user.id, session_id=row.id, srp_user_id=srp_user_id,
                             salt=srp_salt, verifier=srp_verifier)
        async with self.db.transaction() as session:
            await self._refuse_taken_srp(session, user.id, srp_user_id)
            # Only the newest setup of a user can be completed; older ones are abandoned.
            await session.execute(delete(EnteSrpSetup).where(EnteSrpSetup.user_id == user.id))
            session.add(row)
            await session.flush()
            session.add(setup)
        return SrpChallenge(id=setup.id, srp_b=b64encode(srp.pad(server_public)))

    async def complete_srp(self, principal: Principal, setup_id: UUID, srp_m1: str) -> str:
        """Step two: the proof that the client knows the password of the verifier; then it is theirs."""
        async with self.db.transaction() as session:
            setup = (await session.execute(
                select(EnteSrpSetup).where(EnteSrpSetup.id == setup_id, EnteSrpSetup.user_id == principal.user_id)
            )).scalar_one_or_none()
        if setup is None:  # someone else's setup is not found either
            raise NotFound("SRP setup not found")
        m1 = proof_bytes(srp_m1)
        exchange = await self._spend_exchange(setup.session_id, setup.srp_user_id, "setup")
        m2 = await self._check(exchange, m1)
        if m2 is None:
            raise InvalidPassword("The proof does not match the verifier")
        try:
            async with self.db.transaction() as session:
                await self._refuse_taken_srp(session, principal.user_id, setup.srp_user_id)
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
        attempt = keys_for("srp", account=str(srp_user_id), address=origin.ip)
        await self.limiter.check(attempt)
        # Every exchange opened counts as a try until one is verified: each is good for one proof.
        await self.limiter.fail(attempt)
        async with self.db.transaction() as session:
            credential = (await session.execute(
                select(EnteSrpCredential).where(EnteSrpCredential.srp_user_id == srp_user_id)
            )).scalar_one_or_none()
        if credential is not None:
            user_id: int | None = credential.user_id
            verifier = int.from_bytes(b64decode(credential.verifier, "srpVerifier"), "big")
        else:
            user_id, verifier = None, await self._decoy()
        row, server_public = await self._exchange_row(srp_user_id, user_id, "login", client_public, verifier)
        async with self.db.transaction() as session:
            # Spent and expired exchanges are of no further use.
            await session.execute(delete(EnteSrpSession).where(
                EnteSrpSession.expires_at < datetime.now(UTC) - timedelta(hours=1)))
            session.add(row)
        return SrpChallenge(id=row.id, srp_b=b64encode(srp.pad(server_public)))

    async def verify_session(self, srp_user_id: UUID, session_id: UUID, srp_m1: str,
                             origin: Origin) -> Authorization:
        m1 = proof_bytes(srp_m1)
        attempt = keys_for("srp", account=str(srp_user_id), address=origin.ip)
        await self.limiter.check(attempt)
        exchange = await self._spend_exchange(session_id, srp_user_id, "login")
        m2 = await self._check(exchange, m1)
        if m2 is None or exchange.user_id is None:
            raise InvalidPassword("Incorrect password")
        await self.limiter.reset(k for k in attempt if k.scope == "account")
        user = await self._active_user(exchange.user_id)
        return replace(await self._authorize(user, origin), srp_m2=b64encode(m2))

    # --- details -------------------------------------------------------------------------------

    async def details(self, principal: Principal) -> AccountDetails:
        user = await self._active_user(principal.user_id)
        used, count = await self.usage.usage_of(principal)
        async with self.db.transaction() as session:
            has_srp = bool(await session.scalar(
                select(exists().where(EnteSrpCredential.user_id == user.id))))
        return AccountDetails(user_id=user.id, email=user.email or user.username or "", usage=used,
                              file_count=count, storage=self.settings.default_quota_bytes, srp_enabled=has_srp)

    # --- helpers -------------------------------------------------------------------------------

    async def _find_user(self, email: str) -> User | None:
        async with self.db.transaction() as session:
            return (await session.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()

    async def _verified_user(self, email: str, *, create: bool) -> User | None:
        """The account of a verified address, created when asked to; marked email-verified."""
        async with self.db.transaction() as session:
            # Two sign-ups of one address at once must not make two accounts (the unique index on
            # email does not see case).
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"auth:email:{email}"})
            user = (await session.execute(
                select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
            if user is None:
                if not create:
                    return None
                user = User(email=email, username=None, password_hash=None, is_active=True, is_admin=False,
                            permissions=list(DEFAULT_PERMISSIONS), is_email_verified=True)
                session.add(user)
                await session.flush()
                log.info("account %d created by Ente sign-up", user.id)
            elif not user.is_email_verified:
                user.is_email_verified = True
        if not user.is_active:
            raise Forbidden("This account is disabled")
        return user

    async def _active_user(self, user_id: int) -> User:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("This account is disabled or gone")
        return user

    async def _authorize(self, user: User, origin: Origin) -> Authorization:
        issued = await self.auth.open_session(user, ip=origin.ip, user_agent=origin.user_agent,
                                              client=origin.client)
        raw = issued.token.encode()
        attributes = await self.key_attributes(user.id)
        if attributes is None:
            return Authorization(user_id=user.id, token=token_header_value(raw))
        sealed = await anyio.to_thread.run_sync(seal, raw, attributes["publicKey"])
        return Authorization(user_id=user.id, key_attributes=attributes, encrypted_token=sealed)

    async def _refuse_taken_srp(self, session: Any, user_id: int, srp_user_id: UUID) -> None:
        taken = (await session.execute(
            select(EnteSrpCredential.user_id).where(
                (EnteSrpCredential.user_id == user_id) | (EnteSrpCredential.srp_user_id == srp_user_id))
        )).first()
        if taken is not None:
            # Changing the password is another ceremony (Ente's /users/srp/update), not a second setup.
            raise Conflict("SRP is already set up for this account, or the srpUserID is taken")

    async def _exchange_row(self, srp_user_id: UUID, user_id: int | None, purpose: str, client_public: int,
                            verifier: int) -> tuple[EnteSrpSession, int]:
        secret = srp.new_secret()
        server_public = await anyio.to_thread.run_sync(srp.server_public, verifier, secret)
        row = EnteSrpSession(
            id=uuid4(), srp_user_id=srp_user_id, user_id=user_id, purpose=purpose, verifier=format(verifier, "x"),
            server_secret=format(secret, "x"), client_public=format(client_public, "x"),
            expires_at=datetime.now(UTC) + timedelta(seconds=self.ente.srp_session_ttl_seconds),
        )
        return row, server_public

    async def _spend_exchange(self, session_id: UUID, srp_user_id: UUID, purpose: str) -> _Exchange:
        """Mark the exchange used, whatever the proof turns out to be: one proof per exchange."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            row = (await session.execute(
                select(EnteSrpSession).where(EnteSrpSession.id == session_id).with_for_update()
            )).scalar_one_or_none()
            problem: Exception | None = None
            exchange: _Exchange | None = None
            if row is None or row.srp_user_id != srp_user_id or row.purpose != purpose:
                problem = InvalidPassword("Incorrect password")  # as Ente: an unknown session says no more
            elif row.used_at is not None:
                problem = SessionSpent("This SRP session was already used; start a new one")
            elif row.expires_at <= now:
                problem = SessionExpired("This SRP session has expired; start a new one")
            else:
                row.used_at = now
                exchange = _Exchange(user_id=row.user_id, client_public=int(row.client_public, 16),
                                     verifier=int(row.verifier, 16), secret=int(row.server_secret, 16))
        if problem is not None or exchange is None:
            raise problem or InvalidPassword("Incorrect password")
        return exchange

    async def _check(self, exchange: _Exchange, m1: bytes) -> bytes | None:
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
        """Stable per address, so asking twice does not give a decoy away; limits as Ente's decoys."""
        digest = hmac.new(self._decoy_key, b"attributes\0" + email.encode(), hashlib.sha256).digest()
        more = hmac.new(self._decoy_key, b"kek-salt\0" + email.encode(), hashlib.sha256).digest()
        raw = bytearray(digest[:16])
        raw[6] = (raw[6] & 0x0F) | 0x40  # a version-4 UUID, like every real srpUserID
        raw[8] = (raw[8] & 0x3F) | 0x80
        sensitive = digest[16] % 2 == 0
        return SrpAttributes(srp_user_id=UUID(bytes=bytes(raw)), srp_salt=b64encode(digest[16:32]),
                             mem_limit=268435456 if sensitive else 1073741824, ops_limit=16 if sensitive else 4,
                             kek_salt=b64encode(more[:16]))


def build_ente(runtime: Runtime, auth: AuthService, ente: EnteSettings | None = None) -> EnteAuth:
    """The core wired to a service's runtime: SMTP or the log for mail, metadata over HTTP for usage."""
    ente = ente or EnteSettings()
    return EnteAuth(runtime.db, auth, runtime.settings, ente, mailer_from(ente),
                    MetadataUsage(runtime.settings.metadata_url, runtime.http))
