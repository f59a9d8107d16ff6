"""Ente's key attributes: the client's keys, sealed with its password; stored exactly as sent, once."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from shoebox_auth.ente.accounts import Accounts
from shoebox_auth.ente.sealing import decode_public_key
from shoebox_auth.models import EnteKeyAttributes
from shoebox_lib.auth import Principal
from shoebox_lib.errors import Forbidden, InvalidInput

MAX_KEY_ATTRIBUTES_BYTES = 64 * 1024  # real ones are under 2 KiB; the cap keeps junk out of the table

# What Ente's clients need to find in key attributes; the rest is stored and returned untouched.
REQUIRED_KEY_ATTRIBUTES: dict[str, type] = {
    "kekSalt": str, "encryptedKey": str, "keyDecryptionNonce": str, "publicKey": str,
    "encryptedSecretKey": str, "secretKeyDecryptionNonce": str, "memLimit": int, "opsLimit": int,
}


def validate_key_attributes(attributes: dict[str, Any]) -> None:
    for name, kind in REQUIRED_KEY_ATTRIBUTES.items():
        value = attributes.get(name)
        # bool is an int to Python, never a limit to anyone.
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value):
            raise InvalidInput(f"keyAttributes.{name} is missing or not a {kind.__name__}")
    if attributes["memLimit"] <= 0 or attributes["opsLimit"] <= 0:
        raise InvalidInput("memLimit and opsLimit must be positive")
    if len(json.dumps(attributes)) > MAX_KEY_ATTRIBUTES_BYTES:
        raise InvalidInput("keyAttributes are too large")
    decode_public_key(attributes["publicKey"])  # we seal tokens to it: it must be a key


class KeyAttributes:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.db = accounts.db

    async def set_once(self, principal: Principal, attributes: dict[str, Any]) -> dict[str, Any]:
        """Stored exactly as sent, once: replacing them would lock the owner out of their own keys."""
        validate_key_attributes(attributes)
        await self.accounts.active(principal.user_id)
        async with self.db.transaction() as session:
            stored = (await session.execute(
                insert(EnteKeyAttributes).values(user_id=principal.user_id, attributes=attributes)
                .on_conflict_do_nothing(index_elements=[EnteKeyAttributes.user_id])
                .returning(EnteKeyAttributes.user_id)
            )).first()
        if stored is None:
            raise Forbidden("Key attributes are already set")
        return attributes
