"""Storage usage (seed 000's `/storage/usage`). Quota holds for uploads are not a client's business: the
upload signer asks for them on metadata's internal routes, and they end with the upload (`internal.py`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from shoebox_lib.auth import CurrentUser
from shoebox_metadata.api.deps import QuotasDep
from shoebox_metadata.quota import Usage

router = APIRouter(prefix="/storage", tags=["storage"])


class StorageUsage(BaseModel):
    """Seed 000's usage, `used` also as `usage`."""

    used: int
    usage: int
    reserved: int
    fileCount: int
    quota: int
    bonus: int
    totalQuota: int
    available: int
    usagePercentage: float
    formattedUsed: str
    formattedQuota: str
    formattedAvailable: str


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError("unreachable")


def render_usage(usage: Usage) -> StorageUsage:
    total = usage.total
    return StorageUsage(
        used=usage.used, usage=usage.used, reserved=usage.reserved, fileCount=usage.file_count,
        quota=usage.quota, bonus=usage.bonus, totalQuota=total, available=usage.available,
        usagePercentage=round(100 * usage.used / total, 2) if total else 0.0,
        formattedUsed=human(usage.used), formattedQuota=human(total), formattedAvailable=human(usage.available),
    )


@router.get("/usage")
async def usage(user: CurrentUser, quotas: QuotasDep) -> StorageUsage:
    return render_usage(await quotas.usage(user.user_id))
