"""Ente's sign-in routes, in the real Ente server's shapes (ente-io/ente `server/pkg/api/user.go`)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from shoebox_auth.api.deps import EnteDep, OriginDep
from shoebox_auth.api.ente_models import (
    BonusData,
    Empty,
    EnteAuthorization,
    KeyAttributesAnswer,
    ProfileData,
    SrpAttributesAnswer,
    SrpAttributesBody,
    SrpCompleteAnswer,
    SrpSessionAnswer,
    SrpSetupAnswer,
    Subscription,
    UserDetails,
)
from shoebox_auth.ente.accounts import Authorization
from shoebox_auth.ente.details import AccountDetails
from shoebox_auth.ente.key_attributes import MAX_KEY_ATTRIBUTES_BYTES
from shoebox_auth.ente.srp_signin import SrpAttributes
from shoebox_lib.auth import CurrentUser
from shoebox_lib.web.inputs import Text, bounded_json

public_router = APIRouter(tags=["ente"])  # signing in
router = APIRouter(tags=["ente"])  # the signed-in account

B64 = Field(min_length=1, max_length=4096)  # the largest (A, B, a verifier) is 684 characters
Email = Annotated[Text, Field(min_length=3, max_length=320)]


def render_authorization(answer: Authorization) -> EnteAuthorization:
    """Without two-factor or passkeys here, their session ids and `accountsUrl` are always `""` (Ente sends
    them, empty, unless a second factor is due)."""
    return EnteAuthorization(id=answer.user_id, token=answer.token,
                             keyAttributes=answer.key_attributes if answer.token is None else None,
                             encryptedToken=answer.encrypted_token if answer.token is None else None,
                             srpM2=answer.srp_m2)


def render_details(account: AccountDetails, *, memory_count: bool) -> UserDetails:
    """Every field set explicitly (the admin route leaves out only what was never set)."""
    plan = account.plan
    details = UserDetails(
        email=account.email, usage=account.usage, storageBonus=0,
        subscription=Subscription(
            id=0, userID=account.user_id, productID=plan.product_id, storage=plan.storage,
            originalTransactionID=plan.transaction_id, expiryTime=plan.expiry_time,
            paymentProvider=plan.payment_provider, attributes=plan.attributes, price="", period="year",
        ),
        profileData=ProfileData(canDisableEmailMFA=account.srp_enabled, isEmailMFAEnabled=account.email_mfa_enabled,
                                isTwoFactorEnabled=False, passkeyCount=0),
        bonusData=BonusData(storageBonuses=[]),
    )
    if memory_count:
        details.fileCount = account.file_count
        details.sharedCollectionsCount = 0
    return details


def render_srp_attributes(attributes: SrpAttributes) -> SrpAttributesAnswer:
    return SrpAttributesAnswer(attributes=SrpAttributesBody(
        srpUserID=str(attributes.srp_user_id), srpSalt=attributes.srp_salt, memLimit=attributes.mem_limit,
        opsLimit=attributes.ops_limit, kekSalt=attributes.kek_salt,
        isEmailMFAEnabled=attributes.is_email_mfa_enabled,
    ))


class SendCode(BaseModel):
    email: Email
    purpose: Text = Field(default="", max_length=20)
    mobile: bool = False


class VerifyEmail(BaseModel):
    email: Email
    ott: Text = Field(min_length=1, max_length=20)


class EmailOnly(BaseModel):
    email: Email


class SetupSrp(BaseModel):
    srpUserID: UUID
    srpSalt: Text = B64
    srpVerifier: Text = B64
    srpA: Text = B64


class CompleteSrp(BaseModel):
    setupID: UUID
    srpM1: Text = B64


class CreateSession(BaseModel):
    srpUserID: UUID
    srpA: Text = B64


class VerifySession(BaseModel):
    srpUserID: UUID
    sessionID: UUID
    srpM1: Text = B64


class EmailMfaChange(BaseModel):
    isEnabled: bool


@public_router.post("/users/ott")
async def send_ott(body: SendCode, ente: EnteDep, origin: OriginDep) -> Empty:
    await ente.email.send_code(body.email, body.purpose, origin)
    return Empty()


@public_router.post("/users/verify-email", response_model_exclude_none=True)
async def verify_email(body: VerifyEmail, ente: EnteDep, origin: OriginDep) -> EnteAuthorization:
    return render_authorization(await ente.email.verify_email(body.email, body.ott, origin))


@public_router.get("/users/srp/attributes")
async def srp_attributes(ente: EnteDep, origin: OriginDep,
                         email: Annotated[Text, Query(min_length=3, max_length=320)]) -> SrpAttributesAnswer:
    return render_srp_attributes(await ente.srp.attributes(email, origin))


@public_router.post("/users/srp/attributes")
async def srp_attributes_by_post(ente: EnteDep, origin: OriginDep,
                                 body: Annotated[EmailOnly | None, Body()] = None,
                                 email: Annotated[Text | None, Query(max_length=320)] = None) -> SrpAttributesAnswer:
    """Seed 000 asks by POST; the address may come in the body or, as for GET, in the query."""
    return render_srp_attributes(await ente.srp.attributes(body.email if body else email or "", origin))


@public_router.post("/users/srp/create-session")
async def srp_create_session(body: CreateSession, ente: EnteDep, origin: OriginDep) -> SrpSessionAnswer:
    challenge = await ente.srp.create_session(body.srpUserID, body.srpA, origin)
    return SrpSessionAnswer(sessionID=str(challenge.id), srpB=challenge.srp_b)


@public_router.post("/users/srp/verify-session", response_model_exclude_none=True)
async def srp_verify_session(body: VerifySession, ente: EnteDep, origin: OriginDep) -> EnteAuthorization:
    answer = await ente.srp.verify_session(body.srpUserID, body.sessionID, body.srpM1, origin)
    return render_authorization(answer)


@router.post("/users/srp/setup")
async def srp_setup(body: SetupSrp, principal: CurrentUser, ente: EnteDep) -> SrpSetupAnswer:
    challenge = await ente.srp.setup(principal, body.srpUserID, body.srpSalt, body.srpVerifier, body.srpA)
    return SrpSetupAnswer(setupID=str(challenge.id), srpB=challenge.srp_b)


@router.post("/users/srp/complete")
async def srp_complete(body: CompleteSrp, principal: CurrentUser, ente: EnteDep) -> SrpCompleteAnswer:
    m2 = await ente.srp.complete(principal, body.setupID, body.srpM1)
    return SrpCompleteAnswer(setupID=str(body.setupID), srpM2=m2)


@router.put("/users/attributes")
async def set_attributes(principal: CurrentUser, ente: EnteDep,
                         body: Annotated[dict[str, Any], bounded_json(MAX_KEY_ATTRIBUTES_BYTES + 64),
                                         Body()]) -> KeyAttributesAnswer:
    """Ente sends `{"keyAttributes": {...}}`; a bare attributes object is taken too."""
    attributes = body.get("keyAttributes", body)
    if not isinstance(attributes, dict):
        attributes = {}
    return KeyAttributesAnswer(keyAttributes=await ente.key_attributes.set_once(principal, attributes))


@router.get("/users/details/v2", response_model_exclude_none=True)
async def details(principal: CurrentUser, ente: EnteDep,
                  memory_count: Annotated[bool, Query(alias="memoryCount")] = True) -> UserDetails:
    return render_details(await ente.details.of(principal), memory_count=memory_count)


@router.put("/users/email-mfa")
async def set_email_mfa(body: EmailMfaChange, principal: CurrentUser, ente: EnteDep) -> Empty:
    """Turning it off needs a password (SRP) to sign in with instead: 409 otherwise, as Ente."""
    await ente.email_mfa.set(principal.user_id, body.isEnabled)
    return Empty()
