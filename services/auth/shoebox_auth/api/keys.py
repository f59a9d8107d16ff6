"""Where verifiers find our public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shoebox_auth.api.cl_models import ClPublicKey
from shoebox_auth.api.deps import KeysDep

jwks_router = APIRouter(tags=["keys"])  # every verifier's, of no face in particular
router = APIRouter(tags=["keys"])  # CL's


class Jwks(BaseModel):
    """RFC 7517's JWK Set: every public key a valid token may name."""

    keys: list[dict[str, Any]]


@jwks_router.get("/.well-known/jwks.json")
async def jwks(keys: KeysDep) -> Jwks:
    return Jwks.model_validate(await keys.jwks())


@router.get("/auth/public-key")
async def public_key(keys: KeysDep) -> ClPublicKey:
    """CL shape: the current signing key as PEM."""
    return ClPublicKey(public_key=await keys.public_pem(), algorithm="ES256")
