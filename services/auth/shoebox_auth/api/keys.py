"""Where verifiers find our public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shoebox_auth.api.deps import Keys

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
async def jwks(keys: Keys) -> dict[str, Any]:
    return await keys.jwks()


@router.get("/auth/public-key")
async def public_key(keys: Keys) -> dict[str, str]:
    """CL shape: the current signing key as PEM."""
    return {"public_key": await keys.public_pem(), "algorithm": "ES256"}
