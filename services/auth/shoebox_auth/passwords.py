"""Argon2id password hashes; hashing runs in a thread so it never blocks the event loop."""

from __future__ import annotations

import anyio
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_HASHER = PasswordHash((Argon2Hasher(),))
# Verifying against this when the account does not exist keeps the timing of a wrong username and a
# wrong password alike.
_DUMMY_HASH = _HASHER.hash("shoebox-no-such-user")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_HASHER.hash, password)


async def verify_password(password: str, hashed: str | None) -> bool:
    return await anyio.to_thread.run_sync(_HASHER.verify, password, hashed or _DUMMY_HASH) and hashed is not None
