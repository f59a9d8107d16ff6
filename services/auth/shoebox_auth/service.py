"""The auth core: accounts, sign-in and sessions. Knows nothing of HTTP."""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select, text

from shoebox_auth.keys import KeyRing
from shoebox_auth.models import Session, User
from shoebox_auth.passwords import hash_password, verify_password
from shoebox_auth.ratelimit import Action, Attempt, RateLimiter
from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, NotFound, Unauthenticated
from shoebox_lib.settings import Settings

log = logging.getLogger(__name__)


class Permission(StrEnum):
    """The CL permissions Shoebox acts on. A user's `permissions` (stored, carried in tokens) may also hold
    other free-form names CL's clients grant (`read:jobs`); those are kept and echoed, never interpreted."""

    MEDIA_STORE_READ = "media_store_read"
    MEDIA_STORE_WRITE = "media_store_write"
    AI_INFERENCE_SUPPORT = "ai_inference_support"
    ADMIN = "admin"
    ALL = "*"  # the bootstrap admin's: every permission, present and future


DEFAULT_PERMISSIONS = [Permission.MEDIA_STORE_READ, Permission.MEDIA_STORE_WRITE]


@dataclass(frozen=True)
class ClientInfo:
    """What the client says it is (Ente's X-Client-Package and X-Client-Version)."""

    package: str | None
    version: str | None


@dataclass(frozen=True)
class Origin:
    """Where a sign-in comes from: for rate limits and the session it opens."""

    ip: str | None = None
    user_agent: str | None = None
    client: ClientInfo | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_in: int


class AuthService:
    def __init__(self, db: Database, keys: KeyRing, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self.db = db
        self.keys = keys
        self.settings = settings
        self.limiter = limiter or RateLimiter(db)

    async def create_user(self, *, email: str | None, username: str | None, password: str,
                          is_admin: bool = False, permissions: list[str] | None = None) -> User:
        password_hash = await hash_password(password)
        async with self.db.transaction() as session:
            if not (email or username):
                raise InvalidInput("An email or a username is required")
            taken = [column == value for column, value in ((User.email, email), (User.username, username)) if value]
            clash = await session.execute(select(User.id).where(or_(*taken)))
            if clash.first() is not None:
                raise InvalidInput("Username already registered", code="ALREADY_REGISTERED")  # CL answers 400
            user = User(email=email, username=username, password_hash=password_hash, is_admin=is_admin,
                        permissions=list(permissions if permissions is not None else DEFAULT_PERMISSIONS))
            session.add(user)
            await session.flush()
            return user

    async def ensure_admin(self) -> None:
        """First start: create the admin account, printing a generated password once if none was set."""
        async with self.db.transaction() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('auth:bootstrap-admin'))"))
            if (await session.execute(select(User.id).where(User.is_admin).limit(1))).first() is not None:
                return
            password = self.settings.admin_password or secrets.token_urlsafe(18)
            session.add(User(
                email=self.settings.admin_email, username="admin", password_hash=await hash_password(password),
                is_admin=True, permissions=[Permission.ALL],
            ))
        if not self.settings.admin_password:
            # Printed, not logged: it must reach the person at the terminal and nowhere else.
            print(f"\n  Shoebox admin account: {self.settings.admin_email} / password: {password}\n"
                  "  (shown once; set SHOEBOX_ADMIN_PASSWORD to choose it)\n", file=sys.stderr, flush=True)

    async def find_by_login(self, identifier: str) -> User | None:
        """The account an email (any case) or a username names."""
        async with self.db.transaction() as session:
            return (await session.execute(
                select(User).where(or_(func.lower(User.email) == identifier.lower(), User.username == identifier))
            )).scalar_one_or_none()

    async def login(self, identifier: str, password: str, origin: Origin | None = None) -> IssuedToken:
        origin = origin or Origin()
        attempt = Attempt(Action.LOGIN, account=identifier, address=origin.ip)
        await self.limiter.check(attempt)
        user = await self.find_by_login(identifier.strip())
        valid = await verify_password(password, user.password_hash if user else None)
        if user is None or not valid or not user.is_active:
            await self.limiter.fail(attempt)
            raise Unauthenticated("Incorrect username or password")
        await self.limiter.succeed(attempt)
        return await self.open_session(user, origin)

    async def open_session(self, user: User, origin: Origin) -> IssuedToken:
        """A new sign-in: a session row, and a token naming it."""
        ttl = self.settings.access_token_ttl_seconds
        session_id = "ses_" + secrets.token_urlsafe(18)
        client = origin.client
        async with self.db.transaction() as session:
            session.add(Session(
                id=session_id, user_id=user.id, expires_at=datetime.now(UTC) + timedelta(seconds=ttl), ip=origin.ip,
                user_agent=(origin.user_agent or "")[:500], client_package=client.package if client else None,
                client_version=client.version if client else None,
            ))
        return await self.mint_token(user, session_id)

    async def mint_token(self, user: User, session_id: str) -> IssuedToken:
        ttl = self.settings.access_token_ttl_seconds
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "sub": str(user.id), "id": str(user.id), "sid": session_id,
            "permissions": list(user.permissions), "is_admin": user.is_admin,
            "iss": self.settings.jwt_issuer, "aud": self.settings.jwt_audience, "iat": now, "exp": now + ttl,
        }
        return IssuedToken(token=await self.keys.sign(claims), session_id=session_id, expires_in=ttl)

    async def get_user(self, user_id: int) -> User:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        return user
