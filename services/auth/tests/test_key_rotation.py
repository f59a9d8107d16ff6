"""Rotating the signing key: the next key is published before it signs; old tokens keep working."""

from __future__ import annotations

import jwt

from shoebox.testing import RunningSystem
from shoebox_auth.keys import KeyRing


def kids(jwks: dict[str, list[dict[str, str]]]) -> list[str]:
    return [key["kid"] for key in jwks["keys"]]


async def test_a_rotation_in_two_steps(api: RunningSystem) -> None:
    ring: KeyRing = api.services["auth"].app.state.container.keys
    old_token = await api.token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    first = await ring.rotate()
    assert first.startswith("published next key")
    published = kids((await api.client.get("/.well-known/jwks.json")).json())
    assert len(published) == 2
    assert old_kid in published
    next_kid = next(k for k in published if k != old_kid)
    assert jwt.get_unverified_header(await api.token())["kid"] == old_kid, "the next key does not sign yet"

    too_soon = await ring.rotate()
    assert "not yet in every verifier's cache" in too_soon
    promoted = await ring.rotate(force=True)
    assert promoted.startswith(f"signing with {next_kid}")

    new_token = await api.token()
    assert jwt.get_unverified_header(new_token)["kid"] == next_kid
    published = kids((await api.client.get("/.well-known/jwks.json")).json())
    assert {old_kid, next_kid} <= set(published), "the retired key stays published for its tokens' lifetime"
    assert len(published) == 3
    for token in (old_token, new_token):  # the other services learn the new kid by refetching
        response = await api.client.get("/v1/images/img_1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404
