"""Ente's sign-in routes, in the real Ente server's shapes (ente-io/ente `server/pkg/api/user.go`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from shoebox_auth.ente.service import Authorization, EnteAuth, Origin, SrpAttributes
from shoebox_auth.service import ClientInfo
from shoebox_lib.auth import CurrentUser

router = APIRouter(tags=["ente"])

B64 = Field(min_length=1, max_length=4096)  # the largest (A, B, a verifier) is 684 characters


def _ente(request: Request) -> EnteAuth:
    ente: EnteAuth = request.app.state.ente
    return ente


Ente = Annotated[EnteAuth, Depends(_ente)]


def origin_of(request: Request) -> Origin:
    return Origin(
        ip=request.client.host if request.client else None, user_agent=request.headers.get("user-agent"),
        client=ClientInfo(package=request.headers.get("x-client-package"),
                          version=request.headers.get("x-client-version")),
    )


def render_authorization(ente: EnteAuth, answer: Authorization) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": answer.user_id, "twoFactorSessionID": "", "twoFactorSessionIDV2": "", "passkeySessionID": "",
        "accountsUrl": ente.accounts_url,
    }
    if answer.token is not None:
        body["token"] = answer.token
    else:
        body["keyAttributes"] = answer.key_attributes
        body["encryptedToken"] = answer.encrypted_token
    if answer.srp_m2 is not None:
        body["srpM2"] = answer.srp_m2
    return body


def render_srp_attributes(attributes: SrpAttributes) -> dict[str, Any]:
    return {"attributes": {
        "srpUserID": str(attributes.srp_user_id), "srpSalt": attributes.srp_salt,
        "memLimit": attributes.mem_limit, "opsLimit": attributes.ops_limit, "kekSalt": attributes.kek_salt,
        "isEmailMFAEnabled": attributes.is_email_mfa_enabled,
    }}


class SendCode(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    purpose: str = Field(default="", max_length=20)
    mobile: bool = False


class VerifyEmail(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    ott: str = Field(min_length=1, max_length=20)


class EmailOnly(BaseModel):
    email: str = Field(min_length=3, max_length=320)


class SetupSrp(BaseModel):
    srpUserID: UUID
    srpSalt: str = B64
    srpVerifier: str = B64
    srpA: str = B64


class CompleteSrp(BaseModel):
    setupID: UUID
    srpM1: str = B64


class CreateSession(BaseModel):
    srpUserID: UUID
    srpA: str = B64


class VerifySession(BaseModel):
    srpUserID: UUID
    sessionID: UUID
    srpM1: str = B64


@router.post("/users/ott")
async def send_ott(body: SendCode, request: Request, ente: Ente) -> dict[str, Any]:
    await ente.send_code(body.email, body.purpose, origin_of(request))
    return {}


@router.post("/users/verify-email")
async def verify_email(body: VerifyEmail, request: Request, ente: Ente) -> dict[str, Any]:
    return render_authorization(ente, await ente.verify_email(body.email, body.ott, origin_of(request)))


@router.get("/users/srp/attributes")
async def srp_attributes(request: Request, ente: Ente,
                         email: Annotated[str, Query(min_length=3, max_length=320)]) -> dict[str, Any]:
    return render_srp_attributes(await ente.srp_attributes(email, origin_of(request)))


@router.post("/users/srp/attributes")
async def srp_attributes_by_post(request: Request, ente: Ente,
                                 body: Annotated[EmailOnly | None, Body()] = None,
                                 email: Annotated[str | None, Query(max_length=320)] = None) -> dict[str, Any]:
    """Seed 000 asks by POST; the address may come in the body or, as for GET, in the query."""
    return render_srp_attributes(await ente.srp_attributes(body.email if body else email or "", origin_of(request)))


@router.post("/users/srp/setup")
async def srp_setup(body: SetupSrp, principal: CurrentUser, ente: Ente) -> dict[str, Any]:
    challenge = await ente.setup_srp(principal, body.srpUserID, body.srpSalt, body.srpVerifier, body.srpA)
    return {"setupID": str(challenge.id), "srpB": challenge.srp_b}


@router.post("/users/srp/complete")
async def srp_complete(body: CompleteSrp, principal: CurrentUser, ente: Ente) -> dict[str, Any]:
    m2 = await ente.complete_srp(principal, body.setupID, body.srpM1)
    return {"setupID": str(body.setupID), "srpM2": m2}


@router.post("/users/srp/create-session")
async def srp_create_session(body: CreateSession, request: Request, ente: Ente) -> dict[str, Any]:
    challenge = await ente.create_session(body.srpUserID, body.srpA, origin_of(request))
    return {"sessionID": str(challenge.id), "srpB": challenge.srp_b}


@router.post("/users/srp/verify-session")
async def srp_verify_session(body: VerifySession, request: Request, ente: Ente) -> dict[str, Any]:
    answer = await ente.verify_session(body.srpUserID, body.sessionID, body.srpM1, origin_of(request))
    return render_authorization(ente, answer)


@router.put("/users/attributes")
async def set_attributes(principal: CurrentUser, ente: Ente,
                         body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Ente sends `{"keyAttributes": {...}}`; a bare attributes object is taken too."""
    attributes = body.get("keyAttributes", body)
    if not isinstance(attributes, dict):
        attributes = {}
    return {"keyAttributes": await ente.set_key_attributes(principal, attributes)}


@router.get("/users/details/v2")
async def details(principal: CurrentUser, ente: Ente,
                  memory_count: Annotated[bool, Query(alias="memoryCount")] = True) -> dict[str, Any]:
    account = await ente.details(principal)
    # Self-hosted Ente's free plan: no billing, a storage allowance, an expiry a century away.
    century = int((datetime.now(UTC) + timedelta(days=36525)).timestamp() * 1_000_000)
    body: dict[str, Any] = {
        "email": account.email, "usage": account.usage, "storageBonus": 0,
        "subscription": {
            "id": 0, "userID": account.user_id, "productID": "free", "storage": account.storage,
            "originalTransactionID": "none", "expiryTime": century, "paymentProvider": "",
            "attributes": {}, "price": "", "period": "year",
        },
        "profileData": {"canDisableEmailMFA": account.srp_enabled, "isEmailMFAEnabled": False,
                        "isTwoFactorEnabled": False, "passkeyCount": 0},
        "bonusData": {"storageBonuses": []},
    }
    if memory_count:
        body["fileCount"] = account.file_count
        body["sharedCollectionsCount"] = 0
    return body
