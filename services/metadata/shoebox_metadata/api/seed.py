"""Seed 000's extra routes beside Ente's: `/public/…`, `/storage/…` (admin ones for admins only),
`GET /collections`, `PUT /files/thumbnail`. Where the seed and the real API give a route two shapes,
the answer carries both."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import InvalidInput
from shoebox_lib.web.inputs import Id64, NonNegative64, Text
from shoebox_metadata.api.deps import FilesDep, LinksDep, ObjectsDep, QuotasDep, ReplicationDep
from shoebox_metadata.api.ente_answers import CommittedFile, UpdatedFile, render_committed
from shoebox_metadata.api.ente_public import AccessJWT, AccessToken
from shoebox_metadata.api.ente_shapes import Attributes, FileBody, Strict, new_file
from shoebox_metadata.api.redirects import REDIRECT, redirect
from shoebox_metadata.api.storage import StorageUsage, human, render_usage
from shoebox_metadata.library.links import LinkAccess, Links, LinkSettings
from shoebox_metadata.library.objects import Blob
from shoebox_metadata.library.replicas import TierFigures
from shoebox_metadata.quota import Usage

router = APIRouter(tags=["seed"])
link_router = APIRouter(tags=["seed"])  # a link's token is the credential
admin_router = APIRouter(tags=["seed"])

LinkToken = Annotated[Text, Path(max_length=200)]
UserId = Annotated[Id64, Path()]


class ThumbnailBody(Strict):
    fileID: Id64
    thumbnail: Attributes


@router.put("/files/thumbnail")
async def replace_thumbnail(body: ThumbnailBody, user: CurrentUser, files: FilesDep) -> UpdatedFile:
    if not body.thumbnail.objectKey:
        raise InvalidInput("thumbnail.objectKey is required")
    thumbnail = Blob(body.thumbnail.objectKey, body.thumbnail.size, body.thumbnail.decryptionHeader)
    item = await files.replace_thumbnail(user, body.fileID, thumbnail)
    return UpdatedFile(id=item.id, updationTime=item.updation_time)


class PublicCollectionBody(Strict):
    collectionID: Id64
    enableCollect: bool = False
    validTill: NonNegative64 = 0


class CreatedLink(BaseModel):
    token: str
    url: str


@router.post("/public/collections")
async def create_public_collection(body: PublicCollectionBody, user: CurrentUser, links: LinksDep) -> CreatedLink:
    link = await links.create(user, body.collectionID, LinkSettings(valid_till=body.validTill,
                                                                    enable_collect=body.enableCollect))
    return CreatedLink(token=link.token, url=f"/albums/collection/{link.token}")


@link_router.get("/public/collections/{token}", **REDIRECT)
async def open_public_collection(token: LinkToken, links: LinksDep) -> RedirectResponse:
    await links.open(token)
    return redirect(f"{links.public_url.rstrip('/')}/?t={token}")


@link_router.get("/public/collections/{token}/preview/{file_id}", **REDIRECT)
async def public_preview(token: LinkToken, file_id: Annotated[Id64, Path()], links: LinksDep) -> RedirectResponse:
    grant = await links.open(token)
    return redirect(await links.file_url(grant, file_id, thumbnail=True))


@link_router.post("/public/collections/{token}/commit-file")
async def guest_commit(token: LinkToken, body: FileBody, links: LinksDep) -> CommittedFile:
    return await commit_as_guest(await links.open(token), body, links)


@link_router.post("/public-collection/file")
async def ente_guest_commit(body: FileBody, links: LinksDep, token: AccessToken = None,
                            access_jwt: AccessJWT = None) -> CommittedFile:
    """Ente's own route for a guest's commit through a link."""
    return await commit_as_guest(await links.open(token, access_jwt), body, links)


async def commit_as_guest(grant: LinkAccess, body: FileBody, links: Links) -> CommittedFile:
    item = await links.commit_as_guest(grant, new_file(body, guest=True))
    return render_committed(item, grant.collection.id, body.encryptedKey, body.keyDecryptionNonce)


@link_router.get("/public/files/{token}", **REDIRECT)
async def public_file(token: LinkToken, links: LinksDep) -> RedirectResponse:
    return redirect(await links.file_link_url(token))


@router.post("/storage/refresh")
async def refresh_usage(user: CurrentUser, quotas: QuotasDep) -> StorageUsage:
    return render_usage(await quotas.recount(user.user_id))


class TierQuota(BaseModel):
    quota: int | None  # only the primary tier counts against the quota
    used: int
    counts_against_quota: bool


class TierQuotas(BaseModel):
    tiers: dict[str, TierQuota]


@router.get("/storage/tier-quotas")
async def tier_quotas(user: CurrentUser, quotas: QuotasDep, objects: ObjectsDep) -> TierQuotas:
    usage, by_tier = await quotas.usage(user.user_id), await quotas.tier_usage(user.user_id)
    return TierQuotas(tiers={
        tier: TierQuota(quota=usage.total if tier == "primary" else None, used=by_tier.get(tier, 0),
                        counts_against_quota=tier == "primary")
        for tier in objects.tiers
    })


class TierReplication(BaseModel):
    """One tier's copies of the caller's objects (originals, thumbnails and variants)."""

    objects: int  # with a good (verified) copy here
    verified_bytes: int
    owed_objects: int  # still owed a copy here (damaged objects aside: there is nothing to copy them from)
    owed_bytes: int
    replication_lag_seconds: int  # how long the longest-owed object has waited; 0 when none is owed
    bad_copies: int  # found missing, truncated or hashing wrong, and not repaired yet


def render_tier(figures: TierFigures) -> TierReplication:
    return TierReplication(objects=figures.copies, verified_bytes=figures.copied_bytes, owed_objects=figures.owed,
                           owed_bytes=figures.owed_bytes, replication_lag_seconds=figures.lag_seconds,
                           bad_copies=figures.bad)


class ReplicationInfo(BaseModel):
    tiers: list[str]
    primary: str
    replicas: list[str]
    policy: str
    replicas_count_against_quota: bool
    objects: int
    bytes: int
    damaged_objects: int  # no good copy left on any tier: never served, an operator is told
    replication_lag_seconds: int  # the largest of the tiers'
    by_tier: dict[str, TierReplication]


@router.get("/storage/replication-info")
async def replication_info(user: CurrentUser, replication: ReplicationDep) -> ReplicationInfo:
    figures = await replication.figures(user.user_id)
    tiers = list(figures.tiers)
    return ReplicationInfo(
        tiers=tiers, primary="primary", replicas=[t for t in tiers if t != "primary"],
        policy="every stored object is copied to every other tier, for every user alike",
        replicas_count_against_quota=False, objects=figures.objects, bytes=figures.bytes,
        damaged_objects=figures.damaged,
        replication_lag_seconds=max((t.lag_seconds for t in figures.tiers.values()), default=0),
        by_tier={tier: render_tier(t) for tier, t in figures.tiers.items()},
    )


class QuotaUsage(BaseModel):
    used: int
    quota: int
    available: int
    formatted_used: str


class TierUsage(TierReplication):
    usage: int
    formatted: str
    counts_against_quota: bool


class ReplicationSummary(BaseModel):
    total_replicated: int
    formatted_replicated: str
    replication_ratio: float
    damaged_objects: int


class DetailedUsage(BaseModel):
    quota_usage: QuotaUsage
    tier_breakdown: dict[str, TierUsage]
    replication_summary: ReplicationSummary


@router.get("/storage/detailed-usage")
async def detailed_usage(user: CurrentUser, quotas: QuotasDep, replication: ReplicationDep) -> DetailedUsage:
    usage, by_tier = await quotas.usage(user.user_id), await quotas.tier_usage(user.user_id)
    figures = await replication.figures(user.user_id)
    replicated = sum(size for tier, size in by_tier.items() if tier != "primary")
    return DetailedUsage(
        quota_usage=QuotaUsage(used=usage.used, quota=usage.total, available=usage.available,
                               formatted_used=human(usage.used)),
        tier_breakdown={tier: TierUsage(usage=by_tier.get(tier, 0), formatted=human(by_tier.get(tier, 0)),
                                        counts_against_quota=tier == "primary", **dict(render_tier(t)))
                        for tier, t in figures.tiers.items()},
        replication_summary=ReplicationSummary(
            total_replicated=replicated, formatted_replicated=human(replicated),
            replication_ratio=round(replicated / usage.used, 2) if usage.used else 0.0,
            damaged_objects=figures.damaged),
    )


class QuotaBody(Strict):
    quota: NonNegative64


class BonusBody(Strict):
    bonus: NonNegative64


class AdminUsage(StorageUsage):
    userId: int


def admin_usage_of(user_id: int, usage: Usage) -> AdminUsage:
    return AdminUsage(userId=user_id, **dict(render_usage(usage)))


@admin_router.put("/storage/admin/quota/{user_id}")
async def admin_set_quota(user_id: UserId, body: QuotaBody, quotas: QuotasDep) -> AdminUsage:
    return admin_usage_of(user_id, await quotas.set_limits(user_id, quota=body.quota))


@admin_router.post("/storage/admin/bonus/{user_id}")
async def admin_add_bonus(user_id: UserId, body: BonusBody, quotas: QuotasDep) -> AdminUsage:
    return admin_usage_of(user_id, await quotas.set_limits(user_id, add_bonus=body.bonus))


@admin_router.get("/storage/admin/usage/{user_id}")
async def admin_usage(user_id: UserId, quotas: QuotasDep) -> AdminUsage:
    return admin_usage_of(user_id, await quotas.usage(user_id))
