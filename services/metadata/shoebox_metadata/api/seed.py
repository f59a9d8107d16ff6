"""Seed 000's extra routes beside Ente's: `/public/…`, `/storage/…` (admin ones for admins only),
`GET /collections`, `PUT /files/thumbnail`. Where the seed and the real API give a route two shapes,
the answer carries both."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from pydantic import Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import InvalidInput
from shoebox_metadata.api.deps import FilesDep, LinksDep, ObjectsDep, QuotasDep
from shoebox_metadata.api.ente_public import AccessJWT, AccessToken
from shoebox_metadata.api.ente_shapes import Attributes, FileBody, Strict, new_file, render_file
from shoebox_metadata.api.storage import human, render_usage
from shoebox_metadata.library.links import LinkAccess, Links, LinkSettings
from shoebox_metadata.library.objects import Blob

router = APIRouter(tags=["seed"])
link_router = APIRouter(tags=["seed"])  # a link's token is the credential
admin_router = APIRouter(tags=["seed"])


class ThumbnailBody(Strict):
    fileID: int
    thumbnail: Attributes


@router.put("/files/thumbnail")
async def replace_thumbnail(body: ThumbnailBody, user: CurrentUser, files: FilesDep) -> dict[str, Any]:
    if not body.thumbnail.objectKey:
        raise InvalidInput("thumbnail.objectKey is required")
    thumbnail = Blob(body.thumbnail.objectKey, body.thumbnail.size, body.thumbnail.decryptionHeader)
    item = await files.replace_thumbnail(user, body.fileID, thumbnail)
    return {"id": item.id, "updationTime": item.updation_time}


class PublicCollectionBody(Strict):
    collectionID: int
    enableCollect: bool = False
    validTill: int = Field(default=0, ge=0)


@router.post("/public/collections")
async def create_public_collection(body: PublicCollectionBody, user: CurrentUser, links: LinksDep) -> dict[str, Any]:
    link = await links.create(user, body.collectionID, LinkSettings(valid_till=body.validTill,
                                                                    enable_collect=body.enableCollect))
    return {"token": link.token, "url": f"/albums/collection/{link.token}"}


@link_router.get("/public/collections/{token}")
async def open_public_collection(token: str, links: LinksDep) -> RedirectResponse:
    await links.open(token)
    return RedirectResponse(f"{links.public_url.rstrip('/')}/?t={token}", status_code=307)


@link_router.get("/public/collections/{token}/preview/{file_id}")
async def public_preview(token: str, file_id: int, links: LinksDep) -> RedirectResponse:
    grant = await links.open(token)
    return RedirectResponse(await links.file_url(grant, file_id, thumbnail=True), status_code=307)


@link_router.post("/public/collections/{token}/commit-file")
async def guest_commit(token: str, body: FileBody, links: LinksDep) -> dict[str, Any]:
    return await commit_as_guest(await links.open(token), body, links)


@link_router.post("/public-collection/file")
async def ente_guest_commit(body: FileBody, links: LinksDep, token: str | None = AccessToken,
                            access_jwt: str | None = AccessJWT) -> dict[str, Any]:
    """Ente's own route for a guest's commit through a link."""
    return await commit_as_guest(await links.open(token, access_jwt), body, links)


async def commit_as_guest(grant: LinkAccess, body: FileBody, links: Links) -> dict[str, Any]:
    item = await links.commit_as_guest(grant, new_file(body, guest=True))
    return {**render_file(item, grant.collection.id, body.encryptedKey, body.keyDecryptionNonce), "fileId": item.id}


@link_router.get("/public/files/{token}")
async def public_file(token: str, links: LinksDep) -> RedirectResponse:
    return RedirectResponse(await links.file_link_url(token), status_code=307)


@router.post("/storage/refresh")
async def refresh_usage(user: CurrentUser, quotas: QuotasDep) -> dict[str, Any]:
    return render_usage(await quotas.recount(user.user_id))


@router.get("/storage/tier-quotas")
async def tier_quotas(user: CurrentUser, quotas: QuotasDep, objects: ObjectsDep) -> dict[str, Any]:
    usage, by_tier = await quotas.usage(user.user_id), await quotas.tier_usage(user.user_id)
    return {"tiers": {
        tier: {"quota": usage.total if tier == "primary" else None, "used": by_tier.get(tier, 0),
               "counts_against_quota": tier == "primary"}
        for tier in objects.tiers
    }}


@router.get("/storage/replication-info")
async def replication_info(objects: ObjectsDep) -> dict[str, Any]:
    tiers = objects.tiers
    return {
        "tiers": tiers, "primary": "primary", "replicas": [t for t in tiers if t != "primary"],
        "policy": "every stored object is copied to every other tier, for every user alike",
        "replicas_count_against_quota": False,
    }


@router.get("/storage/detailed-usage")
async def detailed_usage(user: CurrentUser, quotas: QuotasDep, objects: ObjectsDep) -> dict[str, Any]:
    usage, by_tier = await quotas.usage(user.user_id), await quotas.tier_usage(user.user_id)
    replicated = sum(size for tier, size in by_tier.items() if tier != "primary")
    return {
        "quota_usage": {"used": usage.used, "quota": usage.total, "available": usage.available,
                        "formatted_used": human(usage.used)},
        "tier_breakdown": {tier: {"usage": by_tier.get(tier, 0), "formatted": human(by_tier.get(tier, 0)),
                                  "counts_against_quota": tier == "primary"} for tier in objects.tiers},
        "replication_summary": {"total_replicated": replicated, "formatted_replicated": human(replicated),
                                "replication_ratio": round(replicated / usage.used, 2) if usage.used else 0.0},
    }


class QuotaBody(Strict):
    quota: int = Field(ge=0)


class BonusBody(Strict):
    bonus: int = Field(ge=0)


@admin_router.put("/storage/admin/quota/{user_id}")
async def admin_set_quota(user_id: int, body: QuotaBody, quotas: QuotasDep) -> dict[str, Any]:
    return {"userId": user_id, **render_usage(await quotas.set_limits(user_id, quota=body.quota))}


@admin_router.post("/storage/admin/bonus/{user_id}")
async def admin_add_bonus(user_id: int, body: BonusBody, quotas: QuotasDep) -> dict[str, Any]:
    return {"userId": user_id, **render_usage(await quotas.set_limits(user_id, add_bonus=body.bonus))}


@admin_router.get("/storage/admin/usage/{user_id}")
async def admin_usage(user_id: int, quotas: QuotasDep) -> dict[str, Any]:
    return {"userId": user_id, **render_usage(await quotas.usage(user_id))}
