"""FastAPI dependencies: `CurrentUser` for routes that need a caller, `OptionalUser` for those that don't."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from shoebox_lib.auth.principal import Principal
from shoebox_lib.auth.verifier import TokenVerifier
from shoebox_lib.errors import Forbidden, Unauthenticated


def _unwrap_ente_token(value: str) -> str:
    """Ente clients send base64url of the raw token they unsealed; others send the JWT itself."""
    if value.count(".") == 2:
        return value
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value
    return decoded if decoded.count(".") == 2 else value


def token_from_request(request: Request) -> str | None:
    """`Authorization: Bearer`, then `X-Auth-Token`, then `?token=`."""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    header = request.headers.get("x-auth-token", "").strip()
    if header:
        return _unwrap_ente_token(header)
    query = request.query_params.get("token", "").strip()
    return query or None


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.runtime.verifier
    return verifier


async def optional_principal(request: Request) -> Principal | None:
    token = token_from_request(request)
    if token is None:
        return None
    return await _verifier(request).verify(token)


async def require_principal(request: Request) -> Principal:
    token = token_from_request(request)
    if token is None:
        raise Unauthenticated("Authentication required")
    return await _verifier(request).verify(token)


async def require_admin(request: Request) -> Principal:
    principal = await require_principal(request)
    if not principal.is_admin:
        raise Forbidden("The user doesn't have enough privileges")
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]
AdminUser = Annotated[Principal, Depends(require_admin)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
