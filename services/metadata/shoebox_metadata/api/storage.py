"""Storage usage (seed 000's `/storage/usage`; Ente's `/users/details/v2` on auth asks this)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from shoebox_lib.auth import CurrentUser
from shoebox_metadata.api.deps import QuotasDep
from shoebox_metadata.quota import Usage

router = APIRouter(prefix="/storage", tags=["storage"])


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError("unreachable")


def render_usage(usage: Usage) -> dict[str, Any]:
    total = usage.total
    return {
        "used": usage.used, "usage": usage.used, "reserved": usage.reserved, "fileCount": usage.file_count,
        "quota": usage.quota, "bonus": usage.bonus, "totalQuota": total, "available": usage.available,
        "usagePercentage": round(100 * usage.used / total, 2) if total else 0.0,
        "formattedUsed": human(usage.used), "formattedQuota": human(total),
        "formattedAvailable": human(usage.available),
    }


@router.get("/usage")
async def usage(user: CurrentUser, quotas: QuotasDep) -> dict[str, Any]:
    return render_usage(await quotas.usage(user.user_id))


class NewReservation(BaseModel):
    reservationId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    bytes: int = Field(ge=0)


@router.post("/reservations", status_code=201)
async def reserve(body: NewReservation, user: CurrentUser, quotas: QuotasDep) -> dict[str, Any]:
    """Hold bytes for an upload about to start (the upload signer calls this on the uploader's behalf)."""
    reservation = await quotas.hold(user.user_id, body.reservationId, body.bytes)
    return {"reservationId": reservation.id, "bytes": reservation.bytes,
            "expiresAt": int(reservation.expires_at.timestamp() * 1000)}


@router.delete("/reservations/{reservation_id}", status_code=204)
async def release(user: CurrentUser, quotas: QuotasDep,
                  reservation_id: str = Path(min_length=1, max_length=64)) -> Response:
    await quotas.give_back(user.user_id, reservation_id)
    return Response(status_code=204)
