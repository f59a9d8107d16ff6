from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Integer, MetaData, String, Text, false, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "auth"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(start=1000), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    username: Mapped[str | None] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # Set once the owner of the address has typed a code we mailed to it (Ente's isEmailVerified).
    is_email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Ente's email MFA: sign-in by password is refused (409), the client signs in by a mailed code instead.
    is_email_mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class Session(Base):
    """A sign-in. Every token names its session, so revoking the session revokes its tokens."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    client_package: Mapped[str | None] = mapped_column(String(200))
    client_version: Mapped[str | None] = mapped_column(String(100))


class SigningKey(Base):
    """An ES256 key pair; the private half encrypted with a key derived from the installation secret."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    private_key_encrypted: Mapped[bytes] = mapped_column()
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A key is published from creation until retired_at + the longest token lifetime.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- Ente sign-in (shoebox_auth.ente) and abuse limits (shoebox_auth.ratelimit) ---


class EnteKeyAttributes(Base):
    """Ente's key attributes, exactly as the client sent them: we can read none of the keys inside."""

    __tablename__ = "ente_key_attributes"

    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EnteSrpCredential(Base):
    """A user's SRP verifier: what lets them sign in by password without the password reaching us."""

    __tablename__ = "ente_srp_credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    srp_user_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), unique=True)
    salt: Mapped[str] = mapped_column(Text)  # base64, as the client sent it
    verifier: Mapped[str] = mapped_column(Text)  # base64, as the client sent it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EnteSrpSession(Base):
    """One SRP exchange: the server's secret b and the client's A, used for exactly one proof."""

    __tablename__ = "ente_srp_sessions"

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    srp_user_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), index=True)
    # None for an srpUserID nobody has: the session runs against a decoy verifier and can never succeed.
    user_id: Mapped[int | None] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(10))  # an ente.srp_signin.SrpPurpose
    verifier: Mapped[str] = mapped_column(Text)
    server_secret: Mapped[str] = mapped_column(Text)  # b, hex; never leaves the server
    client_public: Mapped[str] = mapped_column(Text)  # A, hex
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EnteSrpSetup(Base):
    """A verifier offered by a signed-in user, kept until they prove they know its password."""

    __tablename__ = "ente_srp_setups"

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    session_id: Mapped[UUID] = mapped_column(ForeignKey(EnteSrpSession.id, ondelete="CASCADE"))
    srp_user_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))
    salt: Mapped[str] = mapped_column(Text)
    verifier: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EnteEmailCode(Base):
    """A one-time code mailed to an address; only a keyed hash of it is kept."""

    __tablename__ = "ente_email_codes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # normalised: trimmed, lower case
    code_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(20))  # as the client asked (ente.email_signin.CodePurpose)
    wrong_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EnteSubscription(Base):
    """The plan an admin set for an account (Ente's `PUT /admin/user/subscription`), as Ente shows it.

    The allowance itself is enforced by metadata, which learns it from the `account.quota_set` event;
    an account without a row is on the installation's default plan.
    """

    __tablename__ = "ente_subscriptions"

    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    storage: Mapped[int] = mapped_column(BigInteger)  # bytes
    expiry_time: Mapped[int] = mapped_column(BigInteger)  # microseconds since the epoch, as Ente counts
    product_id: Mapped[str] = mapped_column(String(100))
    transaction_id: Mapped[str] = mapped_column(String(200))
    payment_provider: Mapped[str] = mapped_column(String(100), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class RateLimit(Base):
    """Failures counted against one key (an account, an address or both, for one action)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of "action, scope, value"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
