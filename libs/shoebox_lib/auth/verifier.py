from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from jwt.algorithms import ECAlgorithm

from shoebox_lib.auth.key_cache import KeyCache
from shoebox_lib.auth.principal import Principal
from shoebox_lib.auth.revocation import RevocationList
from shoebox_lib.errors import Unauthenticated, UpstreamUnavailable
from shoebox_lib.settings import Settings

ALGORITHM = "ES256"
# What a refused token is told, the same whether it was checked in full or found among the verified.
EXPIRED = "JWT token has expired"
REVOKED = "The session has been revoked"
log = logging.getLogger(__name__)


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
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS is not a JSON object")
        return document


def _keys_of(document: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in document.get("keys") or []:
        if isinstance(jwk, dict) and jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and jwk.get("kid"):
            try:
                keys[str(jwk["kid"])] = ECAlgorithm.from_jwk(jwk)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                log.warning("skipping a signing key that does not parse: kid %r", jwk.get("kid"))
    return keys


@dataclass(frozen=True)
class _Verified:
    """A token whose signature and claims passed: what is left to check on its next use."""

    principal: Principal
    kid: str
    expires_at: float
    issued_at: float


class TokenVerifier:
    """Checks signature (ES256 only), issuer, audience and expiry without calling auth per request.

    A client sends the same token with every request for its lifetime, so the last `VERIFIED` tokens that
    passed are kept: a token seen again skips the signature check (the costly part) but is still refused
    once expired, once its session is revoked, or once auth no longer publishes the key that signed it.

    Keys are cached; a token naming an unknown `kid` triggers one refetch. Auth is asked at most once every
    few seconds, so forged kids cannot make us hammer it, and an auth outage does not make every request
    wait on it. While auth cannot be reached the keys last fetched stay in use, from memory or, after a
    restart, from `cache`; with none at all, or for a key id they lack, the answer is 503, not 401: the
    token may well be good.
    """

    REFETCH_INTERVAL = 5.0
    VERIFIED = 4096  # tokens kept; a few MiB at most

    def __init__(self, settings: Settings, source: KeySource, revocations: RevocationList | None = None,
                 cache: KeyCache | None = None) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.jwks_cache_seconds
        self.source = source
        self.cache = cache
        self.revocations = revocations or RevocationList(settings.access_token_ttl_seconds)
        self._keys: dict[str, Any] = {}
        self._document: dict[str, Any] | None = None  # as fetched, to keep it on disk only when it changes
        self._fetched_at = 0.0
        self._tried_at = -math.inf  # the last fetch, whether it answered or not
        self._reachable = True  # whether it answered
        self._lock = asyncio.Lock()
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._tried_at < self.REFETCH_INTERVAL:
                return
            if not force and self._keys and now - self._fetched_at < self.ttl:
                return
            self._tried_at = now
            try:
                document = await self.source.fetch()
            except (httpx.HTTPError, ValueError) as exc:
                self._reachable = False
                log.warning("auth's signing keys could not be fetched (%s: %s); %s", type(exc).__name__, exc,
                            "keeping the last ones" if self._keys else "none kept yet")
                if not self._keys and self.cache is not None and (kept := await self.cache.load()) is not None:
                    self._keys = _keys_of(kept)
                    log.warning("checking tokens with the %d signing keys kept in %s", len(self._keys),
                                self.cache.path)
                return
            self._reachable = True
            self._keys = _keys_of(document)
            self._fetched_at = now
            if self.cache is not None and document != self._document:
                await self.cache.save(document)
            self._document = document

    def expire_keys(self) -> None:
        """Forget when the keys were fetched: the next verification fetches them again."""
        self._fetched_at = 0.0
        self._tried_at = -math.inf

    def forget_verified(self) -> None:
        """Forget the tokens verified so far: each is checked in full on its next use."""
        self._verified.clear()

    async def key_for(self, kid: str) -> Any:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._reachable:
            raise UpstreamUnavailable("The signing keys cannot be fetched from auth; try again shortly",
                                      retry_after=5)
        raise Unauthenticated("Could not validate credentials")

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and await self._still_good(token, known):
            return known.principal
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
            raise Unauthenticated(EXPIRED) from None
        except jwt.PyJWTError:
            raise Unauthenticated("Could not validate credentials") from None
        principal = principal_from_claims(claims, token)
        if self.revocations.is_revoked(principal.user_id, principal.session_id, float(claims["iat"])):
            raise Unauthenticated(REVOKED)
        self._verified[token] = _Verified(principal, header["kid"], float(claims["exp"]), float(claims["iat"]))
        if len(self._verified) > self.VERIFIED:
            self._verified.popitem(last=False)
        return principal

    async def _still_good(self, token: str, known: _Verified) -> bool:
        """Whether a token verified before still holds; False sends it through the whole check again."""
        if time.time() >= known.expires_at:  # as PyJWT decides it, with no leeway
            self._verified.pop(token, None)
            raise Unauthenticated(EXPIRED)
        await self._refresh(force=False)
        if known.kid not in self._keys:  # the key retired since: the full check gives the answer
            self._verified.pop(token, None)
            return False
        if self.revocations.is_revoked(known.principal.user_id, known.principal.session_id, known.issued_at):
            self._verified.pop(token, None)
            raise Unauthenticated(REVOKED)
        if token in self._verified:  # another request may have dropped it while the keys were refreshed
            self._verified.move_to_end(token)
        return True


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
