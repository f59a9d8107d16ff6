"""Handing a token to an Ente client: sealed to the public key it stored with its key attributes.

Only the holder of the secret key (which only the password unlocks, on the client) can open it, so a
token given out for a code or an SRP proof is useless to anyone who merely saw the answer.
"""

from __future__ import annotations

import base64
import binascii

from nacl.public import PublicKey, SealedBox

from shoebox_lib.errors import InvalidInput


def decode_public_key(value: str) -> PublicKey:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("publicKey is not base64") from None
    if len(raw) != PublicKey.SIZE:
        raise InvalidInput(f"publicKey must be {PublicKey.SIZE} bytes")
    return PublicKey(raw)


def seal(raw_token: bytes, public_key: str) -> str:
    """base64 of crypto_box_seal(raw_token, publicKey), as Ente's `encryptedToken`."""
    return base64.b64encode(SealedBox(decode_public_key(public_key)).encrypt(raw_token)).decode()


def token_header_value(raw_token: bytes) -> str:
    """What an Ente client sends as `X-Auth-Token` for a raw token: base64url, padded like Go's."""
    return base64.urlsafe_b64encode(raw_token).decode()
