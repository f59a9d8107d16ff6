"""The last signing keys a service fetched from auth, kept on disk: a service restarted while auth is down
still checks tokens (the keys are public, so keeping them is no secret)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class KeyCache:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._read)

    async def save(self, document: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, json.dumps(document, sort_keys=True))

    def _read(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the signing keys kept in %s: %s", self.path, exc)
            return None
        return document if isinstance(document, dict) else None

    def _write(self, text: str) -> None:
        # Written aside and renamed, so a reader (another service of the all-in-one) never sees half a file.
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text)
            os.replace(temporary, self.path)
        except OSError as exc:
            # Not fatal: the keys in memory still serve; only a restart during an auth outage is at stake.
            log.warning("could not keep the signing keys in %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
