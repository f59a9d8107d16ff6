from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
import jwt
from jwt.algorithms import ECAlgorithm

from shoebox_lib.auth.principal import Principal
from shoebox_lib.auth.revocation import RevocationList
from shoebox_lib.errors import Unauthenticated
from shoebox_lib.settings import Settings

ALGORITHM = "ES256"


class KeySource(Protocol):
    async def fetch(self) -> dict[str, Any]:
        """The current JWKS document."""
        ...


class JwksSource:
    """The auth service's `/.well-known/jwks.json`, over HTTP."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    async def fetch(self) -> dict[str, Any]:
        response = await self.http.get(self.url)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document


class TokenVerifier:
    """Checks signature (ES256 only), issuer, audience and expiry without calling auth per request.

    Keys are cached; a token naming an unknown `kid` triggers one refetch (at most once every
    few seconds, so forged kids cannot make us hammer the auth service).
    """

    REFETCH_INTERVAL = 5.0

    def __init__(self, settings: Settings, source: KeySource, revocations: RevocationList | None = None) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.jwks_cache_seconds
        self.source = source
        self.revocations = revocations or RevocationList(settings.access_token_ttl_seconds)
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if (force and age < self.REFETCH_INTERVAL) or (not force and age < self.ttl and self._keys):
                return
            try:
                document = await self.source.fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if not self._keys:
                    raise Unauthenticated("Could not validate credentials: signing keys unavailable") from exc
                return
            keys: dict[str, Any] = {}
            for jwk in document.get("keys", []):
                if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and jwk.get("kid"):
                    keys[jwk["kid"]] = ECAlgorithm.from_jwk(jwk)
            self._keys = keys
            self._fetched_at = time.monotonic()

    def expire_keys(self) -> None:
        """Forget when the keys were fetched: the next verification fetches them again."""
        self._fetched_at = 0.0

    async def key_for(self, kid: str) -> Any:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthenticated("Could not validate credentials") from None

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("Could not validate credentials") from None
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthenticated("Could not validate credentials")
        key = await self.key_for(header["kid"])
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("JWT token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("Could not validate credentials") from None
        principal = principal_from_claims(claims, token)
        if self.revocations.is_revoked(principal.user_id, principal.session_id, float(claims["iat"])):
            raise Unauthenticated("The session has been revoked")
        return principal


def principal_from_claims(claims: dict[str, Any], token: str) -> Principal:
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        raise Unauthenticated("JWT payload is invalid") from None
    permissions = claims.get("permissions") or []
    if not isinstance(permissions, list):
        raise Unauthenticated("JWT payload is invalid")
    sid = claims.get("sid")
    return Principal(
        user_id=user_id,
        session_id=str(sid) if sid is not None else None,
        permissions=frozenset(str(p) for p in permissions),
        is_admin=bool(claims.get("is_admin", False)),
        token=token,
    )
