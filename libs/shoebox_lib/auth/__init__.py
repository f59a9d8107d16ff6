"""Verifying Shoebox tokens locally: ES256 JWTs checked against the auth service's JWKS."""

from shoebox_lib.auth.dependencies import AdminUser, CurrentUser, OptionalUser, token_from_request
from shoebox_lib.auth.principal import Principal
from shoebox_lib.auth.verifier import JwksSource, KeySource, TokenVerifier

__all__ = [
    "AdminUser", "CurrentUser", "JwksSource", "KeySource", "OptionalUser", "Principal", "TokenVerifier",
    "token_from_request",
]
