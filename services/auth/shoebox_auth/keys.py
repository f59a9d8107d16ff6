"""ES256 signing keys: generated in the database, private halves encrypted at rest, published as a JWKS."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import ECAlgorithm
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_auth.models import SigningKey
from shoebox_lib.db import Database
from shoebox_lib.settings import Settings

SIGNING_KEY_RECHECK_SECONDS = 30.0


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"shoebox-auth-signing-keys").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


class KeyRing:
    """The current signing key and every key still published."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._fernet = _fernet(settings.secret_key)
        self._signing: tuple[str, ec.EllipticCurvePrivateKey] | None = None
        self._signing_read_at = 0.0

    async def _create(self, session: AsyncSession, *, active: bool = True) -> SigningKey:
        private = ec.generate_private_key(ec.SECP256R1())
        kid = secrets.token_urlsafe(12)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
        public_jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
        key = SigningKey(kid=kid, private_key_encrypted=self._fernet.encrypt(pem), public_jwk=public_jwk, active=active)
        session.add(key)
        await session.flush()
        return key

    async def ensure_key(self) -> None:
        """Create the first key; two auth replicas starting together create one between them."""
        async with self.db.transaction() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('auth:signing-key'))"))
            if (await session.execute(select(SigningKey.kid).where(SigningKey.active))).first() is None:
                await self._create(session)

    async def signing_key(self) -> tuple[str, ec.EllipticCurvePrivateKey]:
        # Re-read now and then, so every replica starts signing with a promoted key soon after rotation.
        if self._signing is None or time.monotonic() - self._signing_read_at > SIGNING_KEY_RECHECK_SECONDS:
            async with self.db.transaction() as session:
                key = (await session.execute(
                    select(SigningKey).where(SigningKey.active).order_by(SigningKey.created_at.desc()).limit(1)
                )).scalar_one()
            private = serialization.load_pem_private_key(self._fernet.decrypt(key.private_key_encrypted), None)
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            self._signing = (key.kid, private)
            self._signing_read_at = time.monotonic()
        return self._signing

    async def rotate(self, *, force: bool = False) -> str:
        """One step of a rotation; run it twice, some minutes apart.

        The first run publishes a next key without signing with it. A later run, once every verifier's
        cached key set has had time to include it, makes it the signing key, retires the old one (still
        published for as long as a token it signed can live) and publishes a new next key.
        """
        async with self.db.transaction() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('auth:signing-key'))"))
            upcoming = (await session.execute(
                select(SigningKey).where(~SigningKey.active, SigningKey.retired_at.is_(None))
                .order_by(SigningKey.created_at).limit(1)
            )).scalar_one_or_none()
            if upcoming is None:
                key = await self._create(session, active=False)
                return (f"published next key {key.kid}; run rotate again after "
                        f"{self.settings.jwks_cache_seconds}s to start signing with it")
            age = (datetime.now(UTC) - upcoming.created_at).total_seconds()
            if age < self.settings.jwks_cache_seconds and not force:
                wait = int(self.settings.jwks_cache_seconds - age) + 1
                return f"next key {upcoming.kid} is not yet in every verifier's cache; run again in {wait}s"
            now = datetime.now(UTC)
            current = (await session.execute(select(SigningKey).where(SigningKey.active))).scalars().all()
            for key in current:
                key.active, key.retired_at = False, now
            upcoming.active = True
            following = await self._create(session, active=False)
            self._signing = None
            retired = ", ".join(k.kid for k in current) or "none"
            return f"signing with {upcoming.kid}; retired {retired}; published next key {following.kid}"

    async def jwks(self) -> dict[str, Any]:
        horizon = datetime.now(UTC) - timedelta(seconds=self.settings.access_token_ttl_seconds)
        async with self.db.transaction() as session:
            keys = (await session.execute(
                select(SigningKey.public_jwk)
                .where(or_(SigningKey.active, SigningKey.retired_at.is_(None), SigningKey.retired_at > horizon))
                .order_by(SigningKey.created_at)
            )).scalars().all()
        return {"keys": list(keys)}

    async def public_pem(self) -> str:
        _, private = await self.signing_key()
        return private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    async def sign(self, claims: dict[str, Any]) -> str:
        kid, private = await self.signing_key()
        return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid})


class LocalKeySource:
    """The auth service verifies its own tokens from its own key ring, without an HTTP round trip."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def fetch(self) -> dict[str, Any]:
        return await self.ring.jwks()
