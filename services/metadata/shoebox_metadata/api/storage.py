"""Storage usage (seed 000's `/storage/usage`; Ente's `/users/details/v2` on auth asks this)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from shoebox_lib.auth import CurrentUser

from shoebox_metadata.api.deps import ItemsDep

router = APIRouter(prefix="/storage", tags=["storage"])


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError("unreachable")


@router.get("/usage")
async def usage(request: Request, user: CurrentUser, items: ItemsDep) -> dict[str, Any]:
    used, count = await items.usage(user)
    quota: int = request.app.state.runtime.settings.default_quota_bytes
    return {
        "used": used, "usage": used, "fileCount": count, "quota": quota, "totalQuota": quota,
        "available": max(0, quota - used), "usagePercentage": round(100 * used / quota, 2) if quota else 0.0,
        "formattedUsed": human(used), "formattedQuota": human(quota),
    }
