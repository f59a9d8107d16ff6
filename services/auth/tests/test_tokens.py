"""Signing in, and the tokens every other service must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, update

from shoebox.testing import ADMIN_EMAIL, RunningSystem
from shoebox_auth.models import User
from shoebox_auth.service import AuthService

PROTECTED = ["/v1/images/img_1", "/users/me"]


def auth_core(system: RunningSystem) -> AuthService:
    core: AuthService = system.services["auth"].app.state.container.auth
    return core


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


async def claims_of(system: RunningSystem, token: str) -> dict[str, Any]:
    verified = await system.services["metadata"].app.state.runtime.verifier.verify(token)
    assert verified.user_id > 0
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


async def real_claims(system: RunningSystem) -> dict[str, Any]:
    return await claims_of(system, await system.token())


async def assert_refused(system: RunningSystem, token: str, message: str | None = None) -> None:
    for path in PROTECTED:
        response = await system.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, f"{path}: {response.status_code} {response.text}"
        if message:
            assert message in response.text


async def test_password_sign_in_gives_an_es256_token_naming_its_session(api: RunningSystem) -> None:
    token = await api.token()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    jwks = (await api.client.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"]), "no private half is ever published"
    claims = await claims_of(api, token)
    assert claims["sid"].startswith("ses_")
    assert claims["sub"] == claims["id"]
    assert claims["is_admin"] is True
    assert {"iss", "aud", "exp", "iat", "permissions"} <= set(claims)

    me = await api.client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] == ADMIN_EMAIL
    assert me.json()["is_active"] is True
    pem = (await api.client.get("/auth/public-key")).json()
    assert pem["algorithm"] == "ES256"
    assert pem["public_key"].startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize("via", ["bearer", "x-auth-token", "x-auth-token-base64url", "query"])
async def test_a_token_travels_in_every_way_the_faces_use(api: RunningSystem, via: str) -> None:
    token = await api.token()
    headers, params = {}, {}
    if via == "bearer":
        headers = {"Authorization": f"Bearer {token}"}
    elif via == "x-auth-token":
        headers = {"X-Auth-Token": token}
    elif via == "x-auth-token-base64url":  # what Ente clients send after unsealing their token
        headers = {"X-Auth-Token": base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode()}
    else:
        params = {"token": token}
    response = await api.client.get("/users/me", headers=headers, params=params)
    assert response.status_code == 200, response.text


async def test_wrong_password_unknown_user_and_inactive_user_look_alike(api: RunningSystem) -> None:
    await api.user_token("dora")
    answers = []
    for username, password in [(ADMIN_EMAIL, "wrong"), ("nobody@example.com", "whatever"), ("dora", "nope")]:
        response = await api.client.post("/auth/token", data={"username": username, "password": password})
        answers.append((response.status_code, response.json()["detail"]))
    async with auth_core(api).db.transaction() as session:
        await session.execute(update(User).where(User.username == "dora").values(is_active=False))
    inactive = await api.client.post("/auth/token", data={"username": "dora", "password": "dora-password-123"})
    answers.append((inactive.status_code, inactive.json()["detail"]))
    assert set(answers) == {(401, "Incorrect username or password")}


async def test_missing_form_fields_are_a_cl_422(api: RunningSystem) -> None:
    response = await api.client.post("/auth/token", data={"username": "x"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_alg_none_is_refused(api: RunningSystem) -> None:
    claims = await real_claims(api)
    await assert_refused(api, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.")


async def test_hs256_signed_with_the_public_key_is_refused(api: RunningSystem) -> None:
    claims = await real_claims(api)
    pem = (await api.client.get("/auth/public-key")).json()["public_key"]
    kid = (await api.client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    signature = base64.urlsafe_b64encode(hmac.new(pem.encode(), signing_input, hashlib.sha256).digest())
    await assert_refused(api, signing_input.decode() + "." + signature.rstrip(b"=").decode())


async def test_a_key_of_our_own_with_a_real_kid_is_refused(api: RunningSystem) -> None:
    claims = await real_claims(api)
    kid = (await api.client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid})
    await assert_refused(api, forged)


async def test_unknown_kid_is_refused(api: RunningSystem) -> None:
    claims = await real_claims(api)
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "nope"})
    await assert_refused(api, forged)


@pytest.mark.parametrize(("change", "message"), [
    ({"exp": int(time.time()) - 10}, "expired"),
    ({"aud": "someone-else"}, None),
    ({"iss": "https://evil.example"}, None),
    ({"sub": "not-a-number"}, None),
])
async def test_tokens_signed_by_us_with_wrong_claims_are_refused(api: RunningSystem, change: dict[str, Any],
                                                                 message: str | None) -> None:
    claims = {**await real_claims(api), **change}
    token = await auth_core(api).keys.sign(claims)
    await assert_refused(api, token, message)


async def test_admin_is_created_once(api: RunningSystem) -> None:
    await auth_core(api).ensure_admin()
    await auth_core(api).ensure_admin()
    async with auth_core(api).db.transaction() as session:
        admins = (await session.execute(select(func.count()).where(User.is_admin))).scalar_one()
    assert admins == 1
