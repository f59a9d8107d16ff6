"""Token checks while auth cannot be reached: the keys last fetched stay in use (from memory, or from disk
after a restart); with none at all the answer is 503, never 401, and auth is not asked on every request.
And the cache of tokens already verified: a token seen again skips its signature check, never its expiry,
its revocation or its key."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shoebox_lib.auth import verifier as verifier_module
from shoebox_lib.auth.key_cache import KeyCache
from shoebox_lib.auth.verifier import TokenVerifier
from shoebox_lib.errors import Unauthenticated, UpstreamUnavailable
from shoebox_lib.events import SessionsRevoked
from shoebox_lib.settings import Settings


class SigningKeys:
    """A key source as auth publishes it, which can be taken down: keys signed with, and a JWKS of them."""

    def __init__(self) -> None:
        self.private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.up = True
        self.fetches = 0

    def add(self, kid: str) -> None:
        self.private[kid] = ec.generate_private_key(ec.SECP256R1())

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "7", "iss": "shoebox", "aud": "shoebox", "iat": now, "exp": now + 600, **claims}
        return jwt.encode(body, self.private[kid], algorithm="ES256", headers={"kid": kid})

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        if not self.up:
            raise httpx.ConnectError("connection refused")
        keys = []
        for kid, key in self.private.items():
            jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
        return {"keys": keys}


@pytest.fixture
def keys() -> SigningKeys:
    source = SigningKeys()
    source.add("k1")
    return source


def verifier(keys: SigningKeys, cache: Path | None = None) -> TokenVerifier:
    return TokenVerifier(Settings(jwks_cache_seconds=300), keys, cache=KeyCache(cache) if cache else None)


async def test_a_service_that_never_had_keys_answers_503_while_auth_is_down(keys: SigningKeys) -> None:
    keys.up = False
    checks = verifier(keys)
    with pytest.raises(UpstreamUnavailable) as refused:
        await checks.verify(keys.token("k1"))
    assert (refused.value.status_code, refused.value.retry_after) == (503, 5)
    # A burst of requests during the outage asks auth once, not once each.
    for _ in range(20):
        with pytest.raises(UpstreamUnavailable):
            await checks.verify(keys.token("k1"))
    assert keys.fetches == 1
    keys.up = True
    checks.expire_keys()  # as the refetch interval passing would
    assert (await checks.verify(keys.token("k1"))).user_id == 7


async def test_keys_fetched_before_the_outage_keep_checking_tokens_past_their_time(keys: SigningKeys) -> None:
    checks = verifier(keys)
    assert (await checks.verify(keys.token("k1"))).user_id == 7
    keys.up = False
    checks.expire_keys()  # their cache time is over: they are fetched again, which fails
    assert (await checks.verify(keys.token("k1"))).user_id == 7
    assert (await checks.verify(keys.token("k1"))).user_id == 7
    assert keys.fetches == 2
    # A key id they lack may be one auth rotated to during the outage: 503, not a verdict on the token.
    keys.add("k2")
    checks.expire_keys()
    with pytest.raises(UpstreamUnavailable):
        await checks.verify(keys.token("k2"))


async def test_after_a_restart_during_an_outage_the_keys_kept_on_disk_check_tokens(keys: SigningKeys,
                                                                                   tmp_path: Path) -> None:
    kept = tmp_path / "data" / "jwks.json"
    assert (await verifier(keys, kept).verify(keys.token("k1"))).user_id == 7
    assert kept.exists()
    keys.up = False
    restarted = verifier(keys, kept)
    assert (await restarted.verify(keys.token("k1"))).user_id == 7
    # A token signed by a key nobody published is still refused once auth answers again.
    keys.up = True
    restarted.expire_keys()
    forger = SigningKeys()
    forger.add("k1")
    forger.add("k9")
    with pytest.raises(Unauthenticated):
        await restarted.verify(forger.token("k1"))
    with pytest.raises(Unauthenticated):
        await restarted.verify(forger.token("k9"))


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"keys": [{"kty": "EC", "crv": "P-256", '
                                                                  '"kid": "k1", "x": "AAAA", "y": "zz"}]}'])
async def test_a_damaged_key_file_is_ignored_not_trusted(keys: SigningKeys, tmp_path: Path, content: str) -> None:
    kept = tmp_path / "jwks.json"
    kept.write_text(content)
    keys.up = False
    with pytest.raises(UpstreamUnavailable):
        await verifier(keys, kept).verify(keys.token("k1"))


async def test_an_unwritable_key_file_does_not_stop_token_checks(keys: SigningKeys, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert (await verifier(keys, blocked / "jwks.json").verify(keys.token("k1"))).user_id == 7


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked, in order."""
    checked: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(verifier_module.jwt, "decode", counting)
    return checked


async def test_a_token_seen_again_skips_its_signature_check_but_not_its_expiry(keys: SigningKeys,
                                                                             signature_checks: list[str]) -> None:
    checks = verifier(keys)
    expires = int(time.time()) + 2
    token = keys.token("k1", exp=expires)
    for _ in range(3):
        assert (await checks.verify(token)).user_id == 7
    assert signature_checks == [token]
    await asyncio.sleep(expires - time.time() + 0.05)
    with pytest.raises(Unauthenticated, match="expired"):
        await checks.verify(token)
    with pytest.raises(Unauthenticated, match="expired"):  # and not cached again on its way out
        await checks.verify(token)
    assert signature_checks == [token, token]


async def test_a_token_seen_again_is_refused_once_its_session_is_revoked(keys: SigningKeys,
                                                                       signature_checks: list[str]) -> None:
    checks = verifier(keys)
    mine, other = keys.token("k1", sid="s-1"), keys.token("k1", sid="s-2")
    assert (await checks.verify(mine)).session_id == "s-1"
    assert (await checks.verify(other)).session_id == "s-2"
    checks.revocations.apply(SessionsRevoked(user_id=7, session_ids=["s-1"], all_sessions=False,
                                             revoked_at=datetime.now(UTC)))
    with pytest.raises(Unauthenticated, match="revoked"):
        await checks.verify(mine)
    assert (await checks.verify(other)).session_id == "s-2"
    checks.revocations.apply(SessionsRevoked(user_id=7, session_ids=[], all_sessions=True,
                                             revoked_at=datetime.now(UTC) + timedelta(seconds=1)))
    with pytest.raises(Unauthenticated, match="revoked"):
        await checks.verify(other)
    assert signature_checks == [mine, other]


async def test_a_token_seen_again_is_refused_once_auth_retires_its_key(keys: SigningKeys) -> None:
    checks = verifier(keys)
    token = keys.token("k1")
    assert (await checks.verify(token)).user_id == 7
    keys.add("k2")
    del keys.private["k1"]
    checks.expire_keys()
    with pytest.raises(Unauthenticated):
        await checks.verify(token)
    assert (await checks.verify(keys.token("k2"))).user_id == 7


async def test_the_tokens_kept_are_bounded_the_least_recently_used_going_first(keys: SigningKeys,
                                                                             signature_checks: list[str],
                                                                             monkeypatch: pytest.MonkeyPatch
                                                                             ) -> None:
    monkeypatch.setattr(TokenVerifier, "VERIFIED", 3)
    checks = verifier(keys)
    first, second, third, fourth = (keys.token("k1", sid=f"s-{n}") for n in range(4))
    for token in (first, second, third, first, fourth):  # first used again: second is the oldest
        await checks.verify(token)
    assert len(checks._verified) == 3
    signature_checks.clear()
    for token in (first, third, fourth, second):
        await checks.verify(token)
    assert signature_checks == [second]
