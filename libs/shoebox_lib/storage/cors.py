"""Setting the CORS rules browsers need on every tier's bucket (the `shoebox cors` command)."""

from __future__ import annotations

from shoebox_lib.settings import Settings
from shoebox_lib.storage.base import CorsRule, browser_upload_cors
from shoebox_lib.storage.tiers import Storage


async def set_browser_cors(settings: Settings, origins: list[str]) -> dict[str, list[CorsRule]]:
    """Allow browser uploads from `origins` (PUT, POST, GET, HEAD; ETag and Location exposed) on every
    configured bucket; returns the rules each bucket reports afterwards."""
    storage = Storage.from_settings(settings)
    await storage.start()
    try:
        applied: dict[str, list[CorsRule]] = {}
        for driver in storage.tiers.values():
            await driver.set_cors(browser_upload_cors(origins))
            applied[driver.bucket] = await driver.get_cors()
        return applied
    finally:
        await storage.close()
